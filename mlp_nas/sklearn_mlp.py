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


class SklearnFitter:
    """How ``mlp_nas.selection.select`` trains an MLPClassifier candidate (``cand["params"]``): the fold's
    early-stopping part is simply training data (MLPClassifier has no validation-restored weights), and
    the final fit ignores the epoch count (MLPClassifier stops by its own tolerance)."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def _fit(self, params, x, y, seed):
        from sklearn.exceptions import ConvergenceWarning

        clf = make_classifier(params, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x, y)
        return clf

    def fold(self, cand, x_tr, y_tr, x_es, y_es, x_ev, y_ev, seed):
        clf = self._fit(cand["params"], np.concatenate([x_tr, x_es]), np.concatenate([y_tr, y_es]), self.seed)
        return {"score": float(np.mean(clf.predict(x_ev) == y_ev)), "best_epoch": None}

    def final(self, cand, x, y, epochs, lr_curve, seed):
        return self._fit(cand["params"], x, y, self.seed)

    def proba(self, model, x):
        return model.predict_proba(x)
