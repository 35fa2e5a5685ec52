"""Scoring each model on val and test the same way, dynamic evaluation, and sampling."""
