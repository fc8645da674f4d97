"""Keras MLP controller NAS.

``from mlp_nas import MLPNASClassifier`` gives the scikit-learn estimator; it is loaded on first use, so
importing the package stays free of scikit-learn, TensorFlow and NNI.
"""

__all__ = ["MLPNASClassifier"]


def __getattr__(name):
    if name == "MLPNASClassifier":
        from .estimator import MLPNASClassifier

        return MLPNASClassifier
    raise AttributeError(f"module 'mlp_nas' has no attribute {name!r}")
