"""Bigram weight sharing: stored weights seed the next model; concurrent writers never leave a
file a reader cannot load."""
import multiprocessing
import os

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the controller tests share this process

from mlp_nas.keras_model import BigramStore, build_model, dense_keys  # noqa: E402


def test_shared_pairs_are_reused(tmp_path):
    store = BigramStore(tmp_path)
    a = {"layers": [[16, "relu"], [8, "tanh"]]}
    b = {"layers": [[16, "relu"], "dropout", [32, "tanh"]]}
    model_a = build_model(a, 5, 3)
    store.save_from(model_a, dense_keys(a, 5, 3))
    model_b = build_model(b, 5, 3)
    assert store.load_into(model_b, dense_keys(b, 5, 3)) == 1  # only (input, 16 relu) is shared
    np.testing.assert_array_equal(model_b.layers[0].get_weights()[0], model_a.layers[0].get_weights()[0])


def _writer(folder, value, rounds):
    store = BigramStore(folder)
    for _ in range(rounds):
        store._path("k").parent.mkdir(parents=True, exist_ok=True)
        from nas_data.files import atomic_write

        atomic_write(store._path("k"), lambda f: np.savez(f, kernel=np.full((64, 64), value), bias=np.zeros(64)),
                     binary=True)


def test_concurrent_writers_never_corrupt(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(tmp_path, v, 150)) for v in (1.0, 2.0)]
    for w in writers:
        w.start()
    seen = set()
    while any(w.is_alive() for w in writers):
        try:
            with np.load(tmp_path / "k.npz") as z:
                kernel = z["kernel"]
        except FileNotFoundError:
            continue
        assert np.unique(kernel).size == 1  # a whole file from one writer, never a mix or a torn file
        seen.add(float(kernel[0, 0]))
    assert all(w.exitcode == 0 for w in writers)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
