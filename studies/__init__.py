"""The source papers' studies as NNI experiments: learning progress, shared-weight reward against
retrained accuracy, and search against random sampling (``python -m studies run CONFIG``)."""
