"""The experiment runner under faults: a dead tuner stops the run within seconds with its own error
line, SIGTERM stops the experiment, the web UI listens on loopback only unless opened, and user paths resolve
against the working directory. The end-to-end cases run real NNI experiments with the tuners of
tests/runner_tuners.py."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest
import yaml

from tests.conftest import ROOT

LOG = """\
[2026-12-02 21:38:06] INFO (nni.runtime.msg_dispatcher_base/MainThread) Dispatcher started
[2026-12-02 21:38:06] ERROR (mlp_nas.tuner/Thread-1) a handled problem, logged with its traceback
Traceback (most recent call last):
  File "x.py", line 1, in f
KeyError: 'not fatal'
[2026-12-02 21:38:07] ERROR (nni.runtime.msg_dispatcher_base/Thread-1 (command_queue_worker)) no file
Traceback (most recent call last):
  File "a.py", line 3, in g
    raise OSError("first")
OSError: first

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/work/main/nas_data/tabular.py", line 9, in load
    raise DataError(f"{path} does not exist")
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
nas_data.tabular.DataError: x/wine.csv does not exist: give a path to a CSV file
second line of the message
[2026-12-02 21:38:22] INFO (nni.runtime.msg_dispatcher_base/MainThread) Dispatcher exiting...
"""


def test_fatal_error_is_the_dispatchers_last_exception_line():
    from nni_plumbing.tuner_watch import fatal_error

    assert fatal_error(LOG) == "DataError: x/wine.csv does not exist: give a path to a CSV file"
    assert fatal_error(LOG.split("[2026-12-02 21:38:07]")[0]) is None  # other loggers' errors are not fatal
    assert fatal_error(LOG.split("[2026-12-02 21:38:07]")[0], loggers=None) == "KeyError: 'not fatal'"
    assert fatal_error("[2026-12-02 21:38:06] INFO (nni.main/MainThread) ok\n") is None


def _config(tmp_path, tuner: str, trial: str = "python3 -c 'import time; time.sleep(60)'", **extra):
    """A tiny experiment config file whose tuner is one of tests/runner_tuners.py."""
    raw = {"experimentName": "runner-test", "searchSpace": {}, "trialCommand": trial,
           "trialCodeDirectory": str(ROOT), "trialConcurrency": 1, "maxTrialNumber": 2,
           "experimentWorkingDirectory": str(tmp_path / "exps"),
           "tuner": {"codeDirectory": str(ROOT), "className": f"tests.runner_tuners.{tuner}", "classArgs": {}},
           "trainingService": {"platform": "local"}, **extra}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_choose_host_loopback_unless_remote_or_asked(monkeypatch):
    from nni.experiment.config import RemoteConfig, RemoteMachineConfig

    from nni_plumbing.experiments import ConfigError, load_config
    from nni_plumbing.webui_host import ENV, LOOPBACK_JS, TUNER_PATIENCE_JS, choose_host, node_options

    monkeypatch.delenv(ENV, raising=False)
    config = load_config(ROOT / "nni_config.yml")
    assert choose_host(config) == "127.0.0.1"
    assert choose_host(config, "0.0.0.0") == "0.0.0.0"
    monkeypatch.setenv(ENV, "0.0.0.0")
    assert choose_host(config) == "0.0.0.0"
    monkeypatch.setenv(ENV, "10.1.2.3")
    with pytest.raises(ConfigError, match="NAS_TOOLKIT_WEBUI_HOST must be 127.0.0.1"):
        choose_host(config)
    monkeypatch.delenv(ENV)
    config.training_service = RemoteConfig(machine_list=[RemoteMachineConfig(host="10.0.0.9", user="u", password="p")])
    assert choose_host(config) == "0.0.0.0"  # remote trials call the manager back
    assert node_options("127.0.0.1", "--max-old-space-size=100") == \
        f"--max-old-space-size=100 --require {LOOPBACK_JS} --require {TUNER_PATIENCE_JS}"
    assert node_options("127.0.0.1", node_options("127.0.0.1")) == node_options("127.0.0.1")
    assert node_options("0.0.0.0", "") == f"--require {TUNER_PATIENCE_JS}"


def test_csv_path_resolves_against_the_working_directory(tmp_path, monkeypatch):
    from mlp_nas.launch import build_configs

    rows = ["a,b,c,label"] + [f"{i % 7},{i % 5},{i % 3},{'yes' if i % 2 else 'no'}" for i in range(80)]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "small.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    nas, tpe = build_configs(ROOT / "nni_config.yml", ROOT / "configs" / "sklearn_tpe.yml",
                             dataset="sub/small.csv", label="label", controller_epochs=1, archs_per_epoch=2)
    path = str(tmp_path / "sub" / "small.csv")
    assert nas.tuner.class_args["dataset"] == path
    assert f"--dataset {path} " in tpe.trial_command


def _non_loopback_address() -> str | None:
    """An IPv4 address of this machine other than loopback, from the routing table's choice of source."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = s.getsockname()[0]
    except OSError:
        address = None
    if address and not address.startswith("127."):
        return address
    for interfaces in psutil.net_if_addrs().values():
        for interface in interfaces:
            if interface.family == socket.AF_INET and not interface.address.startswith("127."):
                return interface.address
    return None


