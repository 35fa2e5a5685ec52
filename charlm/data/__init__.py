"""Corpora in: download (checksummed, mirrors), unpack archives, prepare splits and vocabulary."""
