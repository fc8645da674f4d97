"""Tuners whose next parameters may not exist yet when NNI asks (an on-policy controller waiting for its
epoch's results, a study waiting for a search): the request is held and answered later through NNI's
``st_callback``, as NNI's own PPO tuner does. Answering with ``NoMoreTrialError`` instead would leave
the experiment in ``TUNER_NO_MORE_TRIAL`` for good. Written once: ``nni_plumbing.tuner_base.TunerBase`` uses it.
"""
from __future__ import annotations

import nni


class HeldRequests:
    """Mixin for an NNI ``Tuner``. The tuner sets ``self._held = []`` (parameter ids NNI asked for while
    nothing was ready, oldest first) and provides ``self._lock``, ``finished`` (nothing will ever be handed
    out again), ``_prepare()`` (called first, lock held), ``_has_ready()``, ``_issue(parameter_id)`` (the
    parameters handed out under that id) and ``_save()``; it calls :meth:`_serve_held` (lock held) whenever
    new parameters become ready."""

    _callback = None  # NNI's st_callback, from the latest request

    def generate_multiple_parameters(self, parameter_id_list, **kwargs):
        with self._lock:
            self._prepare()
            self._callback = kwargs.get("st_callback", self._callback)
            out = []
            for pid in parameter_id_list:
                if self._has_ready():
                    out.append(self._issue(pid))
                elif not self.finished:
                    self._held.append(pid)
            if out:
                self._save()
            return out

    def generate_parameters(self, parameter_id, **kwargs):
        params = self.generate_multiple_parameters([parameter_id], **kwargs)
        if not params:
            raise nni.NoMoreTrialError("nothing to hand out now")
        return params[0]

    def _serve_held(self) -> None:
        """Answer held requests with the parameters ready now (lock held)."""
        while self._held and self._has_ready() and self._callback is not None:
            pid = self._held.pop(0)
            self._callback(pid, self._issue(pid))
