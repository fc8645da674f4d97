"""NNI's record of each trial's parameters equals what the trial trained (nni_plumbing.mixup), at concurrency 2.

NNI 3.0's local training service answers a trial's parameter request with the oldest queued parameters,
whichever trial asks; its database records the parameters it submitted for each trial id. The end-to-end
tests run a real NNI experiment of tiny trials (tests/mixup_trial.py, NNI's grid search over 60 distinct
values) and compare, trial by trial, the database's TrialJobEvent record with the trial's own final report
in MetricData.
"""
import json
import sqlite3
from pathlib import Path

import pytest

from nni_plumbing import mixup
from tests import nni_tiny

N_TRIALS = 60


# ----- pure logic: finding and choosing the record (a database written here, no NNI) -----
def fake_db(path: Path, rows) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    db = path / "nni.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE TrialJobEvent (timestamp, trialJobId, event, data, logPath, sequenceId, message)")
        for job, event, data in rows:
            conn.execute("INSERT INTO TrialJobEvent VALUES (0, ?, ?, ?, NULL, NULL, NULL)",
                         (job, event, None if data is None else json.dumps(data)))
    return db


def record(pid, x):
    return {"parameter_id": pid, "parameter_source": "algorithm", "parameters": {"x": x}, "parameter_index": 0}


def test_trial_trains_its_own_record_not_the_one_handed_to_it(tmp_path):
    db = fake_db(tmp_path / "exp1" / "db", [("A", "WAITING", record(0, 10)), ("B", "WAITING", record(1, 11)),
                                            ("B", "RUNNING", None)])
    before = mixup.mixups_fixed
    assert mixup.own_record(record(0, 10), "B", db, wait_s=0)["parameters"] == {"x": 11}
    assert mixup.own_record(record(0, 10), "A", db, wait_s=0) == record(0, 10)
    assert mixup.mixups_fixed == before + 1


def test_latest_record_wins_and_missing_record_keeps_what_was_received(tmp_path):
    db = fake_db(tmp_path / "exp1" / "db", [("A", "WAITING", record(0, 10)), ("A", "WAITING", record(5, 15))])
    assert mixup.own_record(record(0, 10), "A", db, wait_s=0)["parameter_id"] == 5  # re-submitted on resume
    assert mixup.own_record(record(3, 13), "nobody", db, wait_s=0.2) == record(3, 13)
    assert mixup.own_record(record(3, 13), "A", None) == record(3, 13)  # no database: another machine


def test_experiment_db_is_found_above_the_trial_folder(tmp_path):
    fake_db(tmp_path / "exp1" / "db", [])
    trial_dir = tmp_path / "exp1" / "environments" / "local-env" / "trials" / "A"
    trial_dir.mkdir(parents=True)
    assert mixup.experiment_db(trial_dir, "exp1") == tmp_path / "exp1" / "db" / "nni.sqlite"
    assert mixup.experiment_db(trial_dir, "other") is None


def test_install_is_a_no_op_outside_a_trial(monkeypatch):
    monkeypatch.delenv("NNI_TRIAL_JOB_ID", raising=False)
    mixup.install()
    assert not mixup._installed


# ----- end to end: a real NNI experiment at concurrency 2 -----
def run_grid(tmp_path: Path, port: int, fix: bool) -> Path:
    """Run N_TRIALS tiny trials of NNI's grid search at concurrency 2; the experiment's folder."""
    return nni_tiny.run(nni_tiny.config(tmp_path, N_TRIALS, fix=fix, name="mixup"), port)


def compare(exp_dir: Path) -> tuple[int, list]:
    """(trials with a final result, [(trial, NNI's record, the trial's own report)] where they differ)."""
    with sqlite3.connect(f"file:{exp_dir / 'db' / 'nni.sqlite'}?mode=ro", uri=True) as conn:
        events = conn.execute("SELECT trialJobId, data FROM TrialJobEvent WHERE data IS NOT NULL ORDER BY rowid").fetchall()
        finals = conn.execute("SELECT trialJobId, parameterId, data FROM MetricData WHERE type = 'FINAL'").fetchall()
    recorded = {job: json.loads(data) for job, data in events}
    wrong = []
    for job, parameter_id, data in finals:
        report = json.loads(json.loads(data))
        own = recorded[job]
        if (own["parameters"]["x"], own["parameter_id"]) != (report["x"], report["parameter_id"]) \
                or int(parameter_id) != own["parameter_id"]:
            wrong.append((job, own, report))
    return len(finals), wrong


@pytest.mark.slow
def test_nni_records_what_every_trial_trained(tmp_path, free_port):
    exp_dir = run_grid(tmp_path, free_port, fix=True)
    n, wrong = compare(exp_dir)
    fixed = sum("training its own recorded parameter id" in p.read_text()
                for p in (exp_dir / "environments").rglob("trial.stderr"))
    print(f"{n} trials at concurrency 2 with nni_plumbing.mixup: {len(wrong)} records differ from the trial's "
          f"report; {fixed} trials were handed another trial's parameters and trained their own")
    assert n == N_TRIALS
    assert wrong == []


@pytest.mark.slow
def test_without_the_fix_nni_records_other_trials_parameters(tmp_path, free_port):
    """The fault itself, so the test above is known to test something: NNI's own pairing mixes trials up."""
    exp_dir = run_grid(tmp_path, free_port, fix=False)
    n, wrong = compare(exp_dir)
    print(f"{n} trials at concurrency 2 without the fix: {len(wrong)} records differ from the trial's report")
    assert n == N_TRIALS
    assert wrong, "NNI paired every trial with its own parameters: the fault did not show this time"
