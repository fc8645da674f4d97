"""Choosing the final model without fooling ourselves (the winner's curse of picking the best of many
noisy validation scores).

The search ranks candidates by one validation split. :func:`select` re-scores the top ``k`` distinct
candidates by stratified k-fold cross-validation on train+validation only: in each fold the
candidate trains on the other folds, early-stopping on a stratified 15 % of them, and is scored on
the held-out fold, which played no part in its training or stopping. The pick is the best mean
fold score. It is retrained on all of train+validation for the median of its folds' best epochs
(following the learning-rate schedule of the fold that stopped there), the number of epochs that
early stopping chose on data of nearly this size. The top ``k`` retrained the same way and averaged
(their class probabilities) are the ensemble, reported as its own row. The test split is never
passed in: callers score the returned models on it once, afterwards.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

ES_FRACTION = 0.15


class KerasFitter:
    """How :func:`select` trains a Keras candidate: to convergence with early stopping in a fold, for a
    fixed number of epochs in the final retrain (``mlp_nas.training``)."""

    def __init__(self, n_classes: int, settings: dict | None = None):
        self.n_classes, self.settings = n_classes, settings

    def fold(self, cand: dict, x_tr, y_tr, x_es, y_es, x_ev, y_ev, seed: int) -> dict:
        from .training import accuracy, train_candidate

        model, info = train_candidate(cand["arch"], x_tr, y_tr, x_es, y_es, self.n_classes, self.settings, seed)
        return {"score": accuracy(model, x_ev, y_ev, self.n_classes), "best_epoch": info["best_epoch"],
                "lr_curve": info["lr_curve"]}

    def final(self, cand: dict, x, y, epochs: int, lr_curve, seed: int):
        from .training import fit_fixed

        return fit_fixed(cand["arch"], x, y, self.n_classes, epochs, self.settings, seed, lr_curve)

    def proba(self, model, x) -> np.ndarray:
        from .training import predict_proba

        return predict_proba(model, x, self.n_classes)


@dataclass
class Selection:
    """What :func:`select` decided: the per-candidate CV table, the pick, and the retrained models."""

    rescored: list[dict]
    pick: dict
    model: object
    ensemble: list = field(default_factory=list)
    fitter: object = None

    def test_accuracy(self, x_test, y_test) -> float:
        """The pick's accuracy on held-out data (call once, with the test split)."""
        return float(np.mean(self.fitter.proba(self.model, x_test).argmax(axis=1) == y_test))

    def ensemble_accuracy(self, x_test, y_test) -> float | None:
        """The top-k ensemble's accuracy (mean class probabilities), or None without an ensemble."""
        if not self.ensemble:
            return None
        p = np.mean([self.fitter.proba(m, x_test) for m in self.ensemble], axis=0)
        return float(np.mean(p.argmax(axis=1) == y_test))


def search_candidates(records: list[dict]) -> list[dict]:
    """A search's finished records as :func:`select`'s candidates, best first: each architecture once, at the
    highest fidelity it trained (successive halving, ``mlp_nas.halving``), ranked by that fidelity's score."""
    from .halving import best_evidence

    return [{"arch": r["trained_arch"], "val_acc": r["accuracy"], "sample_id": r["sample_id"],
             "fidelity": r.get("max_epochs") or 0} for r in best_evidence(records)]


def top_distinct(candidates: list[dict], k: int, key: str = "val_acc") -> list[dict]:
    """The ``k`` best candidates by search score, one per distinct architecture (first seen wins ties). A
    ``fidelity`` (epochs trained, under successive halving) ranks first: scores of different fidelities are
    not comparable."""
    seen, out = set(), []
    for cand in sorted(candidates, key=lambda c: (-c.get("fidelity", 0), -c[key])):
        ident = json.dumps(cand["arch"], sort_keys=True)
        if ident not in seen:
            seen.add(ident)
            out.append(cand)
        if len(out) == k:
            break
    return out


def _folds(y: np.ndarray, folds: int, seed: int):
    from sklearn.model_selection import StratifiedKFold

    smallest = int(np.bincount(y).min())
    folds = max(2, min(folds, smallest))  # every class in every fold
    return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def _es_split(idx: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(idx, test_size=ES_FRACTION, stratify=y[idx], random_state=seed)
    except ValueError:  # a class too rare to stratify: split without
        return train_test_split(idx, test_size=ES_FRACTION, random_state=seed)


def select(candidates: list[dict], x, y, fitter, k: int = 5, folds: int = 3, seed: int = 0,
           ensemble: bool = True, key: str = "val_acc") -> Selection:
    """Re-score the top ``k`` of ``candidates`` (dicts with ``arch`` and ``key``) by ``folds``-fold CV on
    (x, y) = train+validation, pick the best mean, retrain it (and the ensemble) on all of (x, y)."""
    if not candidates:
        raise ValueError("no candidates to select from: every trial of the search failed")
    x, y = np.asarray(x), np.asarray(y)
    splits = _folds(y, folds, seed)
    rescored = []
    for rank, cand in enumerate(top_distinct(candidates, k, key)):
        runs = []
        for f, (train_idx, eval_idx) in enumerate(splits):
            fit_idx, es_idx = _es_split(train_idx, y, seed + f)
            runs.append(fitter.fold(cand, x[fit_idx], y[fit_idx], x[es_idx], y[es_idx], x[eval_idx], y[eval_idx],
                                    seed * 1000 + rank * 10 + f))
        scores = [r["score"] for r in runs]
        epochs = [r["best_epoch"] for r in runs if r.get("best_epoch")]
        median = int(np.median(epochs)) if epochs else None
        curve = None
        if epochs:  # the schedule of the fold whose best epoch is closest to the median
            closest = min((r for r in runs if r.get("best_epoch")), key=lambda r: abs(r["best_epoch"] - median))
            curve = closest.get("lr_curve")
        rescored.append({**cand, "search_rank": rank, "cv_scores": scores, "cv_mean": float(np.mean(scores)),
                         "cv_std": float(np.std(scores)), "cv_best_epochs": epochs, "retrain_epochs": median,
                         "lr_curve": curve})
    pick = max(rescored, key=lambda c: (c["cv_mean"], -c["search_rank"]))
    final = {}
    for cand in rescored if ensemble else [pick]:
        final[cand["search_rank"]] = fitter.final(cand, x, y, cand["retrain_epochs"], cand["lr_curve"],
                                                  seed * 1000 + 999 - cand["search_rank"])
    members = [final[c["search_rank"]] for c in rescored] if ensemble and len(rescored) > 1 else []
    return Selection(rescored, pick, final[pick["search_rank"]], members, fitter)


def select_from_split(candidates: list[dict], split, fitter, **kwargs) -> Selection:
    """:func:`select` on a :class:`nas_data.tabular.Split`: only its train and validation parts go in."""
    x, y = split.train_val()
    return select(candidates, x, y, fitter, **kwargs)
