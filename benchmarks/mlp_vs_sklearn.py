"""Benchmark: MLP NAS against scikit-learn and NNI's own tuners, measured the way a skeptic would.

Six data sets (digits, wine, breast_cancer, iris, mnist1d, wine_quality), one stratified
70/15/15 split per seed, the same split for every method. Rows:

- ``nas``: ``mlp_nas.tuner.MLPNASTuner`` with the LSTM controller; ``random``: the same tuner with
  the uniform sampler; ``nni_random`` / ``nni_tpe`` / ``nni_evolution``: NNI's built-in
  ``RandomTuner``, ``TpeTuner`` (its random warm-up a third of the budget, not NNI's 20 trials) and
  ``EvolutionTuner`` searching the same token space exported as an nnictl search space
  (``mlp_nas.export_space``). All five have the same budget of candidates, each
  trained by the trial's own function (``mlp_nas.trial.train_keras``: to convergence, best weights
  restored), and the same honest selection (``mlp_nas.selection``: top-k re-scored by k-fold CV on
  train+validation, the pick retrained on train+validation for its folds' median best epoch);
  ``nas_ensemble`` is the controller's top-k averaged, its own row.
- Run only when asked (``--methods nas_layerwise``), an ablation: ``nas_layerwise``, the controller started from
  the prior NNI's tuners sample from (``prior="layerwise"``, ``mlp_nas.space``) instead of the seed study's.
- ``sklearn_default``: ``MLPClassifier()`` fit on train+validation; ``sklearn_tpe``: MLPClassifier
  tuned by NNI's ``TpeTuner`` over ``configs/sklearn_tpe.yml``'s space at the same budget, same
  selection; ``hist_gb``: ``HistGradientBoostingClassifier()`` with defaults.

Each method's model is scored once on the test split. To make the full run affordable on 2 cores,
the tuners are driven in-process (the same tuner classes and trial function, one trial at a time,
no NNI manager; candidates train in one worker process, because the controller holds this process's
Keras on TensorFlow; the worker's Keras runs on torch, as NNI's trials do, except on mnist1d and
wine_quality, where TensorFlow with 32 steps per call is 1.7-2x faster); the default experiment
(``python -m mlp_nas run``) stays a real NNI experiment. Small test splits: data sets whose test
split has fewer than 50 examples (iris 23, wine 27) are run on twice as many repeated stratified
splits (seeds), so their mean rests on ~250 test predictions per method.

Every (dataset, seed, method) result is appended to ``runs.jsonl`` (one line each; a rerun skips
what is there); ``summary.json`` (``{dataset: {method: {mean, std, n, search_s}}}``),
``paired_tests.json`` (Wilcoxon signed-rank and paired t of ``nas`` against every other row, per
data set and pooled) and ``summary.md`` are rebuilt from it; ``--table`` prints the README table from
``summary.json`` alone.

    python benchmarks/mlp_vs_sklearn.py --seeds 0 1 2 3 4             # the full benchmark
    python benchmarks/mlp_vs_sklearn.py --jobs 16                      # ... its splits 16 at a time, on 16 cores
    python benchmarks/mlp_vs_sklearn.py --datasets iris --seeds 0 --controller-epochs 2 --archs-per-epoch 2
    python benchmarks/mlp_vs_sklearn.py --table
    python benchmarks/mlp_vs_sklearn.py --rebuild                      # the outputs again from runs.jsonl alone
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from nni_plumbing.checks import trial_seed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WINE_QUALITY = "data/wine_quality_white.csv"  # relative to the repository root
DATASETS = {
    "digits": {"dataset": "digits"}, "wine": {"dataset": "wine"}, "breast_cancer": {"dataset": "breast_cancer"},
    "iris": {"dataset": "iris"}, "mnist1d": {"dataset": "mnist1d"},
    "wine_quality": {"dataset": WINE_QUALITY, "label": "quality_label", "drop": ["", "quality"]},
}
TOKEN_SEARCHES = ["nas", "random", "nni_random", "nni_tpe", "nni_evolution", "nas_layerwise"]
EXTRA_METHODS = ["nas_layerwise"]  # ablations, run only when named in --methods
METHODS = [m for m in TOKEN_SEARCHES if m not in EXTRA_METHODS] + ["nas_ensemble", "sklearn_default", "sklearn_tpe",
                                                                   "hist_gb"]  # the default run
ALL_METHODS = METHODS + EXTRA_METHODS
LABELS = {"nas": "MLP NAS (controller)", "random": "MLP NAS (uniform sampler)", "nni_random": "NNI Random",
          "nas_layerwise": "MLP NAS (controller, layer-wise prior)",
          "nni_tpe": "NNI TPE", "nni_evolution": "NNI Evolution", "nas_ensemble": "MLP NAS top-k ensemble",
          "sklearn_default": "sklearn default", "sklearn_tpe": "sklearn + NNI TPE", "hist_gb": "HistGradientBoosting"}
SMALL_TEST = 50
# Keras's backend for the candidates (every Keras row of a data set uses the same): TensorFlow, 32 steps per
# call, is 1.7-2x faster where an epoch has many steps, and slower where it has few (measured 2026-12-05,
# docs/mlp_nas.md); torch elsewhere, as in the first four data sets' runs.
KERAS_BACKEND_FOR = {"mnist1d": "tensorflow", "wine_quality": "tensorflow"}


def spec_of(name: str):
    from nas_data.tabular import DatasetSpec

    d = DATASETS[name]
    path = d["dataset"] if name != "wine_quality" else str(ROOT / d["dataset"])
    return DatasetSpec.parse(path, d.get("label"), d.get("drop"))


def seeds_for(name: str, seeds: list[int], test_size: int) -> list[int]:
    """The seeds (splits) a data set runs on: twice as many where its test split is small."""
    if test_size >= SMALL_TEST:
        return list(seeds)
    extra = [max(seeds) + 1 + i for i in range(len(seeds))]
    return list(seeds) + extra


# ----- one trial, one search -----
def backend_for(name: str, args) -> str:
    """Keras's backend for the candidates of data set ``name``: ``--keras-backend``, or per data set."""
    return KERAS_BACKEND_FOR.get(name, "torch") if args.keras_backend == "auto" else args.keras_backend


