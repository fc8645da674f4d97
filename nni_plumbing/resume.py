"""What a custom tuner needs so that ``nnictl resume`` works on NNI 3.0 (seen on this stack).

On resume, NNI re-submits the trials the stop interrupted under their old parameter ids and sets the
dispatcher's id counter to the largest of *those* ids + 1, so new trials can get ids that earlier
trials already had; and it treats every id up to that largest one as "from the previous run": their
final results go to ``Tuner.import_data`` and their ends are dropped, so a tuner waiting for a
re-run trial to end waits forever. :func:`continue_after_resume` makes the dispatcher hand out only
fresh ids and deliver re-run trials' results and ends like any others, so a tuner that restored its
own bookkeeping (parameter id -> what it issued) just carries on. Call it from ``load_checkpoint``.
"""
from __future__ import annotations

import logging

_logger = logging.getLogger(__name__)


def continue_after_resume(next_free_id: int) -> None:
    """Parameter ids handed out from now on are >= ``next_free_id``; no trial counts as previous-run."""
    from nni.runtime import msg_dispatcher

    create = getattr(msg_dispatcher._create_parameter_id, "__wrapped__", msg_dispatcher._create_parameter_id)

    def create_fresh_id() -> int:
        msg_dispatcher._next_parameter_id = max(msg_dispatcher._next_parameter_id, next_free_id)
        return create()

    create_fresh_id.__wrapped__ = create
    msg_dispatcher._create_parameter_id = create_fresh_id
    dispatcher = msg_dispatcher.MsgDispatcher
    recover = getattr(dispatcher.handle_add_customized_trial, "__wrapped__", dispatcher.handle_add_customized_trial)

    def handle_add_customized_trial(self, data):
        recover(self, data)  # records the re-run trials' parameters under their old ids
        for parameter_id, params in self.recovered_trial_params.items():
            msg_dispatcher._trial_params.setdefault(parameter_id, params)  # so their results reach the tuner

    handle_add_customized_trial.__wrapped__ = recover
    dispatcher.handle_add_customized_trial = handle_add_customized_trial
    dispatcher.is_created_in_previous_exp = lambda self, parameter_id: False
    _logger.info("resumed: new parameter ids start at %d; re-run trials report as usual", next_free_id)
