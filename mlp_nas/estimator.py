"""The MLP NAS as a scikit-learn classifier: ``MLPNASClassifier().fit(X, y).predict(X)``.

``fit`` runs the default experiment's search (``nni_config.yml``: the same tuner, trials and settings,
each overridable here) as a real NNI experiment on a stratified train/validation split of ``X, y``,
then refits the best architecture on all of ``X``. So a scikit-learn user gets a NAS search inside
``Pipeline``, ``cross_val_score`` or ``GridSearchCV`` without writing a YAML file.

``mode="in_process"`` runs the same tuner class and the same trial training function in this process,
one trial at a time, with no NNI manager: for notebooks and scikit-learn's estimator checks.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import sys
import tempfile
import time
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from nni_plumbing.checks import trial_seed

from .halving import best_evidence, trials_per_epoch
from .space import PRIORS

_logger = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "nni_config.yml"
# The largest search seed: the trials seed Keras with seed * 100003 + sample id, which NumPy needs below 2**32.
MAX_SEED = 40_000
MIN_PER_CLASS = 3  # the tuner's stratified split puts each class in train, validation and its held-out part

# Estimator parameter -> the tuner's classArgs key it sets (None: keep nni_config.yml's value).
_TUNER_ARGS = {
    "sampler": "sampler", "prior": "prior", "archs_per_epoch": "archs_per_epoch", "max_layers": "max_layers",
    "max_epochs": "max_epochs", "patience": "patience", "batch_size": "batch_size",
    "learning_rate": "learning_rate", "keras_backend": "keras_backend", "trial_threads": "trial_threads",
    "sklearn_baseline": "sklearn_baseline", "lstm_units": "lstm_units", "controller_lr": "controller_lr",
    "entropy_weight": "entropy_weight", "baseline_decay": "baseline_decay", "predictor": "predictor",
    "bigram_sharing": "bigram_sharing", "train_tokens": "train_tokens", "halving_rungs": "halving_rungs",
    "halving_eta": "halving_eta",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _env(**values):
    """Set environment variables for the block, then restore them."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _import_keras(backend: str | None):
    """Keras, on ``backend`` if Keras is not loaded yet. With TensorFlow already loaded it stays on TensorFlow:
    loading torch's backend after TensorFlow crashes on this stack."""
    if "keras" not in sys.modules:
        if backend == "torch" and "tensorflow" not in sys.modules:
            os.environ["KERAS_BACKEND"] = "torch"
            import torch  # noqa: F401  (before Keras and TensorFlow, the order that works)
        else:
            os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras

    return keras