def train_settings(args, backend: str = "torch") -> dict:
    return {"max_epochs": args.max_epochs, "patience": args.patience, "batch_size": 64, "learning_rate": 1e-3,
            "threads": 1, "keras_backend": backend}


class KerasWorker:
    """Keras candidates train in one worker process, on ``backend`` (the controller in this process has Keras
    on TensorFlow, which a torch backend cannot join); one worker keeps the machine's CPU use to one core per
    benchmark process. It keeps the final models by key."""

    def __init__(self, backend: str = "torch"):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.backend = backend
        self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init,
                                        initargs=(backend,))

    def call(self, fn, *args):
        return self.pool.submit(fn, *args).result()

    def close(self):
        self.pool.shutdown()


_MODELS: dict = {}


def _worker_init(backend: str):
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))


def _trial_job(arch, seed, arrays, n_classes, settings):
    from types import SimpleNamespace

    from mlp_nas.trial import train_keras

    split = SimpleNamespace(**arrays, n_classes=n_classes)
    import keras

    result = train_keras({"arch": arch, "seed": seed, "train": settings}, split, lambda acc: None)
    result.pop("train_start", None)
    return {**result, "arch": arch, "keras_backend": keras.backend.backend()}


def _fold_job(cand, arrays, n_classes, settings, seed):
    from mlp_nas.selection import KerasFitter

    return KerasFitter(n_classes, settings).fold(cand, *arrays, seed)


def _final_job(key, cand, x, y, epochs, lr_curve, n_classes, settings, seed):
    from mlp_nas.selection import KerasFitter

    _MODELS[key] = KerasFitter(n_classes, settings).final(cand, x, y, epochs, lr_curve, seed)
    return key


def _proba_job(key, x, n_classes):
    from mlp_nas.training import predict_proba

    return predict_proba(_MODELS[key], x, n_classes)


class WorkerFitter:
    """``mlp_nas.selection.KerasFitter`` run in the :class:`KerasWorker`; a final model is a key there."""

    def __init__(self, worker: KerasWorker, n_classes: int, settings: dict):
        self.worker, self.n_classes, self.settings, self._n = worker, n_classes, settings, 0

    def fold(self, cand, x_tr, y_tr, x_es, y_es, x_ev, y_ev, seed):
        return self.worker.call(_fold_job, cand, (x_tr, y_tr, x_es, y_es, x_ev, y_ev), self.n_classes, self.settings,
                                seed)

    def final(self, cand, x, y, epochs, lr_curve, seed):
        self._n += 1
        return self.worker.call(_final_job, self._n, cand, x, y, epochs, lr_curve, self.n_classes, self.settings, seed)

    def proba(self, key, x):
        return self.worker.call(_proba_job, key, x, self.n_classes)


