"""nas_data.files.atomic_write: whole files only, and the mode a plain write would give."""
import os
import stat

import pytest

from nas_data.files import atomic_write


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_mode_open_would_give_and_an_old_one_keeps_its_own(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    new = tmp_path / "report.md"
    atomic_write(new, lambda f: f.write("a"))
    assert mode(new) == 0o666 & ~umask  # not mkstemp's 0600: reports are for other people too
    new.chmod(0o640)
    atomic_write(new, lambda f: f.write("b"))
    assert mode(new) == 0o640 and new.read_text() == "b"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    atomic_write(path, lambda f: f.write("old"))

    def crash(f):
        f.write("half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        atomic_write(path, crash)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["state.json"]
