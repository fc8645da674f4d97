"""Fault injection for the fault catalogue (``tests/test_faults.py``): trials that fail on purpose.

Every trial program calls :func:`inject` first in ``main()``. It does nothing unless the environment
variable ``NAS_TOOLKIT_FAULTS`` holds ``{"dir": FOLDER, "faults": {KEY: FAULT}}`` (NNI passes the
environment of the process that started the experiment to its trials). ``KEY`` is the sample the trial
receives: ``sample_id`` (MLP NAS), ``_sample_id`` (multi-trial policy search), ``job`` (studies), or else
``seq<N>`` with NNI's trial sequence number (TPE, whose parameters carry no id). ``FAULT`` is one of:

- ``exit``: the trial exits with code 3 before training;
- ``nan``: it trains, then reports NaN as its final metric;
- ``kill``: it sends itself SIGKILL at its first report (mid-training);
- ``hang``: it sleeps until NNI's ``maxTrialDuration`` ends it;
- ``mixup``: it trains the parameters of a fault-free trial that started earlier, as NNI 3.0 sometimes does under
  ``trialConcurrency`` > 1 (NNI's concurrency mix-up, docs/design.md), and reports what it trained.

Each trial writes the parameters it received to ``FOLDER/params_<KEY>.json`` (what ``mixup`` reads) and, for
an injected fault, one JSON line to ``FOLDER/faults.jsonl``.
"""
from __future__ import annotations

import json
import math
import os
import signal
import time
from pathlib import Path

ENV = "NAS_TOOLKIT_FAULTS"
FAULTS = ("exit", "nan", "kill", "hang", "mixup")
MIXUP_WAIT_S = 120.0


def sample_key(params) -> str:
    """The key a fault is chosen by: the sample the parameters describe, else NNI's trial sequence number."""
    if isinstance(params, dict):
        for name in ("sample_id", "_sample_id", "job"):
            if isinstance(params.get(name), int):
                return str(params[name])
    return f"seq{os.environ.get('NNI_TRIAL_SEQ_ID', '')}"


def plan(folder: str | os.PathLike, faults: dict) -> dict:
    """The environment entry that injects ``faults`` ({key: fault}) into an experiment's trials."""
    unknown = sorted({f for f in faults.values() if f not in FAULTS})
    if unknown:
        raise ValueError(f"unknown faults {unknown}; known: {FAULTS}")
    return {ENV: json.dumps({"dir": str(folder), "faults": {str(k): v for k, v in faults.items()}})}


def _log(folder: Path, **entry) -> None:
    with (folder / "faults.jsonl").open("a") as f:
        f.write(json.dumps(entry) + "\n")


def _other_params(folder: Path, faulty: set) -> dict | None:
    """The parameters of the fault-free trial that started most recently before this one."""
    deadline = time.time() + MIXUP_WAIT_S
    while time.time() < deadline:
        others = sorted((p for p in folder.glob("params_*.json") if p.stem[len("params_"):] not in faulty),
                        key=lambda p: p.stat().st_mtime)
        if others:
            return json.loads(others[-1].read_text())
        time.sleep(0.5)
    return None


def inject() -> None:
    """Install the fault planned for this trial, if any (a no-op without ``NAS_TOOLKIT_FAULTS``)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    import nni

    spec = json.loads(spec)
    folder = Path(spec["dir"])
    folder.mkdir(parents=True, exist_ok=True)
    get_next_parameter = nni.get_next_parameter

    def faulty_get_next_parameter():
        params = get_next_parameter()
        key = sample_key(params)
        path = folder / f"params_{key}.json"
        path.with_suffix(".tmp").write_text(json.dumps(params))
        os.replace(path.with_suffix(".tmp"), path)
        fault = spec["faults"].get(key)
        if fault is None:
            return params
        if fault == "mixup":
            other = _other_params(folder, set(spec["faults"]))
            _log(folder, key=key, fault=fault, trained=sample_key(other))
            return other
        _log(folder, key=key, fault=fault, pid=os.getpid())
        if fault == "exit":
            os._exit(3)
        if fault == "hang":
            while True:
                time.sleep(60)
        if fault == "nan":
            report_final_result = nni.report_final_result

            def report_nan(metric):
                metric = {**metric, "default": math.nan} if isinstance(metric, dict) else math.nan
                report_final_result(metric)
            nni.report_final_result = report_nan
        if fault == "kill":
            def kill(*_args, **_kwargs):
                os.kill(os.getpid(), signal.SIGKILL)
            nni.report_intermediate_result = kill
            nni.report_final_result = kill
        return params

    nni.get_next_parameter = faulty_get_next_parameter
