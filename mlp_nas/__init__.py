"""Keras MLP controller NAS."""
