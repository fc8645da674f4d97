"""The study tuner's ``classArgs`` checked before NNI starts: ``--set`` overrides merged into the config's
values, every key and nested option known, numbers in range, the data where it is said to be. Each problem is
one ``ValueError`` line that names the key and says what to write instead; nothing here imports torch."""
from __future__ import annotations

import difflib
import os

from nas_data.images import check_image_source
from nas_data.tabular import DataError
from nni_plumbing.checks import positive_int
from nni_spaces import MIN_CELLS, SPACE_NAMES
from strategies import POLICY_CLASSES, check_baseline

STUDIES = ("learning-progress", "reward-vs-accuracy", "search-vs-random", "tricks-ablation", "controller-transfer")
TRICKS = ("cutout", "drop_path", "auxiliary")
"""The training tricks the ablation switches (``trials/train_arch.py``); drop-path and the auxiliary head need cells."""
POLICY_NAMES = tuple(POLICY_CLASSES)
#: ``search`` values a study uses where its config names none.
SEARCH_DEFAULTS = {"epochs": 10, "batch_size": 64, "final_samples": 100, "figures_every": 0}

#: ``search`` options a study may set (``WeightSharingSearch``'s; the study sets snapshots and probes itself).
SEARCH_OPTIONS = ("epochs", "batch_size", "final_samples", "figures_every", "lr", "momentum", "weight_decay",
                  "grad_clip", "val_batch_size", "policy_steps", "samples_per_update", "baseline", "shuffle_rewards",
                  "null_twins")
#: Parameters of those two that the study and its trial set themselves (a test keeps the lists in sync).
SET_BY_THE_STUDY = ("space", "policy", "train_set", "val_set", "out", "seed", "device", "snapshot_epochs",
                    "probe_epoch", "probe_k", "holdout_set", "report", "log", "data", "init_policy")
#: ``retrain`` options (``trials.train_arch.train_architecture``'s protocol).
RETRAIN_OPTIONS = ("epochs", "batch_size", "lr", "cutout", "drop_path", "auxiliary")
#: ``space_args`` / ``retrain_space_args`` a study may set (the data set fixes the input shape and classes).
SPACE_OPTIONS = {"cell": ("width", "num_cells", "num_nodes", "ops", "auxiliary"), "enas-macro": ("width", "num_layers", "ops")}
DICT_ARGS = ("space_args", "retrain_space_args", "search", "retrain", "transfer_search")
LIST_ARGS = ("policies", "seeds", "tricks")


def _hint(key: str, known) -> str:
    near = difflib.get_close_matches(str(key), list(known), n=1)
    return f"did you mean {near[0]!r}?" if near else f"known: {', '.join(sorted(known))}"


def merge_overrides(class_args: dict, overrides: dict) -> dict:
    """``class_args`` with ``overrides`` applied: a dict-valued option (``search={epochs: 1}``) is merged into the
    config's dict, so the keys it does not name keep their values, and a key set to null is removed
    (``space_args={num_cells: null, num_layers: 6}`` moves a cell-space config to enas-macro); a single value
    where a list is expected (``seeds=0``) becomes a one-element list."""
    merged = dict(class_args)
    for key, value in overrides.items():
        if key in DICT_ARGS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {k: v for k, v in {**merged[key], **value}.items() if v is not None}
        else:
            merged[key] = value
    for key in LIST_ARGS:
        if key in merged and isinstance(merged[key], (int, str)) and not isinstance(merged[key], bool):
            merged[key] = [merged[key]]
    return merged


def _positive_int(name: str, value, least: int = 1) -> None:
    positive_int(f"classArgs: {name}", value, least)


def _positive_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"classArgs: {name} must be a positive number, got {value!r}")


def _options(name: str, value, known) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"classArgs: {name} must be a mapping such as {{{known[0]}: ...}}, got {value!r}")
    for key in value:
        if key not in known:
            raise ValueError(f"classArgs: unknown {name} option {key!r}; {_hint(key, known)}")
    return value


def _check_space_args(name: str, space: str, value) -> None:
    kind = "enas-macro" if space == "enas-macro" else "cell"
    options = _options(name, value, SPACE_OPTIONS[kind])
    for key in ("width", "num_nodes", "num_layers"):
        if key in options:
            _positive_int(f"{name}.{key}", options[key], 2 if (key, kind) == ("width", "enas-macro") else 1)
    if "num_cells" in options:
        _positive_int(f"{name}.num_cells", options["num_cells"], MIN_CELLS)


def _check_search(name: str, value) -> None:
    search = _options(name, value, SEARCH_OPTIONS)
    for key in ("epochs", "batch_size", "final_samples", "val_batch_size", "policy_steps", "samples_per_update"):
        if key in search:
            _positive_int(f"{name}.{key}", search[key])
    for key in ("figures_every", "null_twins"):
        if key in search:
            _positive_int(f"{name}.{key}", search[key], 0)
    if "baseline" in search:
        check_baseline(search["baseline"], f"classArgs: {name}.baseline")
    if "shuffle_rewards" in search and not isinstance(search["shuffle_rewards"], bool):
        raise ValueError(f"classArgs: {name}.shuffle_rewards must be true or false, got {search['shuffle_rewards']!r}")
    for key in ("lr", "grad_clip"):
        if key in search:
            _positive_number(f"{name}.{key}", search[key])


