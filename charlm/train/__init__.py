"""Training the neural models: the loop, batches, checkpoints and resume, logs, DDP, fine-tuning."""
