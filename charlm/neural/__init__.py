"""The neural models (RNN, LSTM, GRU, the lecture's RNN cell) and their weights on disk."""
