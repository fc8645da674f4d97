"""Data loading: tabular sets by name or CSV, image sets (digits, CIFAR folders, synthetic), and atomic writes.

The bottom layer: it imports nothing from the rest of the project.
"""