def keras_trial(worker: KerasWorker, arch: dict, seed: int, split, settings: dict) -> dict:
    """The NAS trial's own training function (``mlp_nas.trial.train_keras``) on one candidate, in the worker."""
    arrays = {k: getattr(split, k) for k in ("x_train", "y_train", "x_val", "y_val")}
    return worker.call(_trial_job, arch, seed, arrays, split.n_classes, settings)


def drive(tuner, budget: int, run_trial) -> list[dict]:
    """Ask ``tuner`` for parameters one trial at a time, train, report, end: NNI's calls, in order,
    with held requests answered through ``st_callback`` as NNI's dispatcher would."""
    import nni

    served: list[tuple[int, dict]] = []
    callback = lambda pid, params: served.append((pid, params))  # noqa: E731
    out, next_id = [], 0
    while len(out) < budget:
        if served:
            pid, params = served.pop(0)
        else:
            pid, next_id = next_id, next_id + 1
            try:
                params = tuner.generate_parameters(pid, st_callback=callback)
            except nni.NoMoreTrialError:
                if served:
                    continue
                break
        result = run_trial(params)
        tuner.receive_trial_result(pid, params, result)
        tuner.trial_end(pid, True)
        out.append(result)
    return out


def search_budget(args) -> int:
    """Candidates per search, the same for every search row."""
    return args.controller_epochs * args.archs_per_epoch