class MLPNASClassifier(ClassifierMixin, BaseEstimator):
    """Neural architecture search for an MLP classifier (the LSTM controller of MLPNAS, run on NNI).

    Every search setting left at ``None`` takes the default experiment's value (``nni_config.yml``).

    Parameters
    ----------
    max_trials : int or None
        Architectures to train in the search (not counting the scikit-learn baseline trial); a multiple of
        ``archs_per_epoch``. None: the default experiment's ``controller_epochs * archs_per_epoch``.
    concurrency : int or None
        Trials NNI runs at once (``trialConcurrency``). ``in_process`` runs one at a time.
    sampler : {"controller", "random"}
        The LSTM controller (REINFORCE), or uniform-random sampling over the same token space.
    prior : {"tokens", "layerwise"} or None
        Where the sampler starts: every valid token alike at each step (the seed study's), or the distribution
        NNI's tuners draw from the nnictl export (depth uniform, a dropout layer after each layer with probability
        1/2). None: ``nni_config.yml``'s value ("tokens").
    random_state : int, RandomState or None
        Seeds the split, every sample and the refit. An int below 40000 is the seed of
        ``python -m mlp_nas run --seed``; same int, same architectures.
    port : int or None
        NNI web UI port; None picks a free one.
    archs_per_epoch, max_layers, lstm_units, controller_lr, entropy_weight, baseline_decay, predictor, bigram_sharing
        The controller: architectures per policy update, at most this many hidden layers, its size and training.
    train_tokens : bool or None
        The sampler also picks each candidate's learning rate, L2 and batch size; they replace ``learning_rate`` and
        ``batch_size`` for that candidate, and the refit uses the pick's. None: ``nni_config.yml``'s value (false).
    max_epochs, patience, batch_size, learning_rate, trial_threads, keras_backend
        Each trial's training (Adam; early stopping on validation loss, best weights restored; the learning rate
        halved on plateaus) and the refit's.
    halving_rungs, halving_eta : int or None
        Successive halving inside each controller epoch: the epoch's architectures train for
        ``max_epochs / halving_eta ** (halving_rungs - 1)`` epochs, the best ``1 / halving_eta`` of them again
        ``halving_eta`` times longer, up to ``max_epochs`` (``max_trials`` counts architectures, not these
        re-trainings). None: ``nni_config.yml``'s value (1 rung: every architecture trains up to ``max_epochs``).
    top_k : int
        1: the pick is the best validation score of the search. k > 1: the top ``k`` distinct architectures are
        re-scored by ``cv_folds``-fold cross-validation on X (each fold early-stopping on part of its training
        rows), and the best mean is picked and refit for the median of its folds' best epochs: the selection of
        ``python -m mlp_nas run``'s report, which the best of many noisy validation scores does not fool.
    cv_folds : int
        Folds of that re-scoring.
    sklearn_baseline : bool or None
        Also train scikit-learn's default MLPClassifier as one trial, shown beside the search (never picked).
    mode : {"nni", "in_process"}
        A real NNI experiment (web UI, trials as processes), or the same tuner and trial code in this process.
    working_dir : str or None
        NNI's experiment folder; None: NNI's own (``~/nni-experiments``, so ``nnictl view ID`` works later).
    verbose : int
        0: silent; 1: the web UI address and progress.
    """

    _parameter_constraints: dict = {
        "max_trials": [Interval(Integral, 1, None, closed="left"), None],
        "concurrency": [Interval(Integral, 1, None, closed="left"), None],
        "sampler": [StrOptions({"controller", "random"})],
        "prior": [StrOptions(set(PRIORS)), None],
        "random_state": ["random_state"],
        "port": [Interval(Integral, 1024, 65535, closed="both"), None],
        "archs_per_epoch": [Interval(Integral, 1, None, closed="left"), None],
        "max_layers": [Interval(Integral, 1, 50, closed="both"), None],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "trial_threads": [Interval(Integral, 1, None, closed="left"), None],
        "keras_backend": [StrOptions({"torch", "tensorflow"}), None],
        "sklearn_baseline": ["boolean", None],
        "lstm_units": [Interval(Integral, 1, None, closed="left"), None],
        "controller_lr": [Interval(Real, 0, None, closed="neither"), None],
        "entropy_weight": [Interval(Real, 0, None, closed="left"), None],
        "baseline_decay": [Interval(Real, 0, 1, closed="both"), None],
        "predictor": ["boolean", None],
        "bigram_sharing": ["boolean", None],
        "train_tokens": ["boolean", None],
        "halving_rungs": [Interval(Integral, 1, None, closed="left"), None],
        "halving_eta": [Interval(Integral, 2, None, closed="left"), None],
        "top_k": [Interval(Integral, 1, None, closed="left")],
        "cv_folds": [Interval(Integral, 2, None, closed="left")],
        "mode": [StrOptions({"nni", "in_process"})],
        "working_dir": [str, os.PathLike, None],
        "verbose": ["verbose"],
    }

    def __init__(self, max_trials=None, concurrency=None, sampler="controller", random_state=None, port=None, *,
                 archs_per_epoch=None, max_layers=None, max_epochs=None, patience=None, batch_size=None,
                 learning_rate=None, trial_threads=None, keras_backend=None, sklearn_baseline=None, lstm_units=None,
                 controller_lr=None, entropy_weight=None, baseline_decay=None, predictor=None, bigram_sharing=None,
                 train_tokens=None, halving_rungs=None, halving_eta=None, top_k=1, cv_folds=3, mode="nni",
                 working_dir=None, verbose=1, prior=None):
        self.max_trials = max_trials
        self.concurrency = concurrency
        self.sampler = sampler
        self.prior = prior
        self.random_state = random_state
        self.port = port
        self.archs_per_epoch = archs_per_epoch
        self.max_layers = max_layers
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.trial_threads = trial_threads
        self.keras_backend = keras_backend
        self.sklearn_baseline = sklearn_baseline
        self.lstm_units = lstm_units
        self.controller_lr = controller_lr
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        self.predictor = predictor
        self.bigram_sharing = bigram_sharing
        self.train_tokens = train_tokens
        self.halving_rungs = halving_rungs
        self.halving_eta = halving_eta
        self.top_k = top_k
        self.cv_folds = cv_folds
        self.mode = mode
        self.working_dir = working_dir
        self.verbose = verbose

    # ----- fitting -----
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Search architectures on a stratified train/validation split of ``X, y``, then refit the best on all of X."""
        seed = self._seed()
        class_args = self._search_settings()  # bad settings fail before anything is stored
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has one class ({str(self.classes_[0])!r}); a classifier needs two or more classes")
        counts = np.bincount(codes)
        if counts.min() < MIN_PER_CLASS:
            raise ValueError(f"class {str(self.classes_[counts.argmin()])!r} has {counts.min()} example(s); the stratified "
                             f"train/validation split needs at least {MIN_PER_CLASS} per class")
        _check_splittable(X, codes, seed)
        with tempfile.TemporaryDirectory(prefix="mlp_nas_estimator_") as tmp:
            csv = Path(tmp) / "data.csv"
            _write_csv(csv, X, codes)
            class_args.update(dataset=str(csv), label="label", drop=[], seed=seed)
            if self.mode == "nni":
                exp_dir = self._search_nni(class_args)
            else:
                exp_dir = _search_in_process(class_args, Path(tmp) / "in_process", self.verbose)
            from .report import load_history

            history = load_history(exp_dir)
        self.experiment_dir_ = str(exp_dir) if self.mode == "nni" else None  # in process: a removed temporary folder
        self.search_results_ = [_result_row(r) for r in history["samples"]]
        nas = [r for r in history["samples"] if r["method"] != "sklearn_default" and r["status"] == "done"]
        if not nas:
            raise RuntimeError(f"no architecture trial of the search succeeded (see {exp_dir}/log or trials/*/stderr)")
        from sklearn.preprocessing import StandardScaler

        self.scaler_ = StandardScaler().fit(X)
        x = self.scaler_.transform(X).astype(np.float32)
        config = history["config"]
        if self.top_k > 1:
            self._select(nas, x, codes, config, seed)
            return self
        best = best_evidence(nas)[0]  # the best score at the highest fidelity (halving); ties: the earlier sample
        self.best_architecture_ = best["trained_arch"]
        self.best_score_ = float(best["accuracy"])
        self.best_epochs_ = int(best.get("best_epoch") or config["max_epochs"])
        self.rescored_ = None
        self._refit(x, codes, config, best)
        return self

    def _settings(self, config: dict) -> dict:
        """The search's training settings for the refit and the re-scoring, in this process's torch threads."""
        keras = _import_keras(config.get("keras_backend", "torch"))
        settings = {k: config.get(k) for k in ("learning_rate", "batch_size", "max_epochs", "patience")}
        if keras.backend.backend() == "torch":  # mlp_nas.training sets torch's threads: keep this process's
            import torch

            settings["threads"] = torch.get_num_threads()
        return settings

    def _select(self, nas: list[dict], x, codes, config: dict, seed: int) -> None:
        """``top_k`` > 1: cross-validated re-scoring of the top ``k`` on X, then the pick's refit."""
        from .selection import KerasFitter, search_candidates, select

        fitter = KerasFitter(len(self.classes_), self._settings(config))
        sel = select(search_candidates(nas), x, codes, fitter, k=self.top_k, folds=self.cv_folds, seed=seed,
                     ensemble=False)
        self.best_architecture_ = sel.pick["arch"]
        self.best_score_ = float(sel.pick["val_acc"])
        self.best_epochs_ = int(sel.pick["retrain_epochs"])
        self.rescored_ = [{"sample_id": c["sample_id"], "search_rank": c["search_rank"], "val_accuracy": c["val_acc"],
                           "cv_scores": c["cv_scores"], "cv_mean": c["cv_mean"], "retrain_epochs": c["retrain_epochs"],
                           "architecture": c["arch"]} for c in sel.rescored]
        self.model_ = sel.model

    def _seed(self) -> int:
        if isinstance(self.random_state, Integral) and 0 <= self.random_state < MAX_SEED:
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(0, MAX_SEED))

    def _search_settings(self) -> dict:
        """The tuner's classArgs: the default experiment's, overridden by every parameter that is not None."""
        defaults = _default_class_args()
        args = {key: getattr(self, name) for name, key in _TUNER_ARGS.items() if getattr(self, name) is not None}
        args = {key: value.item() if isinstance(value, np.generic) else value for key, value in args.items()}  # JSON
        per_epoch = args.get("archs_per_epoch", defaults.get("archs_per_epoch", 10))
        if self.max_trials is not None:
            per_epoch = min(per_epoch, self.max_trials)
            if self.max_trials % per_epoch:
                raise ValueError(f"max_trials={self.max_trials} is not a multiple of archs_per_epoch={per_epoch}: the "
                                 "controller updates once per archs_per_epoch trials; change either")
            args.update(archs_per_epoch=per_epoch, controller_epochs=self.max_trials // per_epoch)
        from .tuner import validate_class_args

        validate_class_args({**defaults, **args})
        return args

    def _search_nni(self, class_args: dict) -> Path:
        """The default experiment with these classArgs, as a real NNI experiment; returns its folder."""
        from .launch import build_configs, run_search

        if not DEFAULT_CONFIG.is_file():
            raise FileNotFoundError(f"{DEFAULT_CONFIG} not found: mode='nni' runs the repository's default experiment; "
                                    "use it from a checkout of the toolkit, or pass mode='in_process'")
        nas, _ = build_configs(DEFAULT_CONFIG, None, self.concurrency, **class_args)
        nas.experiment_name = "mlp-nas-estimator"
        if self.working_dir is not None:
            nas.experiment_working_directory = str(Path(self.working_dir).expanduser().resolve())
        port = self.port or _free_port()
        _logger.info("MLPNASClassifier: NNI experiment starting; web UI at http://127.0.0.1:%d", port)
        with contextlib.ExitStack() as stack:
            if not self.verbose:  # silence the runner's address line and progress bar
                quiet = stack.enter_context(open(os.devnull, "w"))
                stack.enter_context(contextlib.redirect_stdout(quiet))
                stack.enter_context(contextlib.redirect_stderr(quiet))
            exp_dir, _ = run_search(nas, None, port)
        return exp_dir

    def _refit(self, x, codes, config: dict, best: dict) -> None:
        """Train the chosen architecture from scratch on all of X for the epochs early stopping chose in the search,
        replaying the learning-rate schedule those epochs were measured under (as the report's final retrain does)."""
        from .training import fit_fixed

        self.model_ = fit_fixed(self.best_architecture_, x, codes, len(self.classes_), self.best_epochs_,
                                self._settings(config), trial_seed(config["seed"], best["sample_id"]),
                                best.get("lr_curve"))

    # ----- prediction -----
    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        out = np.asarray(self.model_.predict(self.scaler_.transform(X).astype(np.float32), verbose=0), dtype=np.float64)
        if len(self.classes_) == 2:  # one sigmoid unit: P(classes_[1])
            out = np.hstack([1.0 - out, out])
        return out

    def predict(self, X):
        """The most probable class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # ----- pickling: a Keras model is rebuilt from its architecture and weights -----
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the live estimator keeps its model
        model = state.pop("model_", None)
        if model is not None:
            state["_model_weights"] = [np.asarray(w) for w in model.get_weights()]
        return state

    def __setstate__(self, state):
        weights = state.pop("_model_weights", None)
        super().__setstate__(state)
        if weights is not None:
            _import_keras(self.keras_backend or "torch")
            from .keras_model import build_model

            self.model_ = build_model(self.best_architecture_, self.n_features_in_, len(self.classes_))
            self.model_.set_weights(weights)


def _default_class_args() -> dict:
    """The default experiment's classArgs (``nni_config.yml``), read without NNI's config classes."""
    import yaml

    if not DEFAULT_CONFIG.is_file():
        return {}
    with DEFAULT_CONFIG.open() as f:
        return dict((yaml.safe_load(f).get("tuner") or {}).get("classArgs") or {})


def _check_splittable(X: np.ndarray, codes: np.ndarray, seed: int) -> None:
    """Split here as the tuner will, so that too small a data set fails with one line before NNI starts."""
    from nas_data.tabular import make_split

    try:
        make_split(X.astype(np.float32), codes, [str(c) for c in np.unique(codes)], seed)
    except ValueError as exc:
        raise ValueError(f"X, y are too small for the search's stratified split ({exc}); pass more examples per class") from None


def _write_csv(path: Path, X: np.ndarray, codes: np.ndarray) -> None:
    """X and the integer class codes as the CSV data set the tuner reads (``dataset`` + ``label`` classArgs)."""
    from nas_data.files import atomic_write

    header = ",".join([f"x{j}" for j in range(X.shape[1])] + ["label"])
    table = np.column_stack([X, codes])
    fmt = ["%.17g"] * X.shape[1] + ["%d"]
    atomic_write(path, lambda f: np.savetxt(f, table, fmt=fmt, delimiter=",", header=header, comments=""))


def _result_row(record: dict) -> dict:
    """One trial of the search, as ``search_results_`` shows it."""
    from .space import describe

    arch = record.get("trained_arch") or record.get("arch")
    return {"sample_id": record["sample_id"], "method": record["method"], "controller_epoch": record.get("epoch"),
            "status": record["status"], "val_accuracy": record.get("accuracy"),
            "architecture": describe(arch) if arch else "sklearn MLPClassifier (defaults)",
            "layers": arch["layers"] if arch else None, "train": arch.get("train") if arch else None,
            "settings": record.get("settings"), "n_params": record.get("n_params"),
            "rung": record.get("rung"), "max_epochs": record.get("max_epochs"),
            "best_epoch": record.get("best_epoch"), "train_s": record.get("train_s"),
            "parameter_id": record.get("parameter_id"), "trial_job_id": record.get("trial_job_id")}


def _run_trial(params: dict) -> dict:
    """What ``python -m mlp_nas.trial`` does for one parameter set, minus NNI: the same loading and training."""
    from . import trial

    split = trial.load_data(params)
    trainer = trial.train_sklearn_default if params["method"] == "sklearn_default" else trial.train_keras
    result = trainer(params, split, lambda accuracy: None)
    started = result.pop("train_start", None)
    result.update(method=params["method"], sample_id=params["sample_id"], epoch=params.get("epoch"),
                  arch=params.get("arch"), train_s=None if started is None else time.time() - started)
    return result


def _search_in_process(class_args: dict, exp_dir: Path, verbose: int) -> Path:
    """Drive ``MLPNASTuner`` through NNI's tuner API here, one trial at a time; returns the experiment folder.

    The tuner is the one NNI runs (its checkpoint folder is ``exp_dir/checkpoint``); each trial calls the trial
    program's training function. Requests the tuner holds while an epoch is open are answered through the
    ``st_callback``, as NNI's dispatcher does.
    """
    from nni_plumbing.progress import Progress

    from .tuner import MLPNASTuner

    exp_dir.mkdir(parents=True, exist_ok=True)
    if class_args.get("sampler", "controller") == "controller":
        _import_keras("tensorflow")  # the controller trains with TensorFlow's GradientTape
    else:
        _import_keras(class_args.get("keras_backend", "torch"))  # the trials' backend, while Keras is not loaded
    with _env(NNI_CHECKPOINT_DIRECTORY=exp_dir / "checkpoint"):
        tuner = MLPNASTuner(**class_args, warm_start=False)
    tuner.update_search_space({})
    ready: list[tuple[int, dict]] = []
    config = tuner.config
    per_epoch = trials_per_epoch(config["archs_per_epoch"], config["halving_rungs"], config["halving_eta"])
    total = config["controller_epochs"] * per_epoch + int(config["sklearn_baseline"])
    progress = Progress("mlp-nas (in process)", total, stream=sys.stderr) if verbose else None
    next_id, held, done, failed, best = 0, False, 0, 0, None

    def served(parameter_id, params):
        nonlocal held
        held = False
        ready.append((parameter_id, params))

    try:
        while True:
            if not ready and not held:
                out = tuner.generate_multiple_parameters([next_id], st_callback=served)
                if out:
                    ready.append((next_id, out[0]))
                else:
                    held = not tuner.finished
                next_id += 1
            if not ready:
                if tuner.finished:
                    break
                raise RuntimeError("the tuner holds a request with no trial running: its epoch can never end")
            parameter_id, params = ready.pop(0)
            if progress:
                progress.update(done=done, running=1, failed=failed, best=best)
            try:
                result = _run_trial(params)
            except Exception as exc:  # a crashed trial ends unsuccessfully, as under NNI
                _logger.warning("trial %s (sample %s) failed: %s", parameter_id, params.get("sample_id"), exc)
                failed += 1
                tuner.trial_end(parameter_id, False)
                continue
            accuracy = result.get("default")
            if isinstance(accuracy, float) and math.isfinite(accuracy):
                done += 1
                best = accuracy if best is None else max(best, accuracy)
            else:
                failed += 1
            tuner.receive_trial_result(parameter_id, params, result, trial_job_id=f"in_process_{parameter_id}")
            tuner.trial_end(parameter_id, True)
    finally:
        if progress:
            progress.update(done=done, running=0, failed=failed, best=best)
            progress.close()
    return exp_dir
