"""Comparing the models: the mixture, the report, and the regression gate on test bpc."""
