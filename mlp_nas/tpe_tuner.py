"""NNI's TPE tuner, safe under ``trialConcurrency`` > 1 (the sklearn+TPE baseline's tuner).

NNI 3.0's ``TpeTuner`` crashes with ``KeyError`` when a result arrives for a parameter id it no
longer tracks (upstream #5689): after NNI hands two trials the same parameters (#5726), or when
the trial-end thread runs before the metric thread. This subclass records every result under
the hyperparameters the trial reports it trained (``value["hyperparameters"]``), keeps the first
result of parameters trained twice, and never raises for an unknown id.
"""
from __future__ import annotations

import logging
import threading

from nni.algorithms.hpo.tpe_tuner import Record, TpeTuner
from nni.utils import extract_scalar_reward

_logger = logging.getLogger(__name__)


class MixupSafeTpe(TpeTuner):
    """``TpeTuner`` with bookkeeping keyed on what each trial really trained."""

    def __init__(self, optimize_mode: str = "minimize", seed: int | None = None, tpe_args: dict | None = None):
        super().__init__(optimize_mode, seed, tpe_args)
        self._issued: dict[int, dict] = {}  # parameter id -> parameters as the trial receives them
        self._recorded: set[int] = set()
        self._lock = threading.Lock()
        self.mixups = 0

    def generate_parameters(self, parameter_id, **kwargs):
        with self._lock:
            params = super().generate_parameters(parameter_id, **kwargs)
            self._issued[parameter_id] = params
            return params

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        with self._lock:
            source = parameter_id
            trained = value.get("hyperparameters") if isinstance(value, dict) else None
            if trained is not None and trained != self._issued.get(parameter_id):
                source = next((pid for pid, p in self._issued.items() if p == trained), None)
                self.mixups += 1
                _logger.warning("trial of parameter %s trained the parameters of %s (NNI issue #5726)",
                                parameter_id, source)
            if source is None or source in self._recorded or source not in self._params:
                _logger.warning("result for parameter %s ignored: unknown or already recorded", source)
                return
            loss = extract_scalar_reward(value)
            loss = loss if self.optimize_mode.value == "minimize" else -loss
            if self.liar:
                self.liar.update(loss)
            self._recorded.add(source)
            self._running_params.pop(source, None)
            for key, v in self._params[source].items():
                self._history[key].append(Record(v, loss))

    def trial_end(self, parameter_id, success, **kwargs):
        with self._lock:
            super().trial_end(parameter_id, success, **kwargs)
