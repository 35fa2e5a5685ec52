"""The pieces every stage and command shares: errors, atomic files, paths, the numerics
profile, the vocabulary, prepared splits, scoring (bits per char) and the entry points' helpers."""
