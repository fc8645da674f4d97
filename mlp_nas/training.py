"""Train one MLP candidate to convergence, the same way in a trial, a cross-validation fold and a benchmark.

Early stopping watches validation loss with a patience (default 20 epochs, up to 200) and restores
the weights of the best epoch, so the score a candidate reports (validation accuracy) is the score
of the model it keeps; ReduceLROnPlateau halves the learning rate when validation loss stalls.
Validation loss, not accuracy, picks the epoch: on small validation sets accuracy ties over many
epochs (the first of them would win, often an underfit one) and its maximum over a long curve is
an optimistic, noisy pick. Every candidate gets the same protocol, which is what makes rewards
comparable across candidates. An architecture
may carry its own ``"train"`` hyperparameters (learning rate, L2, batch size: the training tokens of
``mlp_nas.space``); they override the settings.
"""
from __future__ import annotations

import os
import time

import numpy as np

DEFAULTS = {"max_epochs": 200, "patience": 20, "batch_size": 64, "learning_rate": 1e-3, "l2": 0.0,
            "lr_schedule": "plateau", "threads": 1}
LR_SCHEDULES = ("plateau", "none")


def settings_for(arch: dict, settings: dict | None = None) -> dict:
    """The training settings of ``arch``: DEFAULTS, then ``settings``, then the architecture's own tokens."""
    out = {**DEFAULTS, **{k: v for k, v in (settings or {}).items() if v is not None}}
    out.update(arch.get("train") or {})
    if out["lr_schedule"] not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {out['lr_schedule']!r}")
    return out


def set_threads_and_seed(threads: int, seed: int):
    """Limit the backend to ``threads`` CPU threads and seed Python, NumPy and the backend; returns keras."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(int(threads))
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:  # possible only before TensorFlow's runtime starts: the first candidate of a process sets it
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:
            pass
    keras.utils.set_random_seed(int(seed))
    return keras


def train_candidate(arch: dict, x_train, y_train, x_val, y_val, n_classes: int, settings: dict | None = None,
                    seed: int = 0, report=None, store=None):
    """Train ``arch`` with early stopping on (x_val, y_val); returns (model with the best epoch's weights, info).

    ``report(val_accuracy)`` is called after every epoch (NNI's intermediate results); ``store`` is an
    optional bigram weight store. ``info`` holds the reward (``val_acc``, the restored model's validation
    accuracy), ``best_epoch`` (1-based), ``epochs_trained``, the curves and the learning rate per epoch.
    """
    s = settings_for(arch, settings)
    keras = set_threads_and_seed(s["threads"], seed)
    from .keras_model import build_model, dense_keys

    model = build_model(arch, x_train.shape[1], n_classes, float(s["learning_rate"]), float(s["l2"]))
    keys = dense_keys(arch, x_train.shape[1], n_classes)
    reused = store.load_into(model, keys) if store else 0
    lrs: list[float] = []

    class Track(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # the rate this epoch trains with
            lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

        def on_epoch_end(self, epoch, logs=None):
            if report is not None:
                report(float(logs["val_accuracy"]))

    patience = int(s["patience"])
    callbacks = [keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True),
                 keras.callbacks.TerminateOnNaN(), Track()]
    if s["lr_schedule"] == "plateau":
        callbacks.insert(0, keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=max(1, patience // 2),
                                                              min_lr=1e-5))
    started = time.time()
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=int(s["max_epochs"]),
                        batch_size=int(s["batch_size"]), verbose=0, callbacks=callbacks)
    curve = [float(a) for a in history.history["val_accuracy"]]
    losses = [float(v) for v in history.history["val_loss"]]
    finite = [v if np.isfinite(v) else np.inf for v in losses]
    best = int(np.argmin(finite))  # the first epoch with the lowest loss: the one EarlyStopping kept
    if store and all(np.isfinite(history.history["loss"])):
        store.save_from(model, keys)
    reward = curve[best] if np.isfinite(losses[best]) else float("nan")  # diverged: the tuner counts it failed
    info = {"val_acc": reward, "val_loss": losses[best], "best_epoch": best + 1, "epochs_trained": len(curve),
            "max_epochs": int(s["max_epochs"]), "curve": curve, "lr_curve": lrs[: len(curve)],
            "n_params": int(model.count_params()), "reused_layers": reused, "train_start": started,
            "train_s": time.time() - started, "settings": {k: s[k] for k in ("batch_size", "learning_rate", "l2",
                                                                              "lr_schedule", "patience")}}
    return model, info


def fit_fixed(arch: dict, x, y, n_classes: int, epochs: int, settings: dict | None = None, seed: int = 0,
              lr_curve: list[float] | None = None):
    """Train ``arch`` on (x, y) for exactly ``epochs`` epochs, no validation data (the final retrain).

    ``lr_curve`` replays a learning-rate schedule recorded by :func:`train_candidate` (its last value holds
    beyond its end), so the retrain sees the schedule the chosen epoch count was measured under."""
    s = settings_for(arch, settings)
    keras = set_threads_and_seed(s["threads"], seed)
    from .keras_model import build_model

    model = build_model(arch, x.shape[1], n_classes, float(s["learning_rate"]), float(s["l2"]))
    callbacks = []
    if lr_curve:
        callbacks.append(keras.callbacks.LearningRateScheduler(lambda e, lr: float(lr_curve[min(e, len(lr_curve) - 1)])))
    model.fit(x, y, epochs=max(1, int(epochs)), batch_size=int(s["batch_size"]), verbose=0, callbacks=callbacks)
    return model


def predict_proba(model, x, n_classes: int) -> np.ndarray:
    """Class probabilities, shape (n, n_classes), also for the one-unit sigmoid head of two classes."""
    p = np.asarray(model.predict(x, verbose=0, batch_size=1024), dtype=np.float64)
    if n_classes == 2 and p.shape[1] == 1:
        p = np.concatenate([1 - p, p], axis=1)
    return p


def accuracy(model, x, y, n_classes: int) -> float:
    return float(np.mean(predict_proba(model, x, n_classes).argmax(axis=1) == y))
