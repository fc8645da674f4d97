"""scikit-learn's MLPClassifier on a split: the baseline every MLP NAS run is compared with."""
from __future__ import annotations

import warnings

import numpy as np


def make_classifier(params: dict | None, seed: int):
    """MLPClassifier with scikit-learn's defaults, overridden by ``params`` (a TPE sample from
    ``configs/sklearn_tpe.yml``; ``hidden_layer_sizes`` written as "200-100")."""
    from sklearn.neural_network import MLPClassifier

    kwargs = dict(params or {})
    if isinstance(kwargs.get("hidden_layer_sizes"), str):
        kwargs["hidden_layer_sizes"] = tuple(int(u) for u in kwargs["hidden_layer_sizes"].split("-"))
    return MLPClassifier(random_state=seed, **kwargs)


def fit_score(params: dict | None, x_fit, y_fit, x_eval, y_eval, seed: int) -> float:
    """Fit on (x_fit, y_fit), return accuracy on (x_eval, y_eval); convergence warnings are expected."""
    from sklearn.exceptions import ConvergenceWarning

    clf = make_classifier(params, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_fit, y_fit)
    return float(np.mean(clf.predict(x_eval) == y_eval))