def tpe_startup(budget: int) -> int:
    """TPE's random warm-up trials: a third of the budget. NNI's default (20) would leave a 30-trial search
    10 model-based trials, and its first 20 are the same seeded draws as ``RandomTuner``'s, so the two rows
    picked the same architecture in every split measured (2026-12-04)."""
    return max(2, budget // 3)


def tpe_tuner(seed: int, budget: int, space: dict):
    """NNI's TpeTuner on ``space``, maximising, with :func:`tpe_startup` random warm-up trials."""
    from nni.algorithms.hpo.tpe_tuner import TpeTuner

    tuner = TpeTuner(optimize_mode="maximize", seed=seed, tpe_args={"n_startup_jobs": tpe_startup(budget)})
    tuner.update_search_space(space)
    return tuner


def search_tokens(method: str, split, seed: int, args, workdir: Path, worker: KerasWorker) -> list[dict]:
    """One search over the MLP token space; returns every candidate as {arch, val_acc, ...}."""
    settings = train_settings(args, worker.backend)
    budget = search_budget(args)
    if method in ("nas", "random", "nas_layerwise"):
        from mlp_nas.tuner import MLPNASTuner

        os.environ["NNI_CHECKPOINT_DIRECTORY"] = str(workdir / method / "checkpoint")
        tuner = MLPNASTuner(dataset=split.spec.name, label=split.spec.label, drop=list(split.spec.drop), seed=seed,
                            sampler="random" if method == "random" else "controller",
                            prior="layerwise" if method == "nas_layerwise" else "tokens",
                            controller_epochs=args.controller_epochs, archs_per_epoch=args.archs_per_epoch,
                            sklearn_baseline=False, max_epochs=args.max_epochs, patience=args.patience,
                            warm_start=False)
        tuner.update_search_space({})

        def run_trial(params):
            result = keras_trial(worker, params["arch"], params["seed"], split, settings)
            return {**result, "sample_id": params["sample_id"], "epoch": params["epoch"], "method": method}
    else:
        from mlp_nas.export_space import decode, search_space

        space = search_space()
        if method == "nni_random":
            from nni.algorithms.hpo.random_tuner import RandomTuner

            tuner = RandomTuner(seed=seed)
            tuner.update_search_space(space)
        elif method == "nni_tpe":
            tuner = tpe_tuner(seed, budget, space)
        else:
            from nni.algorithms.hpo.evolution_tuner import EvolutionTuner

            tuner = EvolutionTuner(optimize_mode="maximize", population_size=max(2, budget // 4))
            tuner.update_search_space(space)
            tuner.random_state = np.random.RandomState(seed)  # NNI seeds nothing: redraw the first population
            tuner.population = []
            for _ in range(tuner.population_size):
                tuner._random_generate_individual()
        count = iter(range(budget))

        def run_trial(params):
            return keras_trial(worker, decode(params), trial_seed(seed, next(count)), split, settings)
    results = drive(tuner, budget, run_trial)
    return [{"arch": r["arch"], "val_acc": r["default"], "best_epoch": r.get("best_epoch"),
             "epochs_trained": r.get("epochs_trained")} for r in results if np.isfinite(r["default"])]


def search_sklearn_tpe(split, seed: int, args) -> list[dict]:
    """MLPClassifier tuned by NNI's TPE over configs/sklearn_tpe.yml's space, scored on the validation split."""
    import yaml
    from threadpoolctl import threadpool_limits

    from mlp_nas.sklearn_mlp import fit_score

    with open(ROOT / "configs" / "sklearn_tpe.yml") as f:
        space = yaml.safe_load(f)["searchSpace"]
    budget = search_budget(args)
    tuner = tpe_tuner(seed, budget, space)

    def run_trial(params):
        with threadpool_limits(1):
            acc = fit_score(params, split.x_train, split.y_train, split.x_val, split.y_val, seed)
        return {"default": acc, "hyperparameters": params}
    results = drive(tuner, budget, run_trial)
    return [{"arch": r["hyperparameters"], "params": r["hyperparameters"], "val_acc": r["default"]} for r in results]


def run_dataset_seed(name: str, seed: int, args, done: set, log: Path) -> None:
    """Every method not yet in ``done`` on (name, seed); each result appended to ``log`` when it is ready."""
    from threadpoolctl import threadpool_limits

    from mlp_nas.selection import select_from_split
    from mlp_nas.sklearn_mlp import SklearnFitter, fit_score
    from mlp_nas.space import describe
    from nas_data.tabular import load_split

    spec = spec_of(name)
    split = load_split(spec, seed)
    split.spec = spec
    x_fit, y_fit = split.train_val()
    budget = [args.controller_epochs, args.archs_per_epoch, args.max_epochs, args.patience, args.top_k, args.folds]
    base = {"dataset": name, "seed": seed, "budget": budget, "n_test": len(split.y_test), "date": str(date.today())}

    def write(method, test_acc, search_s, **extra):
        if method in done:
            return
        line = json.dumps({**base, "method": method, "test_acc": test_acc, "search_s": search_s, **extra}, default=float)
        with log.open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # two benchmark processes may share one log
            f.write(line + "\n")
        print(f"{name} seed {seed} {method}: test {test_acc:.4f} ({search_s:.0f} s)", flush=True)

    worker = KerasWorker(backend_for(name, args))
    fitter = WorkerFitter(worker, split.n_classes,
                          {k: v for k, v in train_settings(args, worker.backend).items() if k != "keras_backend"})
    with tempfile.TemporaryDirectory(prefix="mlp_bench_") as tmp:
        for method in TOKEN_SEARCHES:
            if method in done and (method != "nas" or "nas_ensemble" in done):
                continue  # (nas and nas_ensemble come from one search)
            started = time.time()
            cands = search_tokens(method, split, seed, args, Path(tmp), worker)
            searched = time.time() - started
            sel = select_from_split(cands, split, fitter, k=args.top_k, folds=args.folds, seed=seed,
                                    ensemble=method == "nas")
            total = time.time() - started
            pick = sel.pick
            extra = {"val_acc": pick["val_acc"], "cv_mean": pick["cv_mean"], "retrain_epochs": pick["retrain_epochs"],
                     "arch": pick["arch"], "details": describe(pick["arch"]), "search_only_s": searched,
                     "candidates": len(cands), "keras_backend": worker.backend,
                     "rescored": [{k: c[k] for k in ("val_acc", "cv_mean", "arch")} for c in sel.rescored]}
            if method == "nni_tpe":
                extra["tpe_startup"] = tpe_startup(search_budget(args))
            write(method, sel.test_accuracy(split.x_test, split.y_test), total, **extra)
            if method == "nas":
                write("nas_ensemble", sel.ensemble_accuracy(split.x_test, split.y_test), total,
                      members=len(sel.ensemble), keras_backend=worker.backend)
        with threadpool_limits(1):
            if "sklearn_default" not in done:
                started = time.time()
                acc = fit_score(None, x_fit, y_fit, split.x_test, split.y_test, seed)
                write("sklearn_default", acc, time.time() - started)
            if "sklearn_tpe" not in done:
                started = time.time()
                cands = search_sklearn_tpe(split, seed, args)
                sel = select_from_split(cands, split, SklearnFitter(seed), k=args.top_k, folds=args.folds, seed=seed,
                                        ensemble=False)
                write("sklearn_tpe", sel.test_accuracy(split.x_test, split.y_test), time.time() - started,
                      val_acc=sel.pick["val_acc"], cv_mean=sel.pick["cv_mean"], params=sel.pick["params"],
                      tpe_startup=tpe_startup(search_budget(args)))
            if "hist_gb" not in done:
                from sklearn.ensemble import HistGradientBoostingClassifier

                started = time.time()
                clf = HistGradientBoostingClassifier(random_state=seed).fit(x_fit, y_fit)
                write("hist_gb", float(np.mean(clf.predict(split.x_test) == split.y_test)), time.time() - started)
    worker.close()


def _process_setup(methods) -> None:
    """Keras on TensorFlow for the controller, one thread; candidates train in a torch worker."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    if set(methods) & {"nas", "random", "nas_ensemble", "nas_layerwise"}:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def _split_job(name: str, seed: int, args, done: set, log: str) -> None:
    _process_setup(args.methods)
    run_dataset_seed(name, seed, args, done, Path(log))


def run_splits(todo: list[tuple[str, int, set]], args, log: Path) -> list[tuple[str, int, str]]:
    """Run every (data set, seed, methods done) in ``todo``; ``--jobs`` of them at once, each in a fresh
    process (the runs.jsonl lines are appended under a lock). Returns the splits that failed, with why;
    the others' results are kept either way."""
    if args.jobs == 1:
        for name, seed, done in todo:
            run_dataset_seed(name, seed, args, done, log)
        return []
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    failed = []
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"),
                             max_tasks_per_child=1) as pool:
        futures = {pool.submit(_split_job, name, seed, args, done, str(log)): (name, seed) for name, seed, done in todo}
        for future, (name, seed) in futures.items():
            error = future.exception()
            if error is not None:
                failed.append((name, seed, f"{type(error).__name__}: {error}"))
    return failed


# ----- summary, paired tests, table -----
def read_runs(log: Path) -> list[dict]:
    if not log.exists():
        return []
    runs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    old = [r for r in runs if "method" not in r]
    if old:
        raise SystemExit(f"{log} holds runs of the older benchmark format (no 'method' per line); "
                         "move it away or pass another --out")
    return runs


def summarise(runs: list[dict]) -> dict:
    """``{dataset: {method: {mean, std, n, search_s}}}`` over seeds (std: sample std, ddof 1)."""
    out: dict = {}
    for name in DATASETS:
        for method in ALL_METHODS:
            accs = [r["test_acc"] for r in runs if r["dataset"] == name and r["method"] == method]
            if not accs:
                continue
            walls = [r["search_s"] for r in runs if r["dataset"] == name and r["method"] == method]
            out.setdefault(name, {})[method] = {
                "mean": float(np.mean(accs)), "std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                "n": len(accs), "search_s": float(np.mean(walls))}
    return out


def _pair(a: list[float], b: list[float]) -> dict:
    from scipy import stats

    d = np.asarray(a) - np.asarray(b)
    res = {"n": len(d), "diff_mean": float(d.mean()) if len(d) else None, "p_wilcoxon": None, "p_ttest": None}
    if len(d) >= 2:
        if np.any(d != 0):
            res["p_wilcoxon"] = float(stats.wilcoxon(d, zero_method="zsplit").pvalue)
            res["p_ttest"] = float(stats.ttest_rel(a, b).pvalue) if np.std(d) > 0 else 0.0
        else:
            res["p_wilcoxon"] = res["p_ttest"] = 1.0
    return res


def paired_tests(runs: list[dict], reference: str = "nas") -> dict:
    """``nas`` against every other method, paired by (dataset, seed): per data set and pooled ("all")."""
    acc = {(r["dataset"], r["seed"], r["method"]): r["test_acc"] for r in runs}
    out: dict = {}
    for scope in [*DATASETS, "all"]:
        for method in ALL_METHODS:
            if method == reference:
                continue
            keys = sorted({(d, s) for d, s, m in acc if m == reference and (scope == "all" or d == scope)
                           and (d, s, method) in acc})
            if keys:
                out.setdefault(scope, {})[method] = _pair([acc[(d, s, reference)] for d, s in keys],
                                                         [acc[(d, s, method)] for d, s in keys])
    return out


def _tests_table(title: str, scope: dict) -> list[str]:
    fmt = lambda p: "-" if p is None else f"{p:.3g}"  # noqa: E731
    lines = ["", title, "", "| row | mean difference | Wilcoxon p | paired t p | pairs |", "|---|---|---|---|---|"]
    for method, t in scope.items():
        lines.append(f"| {LABELS[method]} | {t['diff_mean']:+.4f} | {fmt(t['p_wilcoxon'])} | {fmt(t['p_ttest'])} "
                     f"| {t['n']} |")
    return lines


def table(summary: dict, tests: dict | None = None, extra_tests: dict | None = None) -> str:
    """The README table: test accuracy mean ± std (n) per data set and method, the mean over data sets,
    search wall time, and (with ``tests``) the pooled paired tests of nas against each row; then each ablation
    row that was run (``EXTRA_METHODS``), with (``extra_tests``: {method: its paired tests}) its own."""
    methods = [m for m in METHODS if any(m in v for v in summary.values())]
    lines = ["| dataset | " + " | ".join(LABELS[m] for m in methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for name, rows in summary.items():
        cells = [f"{rows[m]['mean']:.4f} ± {rows[m]['std']:.4f} ({rows[m]['n']})" if m in rows else "-" for m in methods]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    # A mean row is only fair over data sets where every row has a score from the same number of splits.
    complete = [rows for rows in summary.values()
                if all(m in rows for m in methods) and len({rows[m]["n"] for m in methods}) == 1]
    if complete:
        means = [np.mean([rows[m]["mean"] for rows in complete]) for m in methods]
        label = ("mean over data sets" if len(complete) == len(summary)
                 else f"mean over the {len(complete)} data sets every row has at equal n")
        lines.append(f"| **{label}** | " + " | ".join(f"**{v:.4f}**" for v in means) + " |")
    lines += ["", "Search wall time per run (s, mean over seeds; search + selection + final retrain):", "",
              "| dataset | " + " | ".join(LABELS[m] for m in methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for name, rows in summary.items():
        lines.append(f"| {name} | " + " | ".join(f"{rows[m]['search_s']:.0f}" if m in rows else "-" for m in methods)
                     + " |")
    if tests and "all" in tests:
        lines += _tests_table("MLP NAS (controller) against each row, paired over every (data set, seed):",
                              {m: t for m, t in tests["all"].items() if m in METHODS})
    for extra in EXTRA_METHODS:
        ran = {name: rows[extra] for name, rows in summary.items() if extra in rows}
        if not ran:
            continue
        lines += ["", f"Ablation, run with `--methods {extra}`: {LABELS[extra]}", "",
                  "| dataset | test accuracy | search wall time (s) |", "|---|---|---|"]
        lines += [f"| {name} | {r['mean']:.4f} ± {r['std']:.4f} ({r['n']}) | {r['search_s']:.0f} |" for name, r in ran.items()]
        if extra_tests and "all" in extra_tests.get(extra, {}):
            lines += _tests_table(f"{LABELS[extra]} against each row, paired over its (data set, seed):",
                                  extra_tests[extra]["all"])
    return "\n".join(lines) + "\n"


def extra_tests_path(out: Path, method: str) -> Path:
    return out / f"paired_tests_{method}.json"


def read_tests(out: Path) -> tuple[dict | None, dict]:
    """paired_tests.json and each ablation's paired tests, where written."""
    path = out / "paired_tests.json"
    tests = json.loads(path.read_text()) if path.exists() else None
    extra = {m: json.loads(extra_tests_path(out, m).read_text()) for m in EXTRA_METHODS if extra_tests_path(out, m).exists()}
    return tests, extra


def write_outputs(out: Path, runs: list[dict], command: str) -> tuple[dict, dict, dict]:
    """Write summary.json, paired_tests.json, each ablation's paired tests and summary.md from ``runs``;
    returns the summary, the paired tests and the ablations' ({method: paired tests})."""
    from nas_data.files import atomic_write

    summary, tests = summarise(runs), paired_tests(runs)
    extra = {m: paired_tests(runs, reference=m) for m in EXTRA_METHODS if any(r["method"] == m for r in runs)}
    atomic_write(out / "summary.json", lambda f: json.dump(summary, f, indent=1))
    atomic_write(out / "paired_tests.json", lambda f: json.dump(tests, f, indent=1))
    for method in EXTRA_METHODS:
        if method in extra:
            atomic_write(extra_tests_path(out, method), lambda f, t=extra[method]: json.dump(t, f, indent=1))
        else:
            extra_tests_path(out, method).unlink(missing_ok=True)  # no rows (any more): no stale tests
    md = (f"Measured up to {max((r.get('date', '') for r in runs), default='')} on {platform.machine()} "
          f"({os.cpu_count()} cores); command: {command}\n\n" + table(summary, tests, extra))
    atomic_write(out / "summary.md", lambda f: f.write(md))
    return summary, tests, extra


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--controller-epochs", type=int, default=6)
    parser.add_argument("--archs-per-epoch", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=200, help="per candidate, with early stopping")
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--top-k", type=int, default=5, help="candidates re-scored by cross-validation")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--keras-backend", default="auto", choices=["auto", "torch", "tensorflow"],
                        help="Keras's backend for the candidates; auto: TensorFlow on mnist1d and wine_quality, "
                             "torch on the others (the faster on each, measured)")
    parser.add_argument("--methods", nargs="*", default=METHODS, choices=ALL_METHODS,
                        help="run only these rows (e.g. to split the benchmark over two processes sharing --out); "
                             f"the ablations {EXTRA_METHODS} run only when named here")
    parser.add_argument("--jobs", type=int, default=1,
                        help="splits (data set, seed) run at once, each in its own process on one core")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mlp_vs_sklearn"))
    parser.add_argument("--table", action="store_true", help="print the README table from OUT/summary.json and stop")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild summary.json, paired_tests.json and summary.md from OUT/runs.jsonl alone "
                             "(after a stopped run), print the table and stop")
    return parser


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.table:
        path = out / "summary.json"
        if not path.exists():
            parser.error(f"{path} not found: run the benchmark first (or pass --out)")
        tests, extra = read_tests(out)
        print(table(json.loads(path.read_text()), tests, extra), end="")
        return 0
    if args.rebuild:
        runs = read_runs(out / "runs.jsonl")
        if not runs:
            parser.error(f"{out / 'runs.jsonl'} holds no runs: run the benchmark first (or pass --out)")
        budgets = sorted({json.dumps(r["budget"]) for r in runs})
        command = ("python benchmarks/mlp_vs_sklearn.py --rebuild, from runs.jsonl (budget [controller epochs, archs "
                   "per epoch, max epochs, patience, top k, folds]: " + ", ".join(budgets) + ")")
        summary, tests, extra = write_outputs(out, runs, command)
        print(table(summary, tests, extra), end="")
        return 0
    for name in ("controller_epochs", "archs_per_epoch", "max_epochs", "patience", "top_k", "folds", "jobs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not args.seeds or min(args.seeds) < 0:
        parser.error("--seeds needs one or more non-negative integers")
    if "wine_quality" in args.datasets and not (ROOT / WINE_QUALITY).exists():
        parser.error(f"wine_quality needs {WINE_QUALITY} in the repository; leave it out with --datasets")
    _process_setup(args.methods)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    runs = read_runs(log)
    budget = [args.controller_epochs, args.archs_per_epoch, args.max_epochs, args.patience, args.top_k, args.folds]
    from nas_data.tabular import TEST_FRACTION, load_xy

    todo = []
    for name in args.datasets:
        n = len(load_xy(spec_of(name))[1])
        for seed in seeds_for(name, args.seeds, int(np.ceil(n * TEST_FRACTION))):
            mine = [r for r in runs if r["dataset"] == name and r["seed"] == seed]
            if any(r["budget"] != budget for r in mine):
                parser.error(f"{log} already holds {name} seed {seed} at another budget "
                             f"{mine[0]['budget']} (not {budget}): pass that budget or another --out")
            done = {r["method"] for r in mine} | (set(ALL_METHODS) - set(args.methods))
            if not set(ALL_METHODS) <= done:
                todo.append((name, seed, done))
    failed = run_splits(todo, args, log)
    runs = read_runs(log)
    summary, tests, extra = write_outputs(out, runs, "python benchmarks/mlp_vs_sklearn.py "
                                          + " ".join(sys.argv[1:] if argv is None else argv))
    print(table(summary, tests, extra), end="")
    for name, seed, error in failed:
        print(f"mlp_vs_sklearn: {name} seed {seed} failed: {error}; rerun the same command to retry it", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
