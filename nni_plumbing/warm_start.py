"""Warm trial start: a per-experiment server that has already imported the heavy libraries forks
a ready child for each trial, so a trial skips seconds of imports (the README has the measured start-up times).

The tuner starts the server (:func:`start_server`); the trial's entry point calls
:func:`delegate` first. The trial process hands its environment, working folder, arguments and
standard streams to the server over a Unix socket; the forked child runs the target with them and
the trial process exits with the child's exit code. Where no server answers (no tuner started
one, another machine, another training service), :func:`delegate` returns ``None`` and the trial
runs in its own process as usual. NNI itself is never preloaded: it reads the trial's
environment at import time, and imports quickly once its dependencies are loaded.

Killing the trial process (NNI cancels a trial) kills the child; the server exits when the
process that started it does.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

ENV_STARTED = "NAS_TOOLKIT_TRIAL_STARTED"
#: What the image trials (studies, multi-trial search) import before they run, except NNI and modules that
#: import it (NNI reads the trial's environment at import time, so a preloaded copy would report to the
#: wrong trial): most of their import time.
TORCH_TRIAL_PRELOAD = ["numpy", "scipy.stats", "sklearn.datasets", "sklearn.model_selection", "psutil", "json_tricks",
                       "torch", "torchvision", "pytorch_lightning", "matplotlib.figure",
                       "matplotlib.backends.backend_agg"]
STARTING = ".starting"  # beside the socket path while the server preloads
WAIT_FOR_SERVER_S = 90.0
_HEADER = struct.Struct("!Q")
_CODE = struct.Struct("!i")


def socket_path(experiment_id: str) -> str:
    """Where the server of an experiment listens (short: Unix socket paths are limited to ~100 bytes)."""
    return os.path.join(tempfile.gettempdir(), f"nas_toolkit_warm_{experiment_id}.sock")


def start_server(experiment_id: str, preload: list[str], env: dict | None = None,
                 log: str | os.PathLike | None = None) -> subprocess.Popen:
    """Start the server for ``experiment_id`` in the background; it lives as long as the caller.
    ``env`` is added to the server's environment before it preloads (``KERAS_BACKEND``, say);
    the server's own output goes to ``log``. Trials that start while it preloads wait for it."""
    path = socket_path(experiment_id)
    open(path + STARTING, "w").close()
    cmd = [sys.executable, "-m", "nni_plumbing.warm_start", "--socket", path,
           "--parent", str(os.getpid()), "--preload", ",".join(preload)]
    out = subprocess.DEVNULL
    if log is not None:
        os.makedirs(os.path.dirname(log), exist_ok=True)
        out = open(log, "ab")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env={**os.environ, **(env or {})},
                            cwd=root)


def process_started() -> float:
    """When this trial's process started: the delegating process's start in a warm child."""
    import psutil

    return float(os.environ.get(ENV_STARTED) or psutil.Process().create_time())


def delegate(target: str, started: float) -> int | None:
    """Run ``target`` ("module:function") in this experiment's warm server; its exit code, or None
    when no server answers (the caller then runs the target itself)."""
    experiment_id = os.environ.get("NNI_EXP_ID")
    if not experiment_id or os.environ.get("NAS_TOOLKIT_WARM_START") == "0":
        return None
    path = socket_path(experiment_id)
    deadline = time.time() + WAIT_FOR_SERVER_S
    while os.path.exists(path + STARTING) and not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.1)  # importing the same libraries here too would only slow both down
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        body = json.dumps({"target": target, "env": {**os.environ, ENV_STARTED: repr(started)},
                           "cwd": os.getcwd(), "argv": sys.argv}).encode()
        socket.send_fds(conn, [_HEADER.pack(len(body))], [0, 1, 2])
        conn.sendall(body)
    except OSError:
        conn.close()
        return None
    reply = b""
    while len(reply) < _CODE.size:
        chunk = conn.recv(_CODE.size - len(reply))
        if not chunk:
            print("warm_start: the server closed the connection before the trial ended", file=sys.stderr)
            return 1
        reply += chunk
    return _CODE.unpack(reply)[0]


def _run_child(request: dict, fds: list[int]) -> None:
    """In the forked child: become the trial process, run the target, exit with its code."""
    for target_fd, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target_fd)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = request["argv"]
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        module, function = request["target"].split(":")
        code = getattr(importlib.import_module(module), function)()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the trial's own error: print it where NNI collects stderr
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    header, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
    size = _HEADER.unpack(header)[0]
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("client went away")
        body += chunk
    return json.loads(body), fds


def serve(path: str, parent: int, preload: list[str]) -> None:
    """Preload, then fork one child per request until ``parent`` exits. Single-threaded on purpose:
    forking from a process with other Python threads can deadlock the child."""
    try:
        for name in preload:
            importlib.import_module(name)
    except BaseException:
        os.unlink(path + STARTING)  # trials waiting for this server start on their own
        raise
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(16)
    os.replace(path + ".tmp", path)  # clients never see a socket that is not listening yet
    if os.path.exists(path + STARTING):
        os.unlink(path + STARTING)
    print(f"warm_start: serving {path} with {', '.join(preload)} preloaded", flush=True)
    children: dict[int, socket.socket] = {}  # pid -> the trial process's connection
    try:
        while os.getppid() == parent:
            ready, _, _ = select.select([listener, *children.values()], [], [], 0.2)
            for sock in ready:
                if sock is listener:
                    conn, _ = listener.accept()
                    try:
                        request, fds = _receive(conn)
                    except (OSError, ConnectionError, ValueError):
                        conn.close()
                        continue
                    sys.stdout.flush()
                    sys.stderr.flush()
                    pid = os.fork()
                    if pid == 0:
                        listener.close()
                        for other in children.values():
                            other.close()
                        conn.close()
                        _run_child(request, fds)
                    for fd in fds:
                        os.close(fd)
                    children[pid] = conn
                elif not sock.recv(1):  # the trial process died (NNI cancelled it): stop its child
                    pid = next(p for p, c in children.items() if c is sock)
                    os.kill(pid, signal.SIGKILL)
            for pid in list(children):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    conn = children.pop(pid)
                    try:
                        conn.sendall(_CODE.pack(os.waitstatus_to_exitcode(status)))
                    except OSError:
                        pass
                    conn.close()
    finally:
        listener.close()
        for leftover in (path, path + STARTING):
            if os.path.exists(leftover):
                os.unlink(leftover)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--preload", default="")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # terminate() still removes the socket
    serve(args.socket, args.parent, [m for m in args.preload.split(",") if m])


if __name__ == "__main__":
    main()
