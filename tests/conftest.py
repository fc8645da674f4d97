import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores: one thread each (as the
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # trials), read by torch and NumPy when they load
        os.environ.setdefault(name, "1")
# Triton imported after TensorFlow segfaults, and torchvision.ops imports it (through torch._dynamo): a worker that
# ran the TensorFlow controller's tests, then a torch test that loads torchvision.ops, crashed. So Triton goes first.
try:
    import triton  # noqa: F401
except ImportError:
    pass


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def restore_nni_dispatcher(monkeypatch):
    """load_checkpoint patches NNI's dispatcher for resuming (nni_plumbing/resume.py); undo it after the test."""
    from nni.runtime import msg_dispatcher

    monkeypatch.setattr(msg_dispatcher, "_create_parameter_id", msg_dispatcher._create_parameter_id)
    monkeypatch.setattr(msg_dispatcher, "_next_parameter_id", msg_dispatcher._next_parameter_id)
    for name in ("is_created_in_previous_exp", "handle_add_customized_trial"):
        monkeypatch.setattr(msg_dispatcher.MsgDispatcher, name, getattr(msg_dispatcher.MsgDispatcher, name))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Split caches go to the test's own folder."""
    monkeypatch.setenv("NAS_TOOLKIT_CACHE", str(tmp_path / "cache"))


def nnictl(*args, timeout=120):
    """Run this environment's ``nnictl`` from the repository root (its own Python first on PATH)."""
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "nnictl"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def read_json(path):
    """A JSON file a tuner is writing, or None while it is not there yet (tuners write atomically, so a file
    that is there is whole)."""
    import json

    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def wait_for(condition, timeout, what):
    """Poll ``condition()`` once a second until it returns something true, and return that; fail after ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")
