"""Atomic file writes: a reader never sees half a file, and a crash leaves the old one."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

# mkstemp makes its file 0600; a written file gets the mode a plain open() would give it (read once, at import:
# os.umask can only be read by setting it)
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: str | os.PathLike, write, binary: bool = False) -> None:
    """Write a file through a temporary sibling and ``os.replace``: readers never see half a file. The file keeps
    the mode it had, or gets the one ``open`` would give a new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        with os.fdopen(fd, "wb" if binary else "w") as f:
            os.fchmod(f.fileno(), mode)
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
