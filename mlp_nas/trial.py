"""The trial NNI runs for the MLP NAS experiment: ``python -m mlp_nas.trial``.

It trains what the tuner sent: a Keras MLP (``method`` ``controller`` or ``random``) with Adam
1e-3 and early stopping on the validation split, or scikit-learn's default MLPClassifier
(``sklearn_default``), the baseline shown beside the NAS trials in the web UI. It reports the
validation accuracy after each epoch and a final dict whose ``default`` is the best validation
accuracy and which names what was really trained (NNI can hand a trial another trial's
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
    """Train the sampled MLP; ``report(epoch_accuracy)`` is called after every epoch.

    Trainers return the result dict with ``train_start``, the time their first training step began.
    """
    train = params["train"]
    os.environ["KERAS_BACKEND"] = train.get("keras_backend", "torch")  # a warm server has set it already
    import keras

    threads = int(train.get("threads", 1))
    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(threads)
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    keras.utils.set_random_seed(int(params["seed"]))

    from .keras_model import BigramStore, build_model, dense_keys

    arch = params["arch"]
    model = build_model(arch, split.n_features, split.n_classes, train.get("learning_rate", 1e-3))
    store = BigramStore(train["bigram_dir"]) if train.get("bigram_dir") else None
    keys = dense_keys(arch, split.n_features, split.n_classes)
    reused = store.load_into(model, keys) if store else 0

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            report(float(logs["val_accuracy"]))

    started = time.time()
    history = model.fit(
        split.x_train, split.y_train, validation_data=(split.x_val, split.y_val),
        epochs=int(train.get("max_epochs", 10)), batch_size=int(train.get("batch_size", 32)), verbose=0,
        callbacks=[keras.callbacks.EarlyStopping("val_accuracy", patience=int(train.get("patience", 3)),
                                                 restore_best_weights=True),
                   keras.callbacks.TerminateOnNaN(), Report()])
    curve = [float(a) for a in history.history["val_accuracy"]]
    if store and all(map(lambda a: a == a, history.history["loss"])):
        store.save_from(model, keys)
    best = max(range(len(curve)), key=curve.__getitem__)
    return {"default": curve[best], "best_epoch": best + 1, "curve": curve, "n_params": int(model.count_params()),
            "reused_layers": reused, "keras_backend": keras.backend.backend(), "train_start": started}


def train_sklearn_default(params: dict, split, report) -> dict:
    from .sklearn_mlp import fit_score

    started = time.time()
    acc = fit_score(None, split.x_train, split.y_train, split.x_val, split.y_val, int(params["seed"]))
    report(acc)
    return {"default": acc, "train_start": started}


def main() -> int:
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
