"""The trial NNI runs for the MLP NAS experiment: ``python -m mlp_nas.trial``.

It trains what the tuner sent: a Keras MLP (``method`` ``controller`` or ``random``) to convergence
(``mlp_nas.training``: up to 200 epochs, early stopping with patience 20 that restores the best
weights, learning rate halved on plateaus), or scikit-learn's default MLPClassifier
(``sklearn_default``), the baseline shown beside the NAS trials in the web UI. It reports the
validation accuracy after each epoch and a final dict whose ``default`` is the best validation
accuracy (of the restored weights) and which names what was really trained (architecture, sample
id, epochs trained, best epoch, fidelity) (NNI can hand a trial another trial's
parameters under concurrency, so the tuner trusts this echo, not its own records).
"""
from __future__ import annotations

import os
import sys
import time

from nni_plumbing import warm_start


def load_data(params: dict):
    """The split the tuner prepared; rebuilt from the dataset spec where its cache is not visible
    (a remote training service)."""
    from nas_data.tabular import DatasetSpec, cached_split, default_cache_dir, read_split

    data = params["data"]
    path = data.get("cache")
    if not path or not os.path.exists(path):
        spec = DatasetSpec.parse(data["dataset"], data.get("label"), data.get("drop"))
        path = cached_split(spec, data["seed"], default_cache_dir())
    return read_split(path)


def train_keras(params: dict, split, report) -> dict:
    """Train the sampled MLP to convergence (``mlp_nas.training``); ``report(epoch_accuracy)`` after every epoch.

    Trainers return the result dict with ``train_start``, the time their first training step began.
    ``train.max_epochs`` is the trial's fidelity (a multi-fidelity tuner may set it per sample); it is
    echoed back with the epochs actually trained and the best epoch, whose weights the model keeps.
    """
    train = params["train"]
    os.environ["KERAS_BACKEND"] = train.get("keras_backend", "torch")  # a warm server has set it already
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(train.get("threads", 1)))
            tf.config.threading.set_inter_op_parallelism_threads(int(train.get("threads", 1)))
        except RuntimeError:
            pass  # TensorFlow already running in this process (an in-process benchmark): its setting stands

    from .keras_model import BigramStore
    from .training import train_candidate

    store = BigramStore(train["bigram_dir"]) if train.get("bigram_dir") else None
    settings = {k: train.get(k) for k in ("max_epochs", "patience", "batch_size", "learning_rate", "l2",
                                          "lr_schedule", "threads")}
    _, info = train_candidate(params["arch"], split.x_train, split.y_train, split.x_val, split.y_val, split.n_classes,
                              settings, int(params["seed"]), report, store)
    info.pop("train_s")
    return {"default": info.pop("val_acc"), **info, "keras_backend": keras.backend.backend()}


def train_sklearn_default(params: dict, split, report) -> dict:
    from .sklearn_mlp import fit_score

    started = time.time()
    acc = fit_score(None, split.x_train, split.y_train, split.x_val, split.y_val, int(params["seed"]))
    report(acc)
    return {"default": acc, "train_start": started}


def main() -> int:
    from nni_plumbing import faults
    faults.inject()  # no-op unless tests/test_faults.py planned a fault for this trial
    from nni_plumbing import mixup

    mixup.install()  # train the parameters NNI recorded for this trial id (NNI 3.0 can hand out another's)
    started_process = warm_start.process_started()
    import nni

    params = nni.get_next_parameter()
    if not params or "method" not in params:
        print("mlp_nas.trial: no parameters from NNI; run it inside an experiment "
              "(nnictl create --config nni_config.yml)", file=sys.stderr)
        return 2
    split = load_data(params)
    trainer = train_sklearn_default if params["method"] == "sklearn_default" else train_keras
    result = trainer(params, split, nni.report_intermediate_result)
    now, started = time.time(), result.pop("train_start")
    # Start-up: process start, imports (NNI, Keras) and data, up to the first training step.
    result.update(method=params["method"], sample_id=params["sample_id"], epoch=params.get("epoch"),
                  arch=params.get("arch"), startup_s=started - started_process,
                  train_s=now - started, wall_s=now - started_process)
    nni.report_final_result(result)
    return 0


if __name__ == "__main__":
    code = warm_start.delegate("mlp_nas.trial:main", warm_start.process_started())
    sys.exit(main() if code is None else code)
