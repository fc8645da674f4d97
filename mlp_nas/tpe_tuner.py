"""NNI's TPE tuner, safe under ``trialConcurrency`` > 1 (the sklearn+TPE baseline's tuner).

NNI 3.0's ``TpeTuner`` crashes with ``KeyError`` when a result arrives for a parameter id it no
longer tracks (docs/design.md): after NNI hands two trials the same parameters, or when
the trial-end thread runs before the metric thread. This subclass keeps TPE's sampling and puts it
on the project's tuner base (``nni_plumbing.tuner_base``): every result is recorded under the
hyperparameters the trial reports it trained (``value["hyperparameters"]``), the first result of
parameters trained twice is kept, non-finite metrics count as failures, and TPE's history, random
state and records are saved as JSON and restored on ``nnictl resume``.
"""
from __future__ import annotations

import logging

from nni.algorithms.hpo.tpe_tuner import Record, TpeTuner

from nni_plumbing.tuner_base import TunerBase, reports_errors

_logger = logging.getLogger(__name__)
STATE_FILE = "tpe_tuner_state.json"


class MixupSafeTpe(TunerBase, TpeTuner):
    """``TpeTuner`` with bookkeeping keyed on what each trial really trained."""

    STATE_FILE = STATE_FILE

    @reports_errors
    def __init__(self, optimize_mode: str = "minimize", seed: int | None = None, tpe_args: dict | None = None):
        TpeTuner.__init__(self, optimize_mode, seed, tpe_args)
        TunerBase.__init__(self)

    def _on_search_space(self, search_space) -> None:
        try:
            TpeTuner.update_search_space(self, search_space)
        except Exception as exc:  # NNI's own errors here are an AssertionError or IndexError without a message
            raise ValueError(f"TPE cannot use the search space {search_space!r} ({type(exc).__name__} {exc}): every "
                             f"entry needs a known _type and a non-empty _value (NNI's search space format)") from exc

    def _has_new(self) -> bool:
        return self.space is not None  # TPE samples on demand; NNI's maxTrialNumber ends the search

    def _new_sample(self, parameter_id: int) -> int:
        params = TpeTuner.generate_parameters(self, parameter_id)
        internal = [[list(key), value] for key, value in self._params.pop(parameter_id).items()]
        self._running_params.pop(parameter_id, None)
        return self._add_record(params, internal=internal)

    def _internal(self, record: dict) -> dict:
        return {tuple(key): value for key, value in record["internal"]}

    def _on_issue(self, parameter_id: int, sid: int) -> None:
        self._running_params[sid] = self._internal(self.records[sid])  # what the constant liar fakes results for

    def _reported_sample(self, reported: dict, issued: int | None):
        trained = reported.get("hyperparameters")
        if trained is None or (issued is not None and self.records[issued]["params"] == trained):
            return issued
        return next((sid for sid, r in self.records.items() if r["params"] == trained), None)

    def _loss(self, value: float) -> float:
        return value if self.optimize_mode.value == "minimize" else -value

    def _on_result(self, sid: int, record: dict, reported: dict, ok: bool) -> None:
        self._running_params.pop(sid, None)
        if ok:
            loss = self._loss(record["value"])
            if self.liar:
                self.liar.update(loss)
            for key, value in self._internal(record).items():
                self._history[key].append(Record(value, loss))

    def _on_failure(self, sid: int, record: dict) -> None:
        self._running_params.pop(sid, None)

    def _own_state(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def _load_own_state(self, state: dict) -> None:
        """TPE's history and its liar are rebuilt from the records, in the order the results came."""
        self.rng.bit_generator.state = state["rng"]
        self._history.clear()
        self._running_params.clear()
        for sid, record in sorted(self.records.items()):
            if record["status"] == "done":
                self._on_result(sid, record, {}, True)
            elif record["status"] == "running":
                self._running_params[sid] = self._internal(record)
