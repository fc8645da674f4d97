"""Successive halving inside a controller epoch: many candidates train briefly, the promising ones longer.

With ``rungs`` R and reduction factor ``eta``, rung r trains ``max_epochs / eta**(R-1-r)`` epochs (at least 1)
and keeps the best ``1/eta`` of its candidates for the next rung, which trains them again, from scratch, ``eta``
times longer. Rung 0 holds every candidate the controller sampled; the last rung trains for the full
``max_epochs``. ``rungs=1`` is plain training of every candidate to ``max_epochs``.

A candidate's best evidence is its result at the highest fidelity it reached: results of different rungs are
not comparable (a longer-trained net scores higher), so candidates rank by (fidelity, accuracy), the order the
halving tournament itself decided. The controller's reward is the candidate's place in that order, scaled to
[0, 1] (:func:`tournament_rewards`): every candidate of an epoch is judged in the same tournament.

>>> rung_budgets(200, 3, 3), survivors(9, 3, 3)
([22, 67, 200], [9, 3, 1])
"""
from __future__ import annotations

import json


def rung_budgets(max_epochs: int, rungs: int, eta: int) -> list[int]:
    """The epoch budget of each rung, lowest first; the last is ``max_epochs``."""
    return [max(1, round(max_epochs / eta ** (rungs - 1 - r))) for r in range(rungs)]


def survivors(n: int, rungs: int, eta: int) -> list[int]:
    """How many candidates each rung trains, starting from ``n`` (at least one per rung)."""
    counts = [n]
    for _ in range(rungs - 1):
        counts.append(max(1, counts[-1] // eta))
    return counts


def trials_per_epoch(n: int, rungs: int, eta: int) -> int:
    """Trials one controller epoch runs (at most: a rung promotes only candidates that have a result)."""
    return sum(survivors(n, rungs, eta))


def evidence_key(record: dict) -> tuple:
    """Sort key of a finished record, higher is better: fidelity first, then accuracy."""
    return record.get("max_epochs") or 0, record["accuracy"]


def _ident(record: dict) -> str:
    """The architecture a record trained, as a hashable key."""
    return json.dumps(record.get("trained_arch", record.get("arch")), sort_keys=True)


def _distinct(records) -> list[dict]:
    """``records`` in their order, each architecture once (its first record)."""
    seen, out = set(), []
    for record in records:
        ident = _ident(record)
        if ident not in seen:
            seen.add(ident)
            out.append(record)
    return out


def promote(records: list[dict], n_keep: int) -> list[dict]:
    """The ``n_keep`` best finished records of a rung, one per distinct architecture."""
    return _distinct(sorted(records, key=lambda r: (-r["accuracy"], r["sample_id"])))[:n_keep]


def best_evidence(records: list[dict]) -> list[dict]:
    """Finished records, each architecture once at its highest fidelity, best first by :func:`evidence_key`
    (ties: the earlier sample). Without halving: each architecture's best record, by accuracy."""
    return _distinct(sorted(records, key=lambda r: (*(-v for v in evidence_key(r)), r["sample_id"])))


def tournament_rewards(first_rung: list[dict], later: list[dict]) -> list[float]:
    """The reward of each record of ``first_rung``: its architecture's place in the epoch's tournament, 1 for
    the winner and 0 for the last, where an architecture's standing is its best result at the highest rung it
    reached (``later`` holds the promoted trainings, linked by ``promoted_from``). An architecture the
    controller sampled twice gets one place, so its two samples are not pushed in two directions. One
    architecture scores 0.5."""
    top = {r["sample_id"]: r for r in first_rung}
    root = {}
    for record in sorted(later, key=lambda r: r.get("rung", 0)):
        origin = root.get(record["promoted_from"], record["promoted_from"])
        root[record["sample_id"]] = origin
        if origin in top and evidence_key(record) > evidence_key(top[origin]):
            top[origin] = record
    best = {}
    for record in first_rung:
        ident, standing = _ident(record), top[record["sample_id"]]
        if ident not in best or evidence_key(standing) > evidence_key(best[ident]):
            best[ident] = standing
    order = sorted(best, key=lambda i: (*(-v for v in evidence_key(best[i])), best[i]["sample_id"]))
    n = len(order)
    place = {ident: i for i, ident in enumerate(order)}
    return [0.5 if n == 1 else 1.0 - place[_ident(r)] / (n - 1) for r in first_rung]
