"""Notice within seconds that an experiment's tuner has died, and say why in one line.

NNI 3.0 keeps an experiment ``RUNNING`` after its tuner raises: the dispatcher logs the traceback and its
worker thread ends, but nothing reaches the manager. :class:`TunerWatch` looks in three places on each poll:
the one-line error our tuners write to ``checkpoint/tuner_error.txt``; a fatal traceback in
``log/dispatcher.log`` (for tuners that do not write that file, NNI's built-in ones included); and
whether the dispatcher process is still alive.
"""
from __future__ import annotations

import re
from pathlib import Path

import psutil

ERROR_FILE = "tuner_error.txt"
# Loggers whose ERROR records with a traceback end the dispatcher: its command worker, and its start-up.
FATAL_LOGGERS = ("nni.runtime.msg_dispatcher_base", "nni.main")
_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:.]+\] (\w+) \(([^/)]+)")
_TAIL_BYTES = 256 * 1024


class TunerError(RuntimeError):
    """The experiment's tuner raised or exited; the message is its own error line and where its log is."""


def exception_line(lines: list[str]) -> str | None:
    """The ``ClassName: message`` line that ends the last traceback in ``lines`` (module path dropped)."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return None
    for line in lines[starts[-1] + 1:]:
        if line.strip() and not line[0].isspace():
            return re.sub(r"^(?:\w+\.)+(?=\w+(?::|$))", "", line.strip())
    return None


def fatal_error(log_text: str, loggers=FATAL_LOGGERS) -> str | None:
    """The exception line of the last ERROR record of one of ``loggers`` that carries a traceback
    (all loggers when ``loggers`` is None), or None."""
    found, record, block = None, None, []

    def close():
        nonlocal found
        if record is not None and record[0] == "ERROR" and (loggers is None or record[1] in loggers):
            found = exception_line(block) or found

    for line in log_text.splitlines():
        match = _RECORD.match(line)
        if match:
            close()
            record, block = (match.group(1), match.group(2)), []
        else:
            block.append(line)
    close()
    return found


def manager_error(log_dir: str | Path) -> str | None:
    """The message of the last ERROR record in NNI's ``nnimanager.log`` (its reason for an ERROR status)."""
    found = None
    for line in _tail(Path(log_dir) / "nnimanager.log").splitlines():
        match = _RECORD.match(line)
        if match and match.group(1) == "ERROR":
            found = line[match.end():].partition(") ")[2].strip() or found
    return found


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - _TAIL_BYTES))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def dispatcher_alive(manager_pid: int) -> bool | None:
    """Whether NNI's dispatcher (``python -m nni --exp_params ...``, a child of the manager) runs;
    None when the manager itself is gone."""
    try:
        children = psutil.Process(manager_pid).children(recursive=True)
    except psutil.Error:
        return None
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            if "--exp_params" in " ".join(child.cmdline()):
                return True
        except psutil.Error:
            continue
    return False


class TunerWatch:
    """Raise :class:`TunerError` from :meth:`check` once the tuner of the experiment in ``exp_dir``
    (whose NNI manager runs as ``manager_pid``) has failed."""

    def __init__(self, exp_dir: str | Path, manager_pid: int | None):
        self.exp_dir = Path(exp_dir)
        self.log = self.exp_dir / "log" / "dispatcher.log"
        self.manager_pid = manager_pid
        self.seen_dispatcher = False
        self._log_size = -1

    def error(self, line: str) -> TunerError:
        return TunerError(f"the tuner failed: {line} (log: {self.log})")

    def logged_error(self, loggers=FATAL_LOGGERS) -> str | None:
        """The fatal exception line in ``dispatcher.log``, if any."""
        return fatal_error(_tail(self.log), loggers)

    def check(self) -> None:
        path = self.exp_dir / "checkpoint" / ERROR_FILE
        if path.is_file():
            line = path.read_text(errors="replace").strip().splitlines()
            raise self.error(line[0] if line else "it wrote an empty tuner_error.txt")
        try:
            size = self.log.stat().st_size
        except OSError:
            size = -1
        if size != self._log_size:
            self._log_size = size
            line = self.logged_error()
            if line:
                raise self.error(line)
        if self.manager_pid is None:
            return
        alive = dispatcher_alive(self.manager_pid)
        if alive:
            self.seen_dispatcher = True
        elif alive is False and self.seen_dispatcher:
            line = self.logged_error(None) or "its process exited with no error in its log"
            raise self.error(line)
