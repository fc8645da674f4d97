"""Build a Keras MLP from an architecture dict, and the bigram weight store shared across trials.

Bigram sharing (the MLPNAS overview by Minutoli and Ciranni, section 4.1): a Dense layer's weights are keyed
by (previous layer, this layer); a new trial whose network holds the same pair starts from the stored weights and writes
its trained weights back. Files are replaced atomically, so trials writing at the same time never
leave a half-written file (the last writer wins).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nas_data.files import atomic_write

from .space import DROPOUT_RATE

TF_STEPS_PER_EXECUTION = 32


def output_layer(n_classes: int) -> tuple[int, str, str]:
    """(units, activation, loss) of the output layer: one sigmoid unit for two classes, else softmax."""
    if n_classes == 2:
        return 1, "sigmoid", "binary_crossentropy"
    return n_classes, "softmax", "sparse_categorical_crossentropy"


def dense_keys(arch: dict, n_features: int, n_classes: int) -> list[str]:
    """The bigram key of every Dense layer, output layer included, in order."""
    names, prev = [], f"in{n_features}"
    for layer in arch["layers"]:
        if layer == "dropout":
            continue
        this = f"{layer[0]}{layer[1]}"
        names.append(f"{prev}__{this}")
        prev = this
    units, activation, _ = output_layer(n_classes)
    names.append(f"{prev}__out{units}{activation}")
    return names


def build_model(arch: dict, n_features: int, n_classes: int, learning_rate: float = 1e-3, l2: float = 0.0):
    """A compiled Keras model: the hidden layers of ``arch``, then the task's output layer; Adam.
    ``l2`` > 0 puts that L2 penalty on every Dense kernel."""
    import keras

    units, activation, loss = output_layer(n_classes)
    reg = keras.regularizers.L2(l2) if l2 else None
    layers = [keras.Input((n_features,))]
    for layer in arch["layers"]:
        if layer == "dropout":
            layers.append(keras.layers.Dropout(DROPOUT_RATE))
        else:
            layers.append(keras.layers.Dense(layer[0], activation=layer[1], kernel_regularizer=reg))
    layers.append(keras.layers.Dense(units, activation=activation, kernel_regularizer=reg))
    model = keras.Sequential(layers)
    # TensorFlow runs 32 steps per call of its compiled function: its per-step overhead is what makes a
    # small MLP slow (1.35-1.7x faster on mnist1d and wine quality, docs/mlp_nas.md); callbacks are per epoch
    steps = TF_STEPS_PER_EXECUTION if keras.backend.backend() == "tensorflow" else 1
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"],
                  steps_per_execution=steps)
    return model


def dense_layers(model) -> list:
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


class BigramStore:
    """A folder of ``.npz`` files, one per bigram key, holding that Dense layer's kernel and bias."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def load_into(self, model, keys: list[str]) -> int:
        """Copy stored weights into the matching layers; returns how many layers were reused."""
        reused = 0
        for layer, key in zip(dense_layers(model), keys):
            try:
                with np.load(self._path(key)) as z:
                    kernel, bias = z["kernel"], z["bias"]
            except (OSError, KeyError, ValueError):
                continue  # absent, or written by a crashed run: start from fresh weights
            if kernel.shape == tuple(layer.kernel.shape) and bias.shape == tuple(layer.bias.shape):
                layer.set_weights([kernel, bias])
                reused += 1
        return reused

    def save_from(self, model, keys: list[str]) -> None:
        for layer, key in zip(dense_layers(model), keys):
            kernel, bias = layer.get_weights()
            atomic_write(self._path(key), lambda f: np.savez(f, kernel=kernel, bias=bias), binary=True)
