"""Make each trial train the parameters NNI recorded for its own trial id (NNI 3.0, local training service).

Where the pairing breaks: NNI 3.0's local training service (``nni_node/training_service/v3/compat.js``,
``V3asV1``) keeps the parameters of submitted trials in one first-in-first-out queue and answers a trial's
parameter request with the head of that queue, whichever trial asks. The manager meanwhile records, in its
database and web UI, the parameters of the form it submitted for that trial id. With ``trialConcurrency`` >= 2
two trials start together; when the second one asks first, each trains the other's parameters, and the web UI,
``nnictl experiment export`` and the database show the wrong architecture for both (NNI's concurrency mix-up, docs/design.md).

:func:`install`, called in the trial process before ``nni.get_next_parameter()``, fixes it on the trial's side:
the trial still takes one item from NNI's queue (so the queue stays in step with the submitted trials), then
trains the parameter record NNI stored for its own trial id in ``<experiment>/db/nni.sqlite``. Its metrics then
carry its own parameter id too, so the tuner, the database and the web UI all pair the same way.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import time
from pathlib import Path

_logger = logging.getLogger(__name__)

RECORD_WAIT_S = 60.0  # the manager writes a trial's record right after it started the trial's process
_installed = False
mixups_fixed = 0  # parameter records replaced by the trial's own in this process (0 or 1 for a trial)


def experiment_db(output_dir: str | os.PathLike, experiment_id: str | None = None) -> Path | None:
    """NNI's database of the experiment that a trial folder (``<exp>/environments/<env>/trials/<id>``) belongs to."""
    for folder in Path(output_dir).resolve().parents:
        db = folder / "db" / "nni.sqlite"
        if (experiment_id is None or folder.name == experiment_id) and db.is_file():
            return db
    return None


def recorded_record(db: str | os.PathLike, trial_id: str) -> dict | None:
    """The parameter record (``parameter_id``, ``parameters``, ...) NNI's manager stored last for ``trial_id``,
    or None while it has stored none."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            # the submitting event carries the parameters; NNI names it by the trial's status then (WAITING or RUNNING)
            rows = conn.execute("SELECT data FROM TrialJobEvent WHERE trialJobId = ? AND data IS NOT NULL ORDER BY rowid DESC",
                                (trial_id,)).fetchall()
    except sqlite3.Error:
        return None  # the manager may be creating the table or holding a write lock: asked again
    for (data,) in rows:
        try:
            record = json.loads(data)
        except (TypeError, ValueError):
            continue
        if isinstance(record, dict) and "parameters" in record:
            return record
    return None


def own_record(received: dict | None, trial_id: str, db: str | os.PathLike | None,
               wait_s: float = RECORD_WAIT_S, poll_s: float = 0.1) -> dict | None:
    """The record this trial should train: NNI's stored record for ``trial_id`` when it differs from the
    ``received`` one, else ``received``. Without a database (another machine's training service) or when no
    record appears within ``wait_s``, ``received`` is kept and a warning says so."""
    global mixups_fixed
    if received is None or db is None:
        return received
    deadline = time.monotonic() + wait_s
    record = recorded_record(db, trial_id)
    while record is None and time.monotonic() < deadline:
        time.sleep(poll_s)
        record = recorded_record(db, trial_id)
    if record is None:
        _logger.warning("no parameter record of trial %s in %s after %.0f s; training the parameters received",
                        trial_id, db, wait_s)
        return received
    if record.get("parameter_id") != received.get("parameter_id") or record.get("parameters") != received.get("parameters"):
        mixups_fixed += 1
        print(f"nni_plumbing.mixup: trial {trial_id} was handed parameter id {received.get('parameter_id')}; "
              f"training its own recorded parameter id {record.get('parameter_id')}", file=sys.stderr, flush=True)
        return {**received, **record}
    return received


def install() -> None:
    """In a trial process: ``nni.get_next_parameter()`` returns the parameters NNI recorded for this trial id.

    A no-op outside an NNI trial (no ``NNI_TRIAL_JOB_ID``) and when called twice.
    """
    global _installed
    trial_id = os.environ.get("NNI_TRIAL_JOB_ID")
    if _installed or not trial_id or not os.environ.get("NNI_PLATFORM"):
        return
    from nni.runtime.trial_command_channel import get_default_trial_command_channel

    channel = get_default_trial_command_channel()
    receive = channel.receive_parameter
    output_dir = os.environ.get("NNI_OUTPUT_DIR") or os.environ.get("NNI_SYS_DIR") or os.getcwd()

    def receive_own_parameter():
        received = receive()  # takes one item off NNI's queue, whoever's it is
        db = experiment_db(output_dir, os.environ.get("NNI_EXP_ID"))
        return own_record(received, trial_id, db)

    channel.receive_parameter = receive_own_parameter
    _installed = True
