"""Warm trial start: environment, arguments, streams and exit code cross over; a killed trial
process takes its child with it; without a server the trial runs by itself."""
import os
import signal
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from nni_plumbing import warm_start
from tests.conftest import ROOT

CLIENT = ("import sys; from nni_plumbing import warm_start; "
          "code = warm_start.delegate('tests.warm_target:main', 0.0); "
          "print('NO SERVER') if code is None else None; sys.exit(code or 0)")


@pytest.fixture
def server():
    experiment_id = "test" + uuid.uuid4().hex[:8]
    proc = warm_start.start_server(experiment_id, ["json"])
    deadline = time.time() + 60
    while not os.path.exists(warm_start.socket_path(experiment_id)):
        assert proc.poll() is None and time.time() < deadline, "warm server did not start"
        time.sleep(0.05)
    yield experiment_id, proc
    proc.terminate()
    proc.wait(10)


def client(experiment_id, tmp_path, **env):
    return subprocess.Popen([sys.executable, "-c", CLIENT, "--flag", "x"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "NNI_EXP_ID": experiment_id, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_child_gets_env_argv_cwd_streams_and_exit_code(server, tmp_path):
    experiment_id, proc = server
    out, err = client(experiment_id, tmp_path, MARK="hello", EXIT="3").communicate(timeout=60)
    assert f"mark=hello argv=['--flag', 'x'] cwd={tmp_path} ppid={proc.pid}" in out  # forked by the server
    assert "to stderr" in err
    assert client(experiment_id, tmp_path, EXIT="3").wait(60) == 3


def test_killing_the_trial_process_kills_its_child(server, tmp_path):
    experiment_id, _ = server
    pid_file = tmp_path / "pid"
    trial = client(experiment_id, tmp_path, PID_FILE=str(pid_file))
    deadline = time.time() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.time() < deadline
        time.sleep(0.05)
    child = int(pid_file.read_text())
    trial.send_signal(signal.SIGKILL)
    trial.wait(10)
    deadline = time.time() + 10
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.time() < deadline, "the child outlived its trial process"
        time.sleep(0.05)


def test_without_server_the_trial_runs_itself(tmp_path):
    out, _ = client("nobody" + uuid.uuid4().hex[:6], tmp_path).communicate(timeout=60)
    assert "NO SERVER" in out


def test_server_exits_with_its_parent(tmp_path):
    experiment_id = "orphan" + uuid.uuid4().hex[:6]
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from nni_plumbing import warm_start; "
            f"p = warm_start.start_server({experiment_id!r}, []); print(p.pid, flush=True)")
    pid = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout)
    deadline = time.time() + 15
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.time() < deadline, "the server outlived the process that started it"
        time.sleep(0.1)
    assert not os.path.exists(warm_start.socket_path(experiment_id))
