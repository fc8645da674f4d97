"""The MLP benchmark's bookkeeping: runs.jsonl -> summary.json / paired tests, and the README table rebuilt
from summary.json alone; a tiny real run of the cheap rows, and (slow) of every row."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import mlp_vs_sklearn as bench  # noqa: E402


def fake_runs():
    runs = []
    for seed in range(5):
        for method, acc in (("nas", 0.90), ("random", 0.85), ("sklearn_default", 0.88), ("hist_gb", 0.90)):
            runs.append({"dataset": "wine", "seed": seed, "method": method, "test_acc": acc + 0.01 * seed * (method == "nas"),
                         "search_s": 10.0 + seed, "budget": [1]})
    return runs


def test_summary_has_the_required_shape_and_the_paired_tests():
    runs = fake_runs()
    summary = bench.summarise(runs)
    assert set(summary) == {"wine"} and set(summary["wine"]) == {"nas", "random", "sklearn_default", "hist_gb"}
    nas = summary["wine"]["nas"]
    assert set(nas) == {"mean", "std", "n", "search_s"} and nas["n"] == 5
    assert nas["mean"] == pytest.approx(0.92) and nas["search_s"] == pytest.approx(12.0)
    tests = bench.paired_tests(runs)
    assert tests["wine"]["random"]["diff_mean"] == pytest.approx(0.07)
    assert tests["wine"]["random"]["p_wilcoxon"] == pytest.approx(0.0625)  # 5 positive differences, exact two-sided
    assert tests["wine"]["hist_gb"]["p_wilcoxon"] > 0.05
    assert tests["all"]["sklearn_default"]["n"] == 5


def test_table_rebuilt_from_summary_json(tmp_path, capsys):
    runs = fake_runs()
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    summary, tests, _ = bench.write_outputs(tmp_path, bench.read_runs(tmp_path / "runs.jsonl"), "test")
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert bench.main(["--table", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed == bench.table(summary, tests)
    assert "| wine | 0.9200 ± 0.0158 (5) | 0.8500 ± 0.0000 (5) |" in printed and "Wilcoxon p" in printed


def test_an_ablation_row_gets_its_own_table_and_paired_tests(tmp_path, capsys):
    """``nas_layerwise`` runs only when asked; where it ran it is a table of its own, tested against every row,
    and leaves the main table (and its mean row) as it was."""
    assert "nas_layerwise" not in bench.METHODS and bench.EXTRA_METHODS == ["nas_layerwise"]
    runs = fake_runs()
    plain = bench.table(bench.summarise(runs), bench.paired_tests(runs))
    runs += [{"dataset": "wine", "seed": s, "method": "nas_layerwise", "test_acc": 0.95 + 0.001 * s, "search_s": 20.0,
              "budget": [1]} for s in range(5)]
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    bench.write_outputs(tmp_path, bench.read_runs(tmp_path / "runs.jsonl"), "test")
    extra = json.loads((tmp_path / "paired_tests_nas_layerwise.json").read_text())
    assert extra["wine"]["random"]["diff_mean"] == pytest.approx(0.102)
    assert bench.main(["--table", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(plain)  # the main table unchanged, the ablation after it
    assert "| wine | 0.9520 ± 0.0016 (5) | 20 |" in printed
    assert "| sklearn default | +0.0720 | 0.0625 |" in printed


def test_table_without_summary_and_old_runs_format_fail_clearly(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--table", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "summary.json not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        bench.main(["--rebuild", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "holds no runs" in capsys.readouterr().err
    (tmp_path / "runs.jsonl").write_text(json.dumps({"dataset": "iris", "seed": 0, "rows": []}) + "\n")
    with pytest.raises(SystemExit, match="older benchmark format"):
        bench.read_runs(tmp_path / "runs.jsonl")


def test_small_test_splits_get_repeated_splits():
    assert bench.seeds_for("iris", [0, 1, 2, 3, 4], 23) == list(range(10))
    assert bench.seeds_for("digits", [0, 1, 2, 3, 4], 270) == [0, 1, 2, 3, 4]


def test_the_worker_trains_on_the_data_sets_backend():
    from types import SimpleNamespace

    from nas_data.tabular import load_split

    args = SimpleNamespace(keras_backend="auto", max_epochs=3, patience=2)
    assert [bench.backend_for(n, args) for n in ("mnist1d", "wine_quality", "digits")] == ["tensorflow", "tensorflow",
                                                                                             "torch"]
    assert bench.backend_for("mnist1d", SimpleNamespace(keras_backend="torch")) == "torch"
    split = load_split(bench.spec_of("iris"), 0)
    worker = bench.KerasWorker("tensorflow")
    try:
        out = bench.keras_trial(worker, {"layers": [[8, "relu"]]}, 1, split, bench.train_settings(args, "tensorflow"))
    finally:
        worker.close()
    assert out["keras_backend"] == "tensorflow" and out["epochs_trained"] <= 3 and 0 <= out["default"] <= 1


def run_bench(*args):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mlp_vs_sklearn.py"), *args],
                          capture_output=True, text=True, timeout=1500, cwd=ROOT)


def test_tiny_real_run_writes_runs_summary_and_table(tmp_path):
    args = ["--datasets", "iris", "--seeds", "0", "--methods", "sklearn_default", "hist_gb", "--out", str(tmp_path)]
    done = run_bench(*args, "--jobs", "2")  # iris's two splits at once, one process each
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert sorted((json.loads(x)["seed"], json.loads(x)["method"]) for x in lines) == [
        (0, "hist_gb"), (0, "sklearn_default"), (1, "hist_gb"), (1, "sklearn_default")]  # iris: repeated splits
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["iris"]["hist_gb"]["n"] == 2
    again = run_bench(*args)  # everything is there: nothing is run twice (one job)
    assert again.returncode == 0 and len((tmp_path / "runs.jsonl").read_text().splitlines()) == 4
    table = run_bench("--table", "--out", str(tmp_path))
    tests = json.loads((tmp_path / "paired_tests.json").read_text())
    assert table.returncode == 0 and table.stdout == bench.table(summary, tests)
    (tmp_path / "summary.json").unlink()  # a stopped run leaves runs.jsonl only: --rebuild writes the rest again
    assert bench.main(["--rebuild", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


@pytest.mark.slow
def test_every_row_on_a_tiny_budget(tmp_path):
    done = run_bench("--datasets", "iris", "--seeds", "0", "--controller-epochs", "2", "--archs-per-epoch", "2",
                     "--max-epochs", "10", "--patience", "3", "--top-k", "2", "--folds", "2", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["iris"]) == set(bench.METHODS) and all(v["n"] == 2 for v in summary["iris"].values())
    tests = json.loads((tmp_path / "paired_tests.json").read_text())
    assert set(tests["iris"]) == set(bench.METHODS) - {"nas"}


def test_the_mean_row_leaves_out_data_sets_scored_on_unequal_splits():
    runs = fake_runs() + [dict(r, dataset="iris") for r in fake_runs() if not (r["method"] == "hist_gb" and r["seed"] == 4)]
    summary = bench.summarise(runs)
    assert summary["iris"]["hist_gb"]["n"] == 4 and summary["iris"]["nas"]["n"] == 5
    text = bench.table(summary)
    assert "mean over the 1 data sets every row has at equal n" in text
    means = text.split("every row has at equal n** | ")[1].split(" |")[0]
    assert means == f"**{summary['wine']['nas']['mean']:.4f}**"  # wine alone


def test_the_readme_table_is_the_one_the_table_command_prints(capsys):
    assert bench.main(["--table"]) == 0
    printed = capsys.readouterr().out
    assert printed in (ROOT / "README.md").read_text(), "README's benchmark table is stale: paste `--table`'s output"