def check_study_args(args: dict, known_keys=None) -> None:
    """Raise ``ValueError`` (one line) on the first ``classArgs`` entry that cannot work; ``known_keys`` are the
    tuner's parameters (None: keys not checked). Relative ``data_dir`` values should be resolved first. The study
    tuner runs the same checks, so ``nnictl create`` gets the same lines as ``python -m studies run``."""
    for key in args:
        if known_keys is not None and key not in known_keys:
            raise ValueError(f"classArgs: unknown key {key!r}; {_hint(key, known_keys)}")
    study, space = args.get("study", "learning-progress"), args.get("space", "darts")
    if study not in STUDIES:
        raise ValueError(f"classArgs: study must be one of {', '.join(STUDIES)}, got {study!r}")
    if space not in SPACE_NAMES:
        raise ValueError(f"classArgs: space must be one of {', '.join(SPACE_NAMES)}, got {space!r}")
    for key in LIST_ARGS:
        if key in args and not isinstance(args[key], list):
            raise ValueError(f"classArgs: {key} must be a list such as [0, 1], got {args[key]!r}")
    _check_jobs(study, space, args)
    _check_space_args("space_args", space, args.get("space_args"))
    _check_space_args("retrain_space_args", space, args.get("retrain_space_args"))
    for name in ("search", "transfer_search"):
        _check_search(name, args.get(name))
    epochs = (args.get("search") or {}).get("epochs", SEARCH_DEFAULTS["epochs"])
    probe_epoch = args.get("probe_epoch")
    if study == "reward-vs-accuracy" and probe_epoch is not None and (
            isinstance(probe_epoch, bool) or not isinstance(probe_epoch, int) or not 0 <= probe_epoch < epochs):
        raise ValueError(f"classArgs: probe_epoch must lie in 0..{epochs - 1}, got {probe_epoch!r}")
    retrain = _options("retrain", args.get("retrain"), RETRAIN_OPTIONS)
    for key in ("epochs", "batch_size"):
        if key in retrain:
            _positive_int(f"retrain.{key}", retrain[key])
    if "lr" in retrain:
        _positive_number("retrain.lr", retrain["lr"])
    for key in ("cutout", "drop_path", "auxiliary"):
        if key in retrain and not isinstance(retrain[key], bool):
            raise ValueError(f"classArgs: retrain.{key} must be true or false, got {retrain[key]!r}")
    for key in ("k", "threads"):
        if key in args:
            _positive_int(key, args[key])
    if "retrain_seed" in args:
        _positive_int("retrain_seed", args["retrain_seed"], 0)
    _check_data("data", args.get("data", "digits"), "data_dir", args.get("data_dir"))
    if study == "controller-transfer":
        _check_data("transfer_data", args.get("transfer_data", "digits-hard"), "transfer_data_dir",
                    args.get("transfer_data_dir"))


def _check_jobs(study: str, space: str, args: dict) -> None:
    """What the study runs: its policies, seeds and tricks, and the combinations that cannot work."""
    policies, seeds, tricks = args.get("policies", ["ednas"]), args.get("seeds", [0]), args.get("tricks", list(TRICKS))
    if not policies or any(p not in POLICY_NAMES for p in policies):
        raise ValueError(f"classArgs: policies must be a list from {', '.join(POLICY_NAMES)}, got {policies!r}")
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"classArgs: seeds must be a list of non-negative integers, got {seeds!r}")
    if not tricks or any(t not in TRICKS for t in tricks) or len(set(tricks)) < len(tricks):
        raise ValueError(f"classArgs: tricks must be a list of distinct names from {', '.join(TRICKS)}, got {tricks!r}")
    if study == "controller-transfer" and "uniform" in policies:
        raise ValueError("classArgs: the uniform policy has no parameters to transfer; the controller-transfer "
                         "study takes policies from " + ", ".join(p for p in POLICY_NAMES if p != "uniform"))
    if study == "tricks-ablation" and space == "enas-macro" and set(tricks) - {"cutout"}:
        raise ValueError("classArgs: enas-macro has no cells, so only the cutout trick applies; set tricks: [cutout]")


def _check_data(name: str, data, dir_name: str, data_dir) -> None:
    if data_dir is not None and not isinstance(data_dir, str):
        raise ValueError(f"classArgs: {dir_name} must be a folder path, got {data_dir!r}")
    try:
        check_image_source(data, data_dir)
    except DataError as exc:
        message = str(exc).replace("(--data-dir)", f"({dir_name})").replace("--data-dir", dir_name)
        raise ValueError(f"classArgs: {'' if name == 'data' else name + ': '}{message}") from None


def resolve_paths(args: dict) -> dict:
    """``data_dir`` and ``transfer_data_dir`` as absolute paths against the user's working directory (NNI runs tuner and trials
    elsewhere, where a relative path means nothing)."""
    return {**args, **{key: os.path.abspath(os.path.expanduser(args[key])) for key in ("data_dir", "transfer_data_dir")
                       if isinstance(args.get(key), str)}}