def _answers(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((address, port)) == 0


def _trial_jobs(port: int) -> list[dict]:
    """NNI's trial jobs, or [] while its REST routes are not registered yet (its web page answers then)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nni/trial-jobs", timeout=5) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return []


def _manager_processes(experiment_id: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if experiment_id in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _cli(tmp_path, port, tuner, trial=None):
    config = _config(tmp_path, tuner, **({"trialCommand": trial} if trial else {}))
    return subprocess.Popen([sys.executable, "-m", "mlp_nas", "run", "--config", str(config), "--no-tpe",
                             "--port", str(port), "--out", str(tmp_path / "results")], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_tuner_that_raises_stops_the_cli_within_seconds(tmp_path, free_port):
    started = time.time()
    proc = _cli(tmp_path, free_port, "RaisingTuner")
    out, err = proc.communicate(timeout=120)
    elapsed = time.time() - started
    assert proc.returncode == 2, out + err
    assert "the tuner failed: FileNotFoundError: no such file: data/missing.csv" in err
    assert "dispatcher.log" in err and "Traceback" not in err
    assert elapsed < 90, f"took {elapsed:.0f} s"  # start-up and stop included; the stall check alone waits 180 s
    assert _answers("127.0.0.1", free_port) is False


@pytest.mark.slow  # tests/test_faults.py::test_tuner_raises_at_setup covers it by default, through the real tuners
def test_error_file_of_our_tuners_stops_the_run(tmp_path, free_port):
    from nni_plumbing.experiments import TunerError, load_config, run_experiment

    config = load_config(_config(tmp_path, "ErrorFileTuner"))
    with pytest.raises(TunerError, match=r"^the tuner failed: DataError: label column 'quality' not found \(log: "):
        run_experiment(config, free_port, stall_s=600)
    (written,) = (tmp_path / "exps").glob("[!_]*/checkpoint/tuner_error.txt")  # not the _latest link
    assert time.time() - written.stat().st_mtime < 20  # noticed on the next poll, then NNI stopped


@pytest.mark.slow  # waits out a 20 s stall on purpose
def test_stall_in_no_more_trial_and_the_open_switch(tmp_path, free_port):
    """TUNER_NO_MORE_TRIAL with nothing running, while ``finished`` says the tuner is not done, is a stall
    too; webui_host='0.0.0.0' opens the web UI."""
    from nni_plumbing.experiments import load_config, run_experiment

    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to probe the web UI on")
    seen = []

    def probe():
        deadline = time.time() + 60
        while time.time() < deadline and not seen:
            if _answers(address, free_port):
                seen.append(address)
            time.sleep(0.5)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    config = load_config(_config(tmp_path, "NoTrialTuner"))
    # 20 s: longer than the tuner takes to connect on a loaded machine (until then NNI says RUNNING)
    with pytest.raises(RuntimeError, match=r"\(TUNER_NO_MORE_TRIAL\) has run no trial for 20 s"):
        run_experiment(config, free_port, finished=lambda _: False, stall_s=20, poll_s=1, webui_host="0.0.0.0",
                       progress=False)
    thread.join()
    assert seen == [address], f"the web UI did not answer on {address}:{free_port} when opened"


def test_cli_listens_on_loopback_only_and_stops_its_experiment_on_sigterm(tmp_path, free_port):
    address = _non_loopback_address()
    proc = _cli(tmp_path, free_port, "_Base")
    deadline = time.time() + 90
    while not _answers("127.0.0.1", free_port):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.5)
    while not any(job.get("status") == "RUNNING" for job in _trial_jobs(free_port)):  # a trial is running
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.5)
    experiment_id = next((tmp_path / "exps").glob("[!_]*")).name
    assert _manager_processes(experiment_id), "no NNI manager process found"
    if address is not None:
        assert not _answers(address, free_port), f"the web UI answers on {address}: it should listen on loopback only"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in err and "terminated by SIGTERM" in err, err
    assert not _answers("127.0.0.1", free_port), "the port is still held after SIGTERM"
    assert _manager_processes(experiment_id) == [], "NNI's manager or a trial still runs after SIGTERM"
    if address is None:
        pytest.skip("loopback-only not checked: this machine has no non-loopback IPv4 address")


@pytest.mark.slow
def test_tuner_whose_constructor_raises(tmp_path, free_port):
    from nni_plumbing.experiments import TunerError, load_config, run_experiment

    config = load_config(_config(tmp_path, "RaisingInitTuner"))
    with pytest.raises(TunerError, match="ValueError: bad classArgs: depth must be positive"):
        run_experiment(config, free_port)


def test_mlp_nas_tuner_on_a_path_that_does_not_resolve(tmp_path, free_port):
    """The case that used to cost 180 s: a relative CSV path reaches the MLP NAS tuner, which runs in the
    experiment's log folder and raises DataError when NNI hands it the search space."""
    from nni_plumbing.experiments import TunerError, load_config, run_experiment

    config = load_config(ROOT / "nni_config.yml")
    config.experiment_working_directory = str(tmp_path / "exps")
    config.tuner.class_args.update(dataset="data/nowhere.csv", label="quality_label", warm_start=False)
    started = time.time()
    with pytest.raises(TunerError, match=r"^the tuner failed: DataError: .*nowhere\.csv.* \(log: .*dispatcher\.log\)$"):
        run_experiment(config, free_port, progress=False)
    assert time.time() - started < 90  # start-up and stop included; the stall check alone waits 180 s
