"""Prove a study config on NNI's remote training service against an SSH server on this machine's
loopback, then run the same study on the local training service and compare the results job by job.

    python -m studies.remote_loopback [--config configs/studies/learning_progress.yml] [--set k=v ...]

Needs Debian's ``openssh-server`` (``apt-get install openssh-server``): the script writes throwaway host and
user keys to a temporary folder, starts ``/usr/sbin/sshd`` on a free loopback port with its own config (the
system's SSH setup is not touched), points ``trainingService`` at it (``platform: remote``, the current
user, ``pythonPath`` this interpreter's folder), runs the study, stops sshd, and exits 1 if any job's
result differs from the local run's. Other hosts: the same ``machineList`` entry with their address.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nni_plumbing.experiments import ConfigError, experiment_dir, final_results, run_experiment

from .study import _override, finished_for, study_config

SSHD = "/usr/sbin/sshd"
COMPARED = ("arch", "default", "test_acc", "val_history", "snapshots")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sshd(folder: Path) -> tuple[subprocess.Popen, int, Path]:
    """sshd on 127.0.0.1 with throwaway keys in ``folder``; returns the process, its port, the user's key."""
    if not os.path.exists(SSHD):
        raise RuntimeError(f"{SSHD} not found: install Debian's openssh-server (apt-get install openssh-server)")
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
    shutil.copy(folder / "user_key.pub", folder / "authorized_keys")
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
                      f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\n"
                      f"PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\n"
                      f"PidFile {folder / 'sshd.pid'}\nUsePAM no\nSubsystem sftp internal-sftp\n")
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation folder Debian's sshd expects
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(folder / "sshd.log", "wb"))
    deadline = time.time() + 20
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, folder / "user_key"
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {(folder / 'sshd.log').read_text().strip()}")
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("sshd did not start listening within 20 s")


def run_study(config_path, overrides, port, remote=None) -> tuple[str, list[dict]]:
    """Run the study locally, or on the remote machine ``remote`` = (ssh port, key file); its results."""
    from nni.experiment.config import RemoteConfig, RemoteMachineConfig

    # no warm trial server: on loopback it would run the "remote" trials in this machine's server process
    config = study_config(config_path, {**overrides, "warm_start": False})
    if remote is not None:
        ssh_port, key = remote
        config.training_service = RemoteConfig(machine_list=[RemoteMachineConfig(
            host="127.0.0.1", port=ssh_port, user=getpass.getuser(), ssh_key_file=str(key),
            python_path=os.path.dirname(sys.executable))])
        # NNI 3.0 runs its own trial keeper with pythonPath but the trial command with the remote's PATH:
        # name the interpreter (on another host, its Python with this project installed)
        if config.trial_command.startswith("python3 "):
            config.trial_command = sys.executable + config.trial_command[len("python3"):]
    exp_id = run_experiment(config, port, label="remote" if remote else "local", finished=finished_for(config))
    return exp_id, final_results(experiment_dir(config, exp_id))


def identity(result: dict) -> str:
    """What a job is, independent of its number (numbers follow the order in which searches finish)."""
    if result.get("kind") == "search":  # (a controller transfer's searches differ by role: source, scratch, transfer)
        return json.dumps(["search", result.get("policy"), result.get("seed"), (result.get("tag") or {}).get("role")])
    tag = {k: v for k, v in (result.get("tag") or {}).items() if k != "search_job"}
    return json.dumps(["retrain", tag], sort_keys=True)


def compare(local: list[dict], remote: list[dict]) -> list[str]:
    """Differences between two runs' results, job by job (empty when they match)."""
    by_job = {identity(r): r for r in local}
    problems = [] if len(local) == len(remote) else [f"{len(local)} local results, {len(remote)} remote"]
    for result in remote:
        mine = by_job.get(identity(result))
        if mine is None:
            problems.append(f"{identity(result)} has no local result")
            continue
        for key in COMPARED:
            if json.dumps(mine.get(key), sort_keys=True) != json.dumps(result.get(key), sort_keys=True):
                problems.append(f"{identity(result)}: {key} differs ({mine.get(key)!r} local, "
                                f"{result.get(key)!r} remote)")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.remote_loopback", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/studies/learning_progress.yml")
    parser.add_argument("--set", nargs="*", type=_override, default=[], metavar="KEY=VALUE")
    parser.add_argument("--port", type=int, default=8080, help="NNI's web UI port")
    args = parser.parse_args(argv)
    overrides = dict(args.set)
    try:
        study_config(args.config, overrides)  # a bad config fails here, in one line, before sshd starts
    except ConfigError as exc:
        print(f"remote_loopback: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="nni_loopback_") as tmp:
        try:
            sshd, ssh_port, key = start_sshd(Path(tmp))
        except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
            print(f"remote_loopback: {exc}", file=sys.stderr)
            return 2
        try:
            remote_id, remote = run_study(args.config, overrides, args.port, (ssh_port, key))
        except RuntimeError as exc:  # a dead tuner or SIGTERM: the runner has stopped the experiment
            print(f"remote_loopback: {exc}", file=sys.stderr)
            return 2
        finally:
            sshd.terminate()
            sshd.wait(10)
    try:
        local_id, local = run_study(args.config, overrides, args.port)
    except RuntimeError as exc:
        print(f"remote_loopback: {exc}", file=sys.stderr)
        return 2
    problems = compare(local, remote)
    print(f"remote experiment {remote_id} (sshd on 127.0.0.1:{ssh_port}), local experiment {local_id}: "
          f"{len(remote)} / {len(local)} results")
    for line in problems:
        print("  " + line)
    print("same results" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
