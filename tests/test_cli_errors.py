"""Bad input to `python -m mlp_nas run`: one clear line on stderr, exit 2, nothing started."""
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "mlp_nas", "run", "--port", "8399", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("make_args,message", [
    (lambda t: ["--dataset", "imagenet"], "neither a named set"),
    (lambda t: ["--dataset", str(t / "missing.csv"), "--label", "y"], "neither a named set"),
    (lambda t: ["--dataset", _write(t, "a.csv", "a,b\n1,2\n3,4\n"), "--label", "y"], "label column 'y' is not in the header"),
    (lambda t: ["--dataset", _write(t, "b.csv", "a,y\nx,1\n"), "--label", "y"], "column 'a' is not numeric"),
    (lambda t: ["--dataset", _write(t, "c.csv", "a,y\n" + "nan,1\n2,0\n" * 4), "--label", "y"], "NaN"),
    (lambda t: ["--dataset", _write(t, "d.csv", "a,y\n" + "1,1\n" * 6), "--label", "y"], "single class"),
    (lambda t: ["--config", str(t / "nope.yml")], "does not exist"),
    (lambda t: ["--config", _write(t, "bad.yml", "trialCommand: [unclosed")], "not valid YAML"),
    (lambda t: ["--archs-per-epoch", "0"], "--archs-per-epoch must be a positive integer"),
])
def test_bad_input(tmp_path, make_args, message):
    proc = run_cli(*make_args(tmp_path))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mlp_nas: error:")]
    assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
