"""`python -m nni_spaces`: size, architecture, parameters, export, drawing; bad input is one line, exit 2
(more bad input in tests/test_bad_input.py)."""
import json
import subprocess
import sys

import pytest

from nni_spaces import DARTS_V2, make_space
from nni_spaces.__main__ import main
from tests.conftest import ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", "nni_spaces", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)


@pytest.mark.slow  # the full-size network (3.3 M parameters); the other commands here run by default
def test_darts_v2_genotype_prints_count_arch_and_parameters(tmp_path):
    genotype = tmp_path / "darts_v2.json"
    genotype.write_text(json.dumps(DARTS_V2))
    export, png = tmp_path / "space.json", tmp_path / "cell.png"
    result = run("darts", "--width", "36", "--cells", "20", "--arch", str(genotype), "--export", str(export),
                 "--png", str(png))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "architectures: 1,076,746,950,455,072,400" in out and "1,037,664,180 per cell type" in out
    assert "parameters of the frozen model: 3,349,342" in out
    printed = json.loads(out.split("the decisions that matter:\n", 1)[1].split("\ngenotype:", 1)[0])
    space = make_space("darts", width=36, num_cells=20)
    assert space.canonical(printed) == space.canonical(space.from_genotype(DARTS_V2))
    assert json.loads(export.read_text()) == space.to_nnictl()
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_macro_random_architecture_is_reproducible_and_pastes_back(tmp_path, capsys):
    args = ["enas-macro", "--layers", "6", "--width", "8", "--seed", "4"]
    first = run(*args)
    assert first.returncode == 0, first.stderr
    assert main(args) == 0 and capsys.readouterr().out == first.stdout  # same seed, same architecture
    assert f"architectures: {6 ** 6 * 2 ** 15:,}" in first.stdout
    arch = first.stdout.split("the decisions that matter:\n", 1)[1].split("\ngenotype:", 1)[0]
    path = tmp_path / "arch.json"
    path.write_text(arch)
    assert main(["enas-macro", "--layers", "6", "--width", "8", "--arch", str(path)]) == 0
    pasted = capsys.readouterr().out
    assert pasted.splitlines()[-1] == first.stdout.splitlines()[-1]  # same parameter count


@pytest.mark.parametrize("args,message", [
    (["darts", "--arch", "/nonexistent/arch.json"], "cannot read --arch"),
    (["darts", "--layers", "4"], "--layers is for enas-macro"),
    (["enas-macro", "--cells", "4"], "enas-macro takes --layers"),
    (["ednas-cell", "--cells", "0"], "--cells must be at least 3, got 0"),
    (["darts", "--cells", "2"], "--cells must be at least 3, got 2"),
    (["enas-micro", "--arch", "{bad json"], None),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    if args[-1] == "{bad json":
        path = tmp_path / "bad.json"
        path.write_text("{bad json")
        args, message = [*args[:-1], str(path)], "is not valid JSON"
    assert main(args) == 2  # in-process: the same code path as the command, without its start-up
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and captured.out == "", captured.err


def test_bad_architecture_file_names_the_key(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps({"normal/op_2_0": "conv_9x9"}))
    result = run("ednas-cell", "--arch", str(path))  # the real command: exit status and stderr
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("error: 'normal/op_2_0' = \"conv_9x9\" is not one of [\"sep_conv_3x3\", "
                                     "\"sep_conv_5x5\", \"dil_conv_3x3\", \"dil_conv_5x5\", \"max_pool_3x3\", "
                                     "\"avg_pool_3x3\", \"skip_connect\"]")


def test_importing_the_package_does_not_load_torch():
    """Command lines parse their arguments before torch loads (seconds): ``nni_spaces`` itself must stay light."""
    code = "import sys, nni_spaces; assert 'torch' not in sys.modules and 'nni' not in sys.modules; print(nni_spaces.SPACE_NAMES)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_space_names_match_the_spaces_and_small_cell_counts_are_refused():
    from nni_spaces import MIN_CELLS, SPACE_NAMES, SPACES

    assert tuple(SPACES) == SPACE_NAMES
    for name in ("darts", "ednas-cell", "enas-micro"):
        for cells in range(1, MIN_CELLS):
            with pytest.raises(ValueError, match=f"num_cells must be at least {MIN_CELLS}"):
                make_space(name, width=4, num_cells=cells)
        make_space(name, width=4, num_cells=MIN_CELLS).freeze(make_space(name, width=4, num_cells=MIN_CELLS).sample(0))
