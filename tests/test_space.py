import json

import numpy as np
import pytest

from mlp_nas.policies import UniformSampler
from mlp_nas.space import DROPOUT, END, ArchitectureError, TokenSpace, describe


def test_round_trip_tokens():
    space = TokenSpace()
    arch = {"layers": [[64, "relu"], "dropout", [8, "sigmoid"]]}
    tokens = space.to_tokens(arch)
    assert tokens[1] == DROPOUT and tokens[-1] == END
    assert space.from_tokens(tokens) == arch
    assert describe(arch) == "64 relu > dropout > 8 sigmoid"


@pytest.mark.parametrize("arch,message", [
    ({"layers": []}, "1 to 10 dense layers"),
    ({"layers": ["dropout", [8, "relu"]]}, r"layers\[0\]: dropout must follow"),
    ({"layers": [[8, "relu"], "dropout", "dropout"]}, r"layers\[2\]"),
    ({"layers": [[9, "relu"]]}, "units 9 not in"),
    ({"layers": [[8, "swish"]]}, "activation 'swish' not in"),
    ({"layers": [[8, "relu"]] * 11}, "1 to 10 dense layers"),
    ({"hidden": []}, 'single key "layers"'),
    ([[8, "relu"]], 'single key "layers"'),
])
def test_bad_architectures_are_named(arch, message):
    with pytest.raises(ArchitectureError, match=message):
        TokenSpace().validate(arch)


def test_uniform_sampler_valid_and_seeded():
    space = TokenSpace(max_layers=4)
    a, b = UniformSampler(space, seed=1).sample(50), UniformSampler(space, seed=1).sample(50)
    assert a == b
    for tokens in a:
        arch = space.from_tokens(tokens)  # validates
        assert space.to_tokens(arch) == tokens
    depths = [sum(t != DROPOUT for t in s[:-1]) for s in a]
    assert max(depths) <= 4 and min(depths) >= 1
    assert UniformSampler(space).update(a, np.ones(len(a))) == {}


def test_training_tokens_behind_a_switch():
    from mlp_nas.space import TRAIN_CHOICES, VOCAB_SIZE

    plain, train = TokenSpace(max_layers=3), TokenSpace(max_layers=3, train_tokens=True)
    assert plain.vocab_size == VOCAB_SIZE and plain.valid_next([]).shape == (VOCAB_SIZE,)  # the seed's space unchanged
    assert train.vocab_size == VOCAB_SIZE + sum(len(v) for v in TRAIN_CHOICES.values())
    seqs = UniformSampler(train, seed=2).sample(40)
    for tokens in seqs:
        arch = train.from_tokens(tokens)
        assert set(arch["train"]) == set(TRAIN_CHOICES) and train.to_tokens(arch) == tokens
        assert all(t < VOCAB_SIZE for t in tokens[3:])  # hyperparameters first, then layers
    assert len({json.dumps(train.from_tokens(t)["train"]) for t in seqs}) > 5
    with pytest.raises(ArchitectureError, match=r"train.learning_rate 0.5 not in"):
        train.validate({"layers": [[8, "relu"]], "train": {"learning_rate": 0.5, "l2": 0.0, "batch_size": 64}})
    with pytest.raises(ArchitectureError, match='single key "layers"'):
        plain.validate({"layers": [[8, "relu"]], "train": {}})


@pytest.mark.parametrize("train_tokens", [False, True])
def test_nnictl_export_covers_the_token_space(train_tokens):
    from mlp_nas.export_space import decode, search_space

    space = TokenSpace(max_layers=4, train_tokens=train_tokens)
    nnictl = search_space(4, train_tokens)
    assert all(v["_type"] == "choice" for v in nnictl.values())
    rng = np.random.default_rng(0)
    for _ in range(200):  # every point of the export is an architecture of the token space
        point = {k: v["_value"][rng.integers(len(v["_value"]))] for k, v in nnictl.items()}
        arch = decode(point, 4, train_tokens)
        assert space.validate(arch) == arch
    for tokens in UniformSampler(space, seed=3).sample(100):  # and every architecture has a point
        arch = space.from_tokens(tokens)
        point = {k: v["_value"][0] for k, v in nnictl.items()}
        dense = [layer for layer in arch["layers"] if layer != "dropout"]
        point["n_layers"] = len(dense)
        i = -1
        for layer in arch["layers"]:
            if layer == "dropout":
                point[f"dropout_{i}"] = 1
            else:
                i += 1
                point.update({f"units_{i}": layer[0], f"activation_{i}": layer[1], f"dropout_{i}": 0})
        point.update(arch.get("train", {}))
        assert decode(point, 4, train_tokens) == arch


def test_export_cli(tmp_path):
    from mlp_nas.export_space import main

    assert main([str(tmp_path / "space.json"), "--max-layers", "3"]) == 0
    assert len(json.loads((tmp_path / "space.json").read_text())) == 1 + 3 * 3
    assert main([str(tmp_path / "bad.json"), "--max-layers", "0"]) == 2 and not (tmp_path / "bad.json").exists()


def test_layerwise_prior_is_the_nnictl_exports_distribution():
    """Under ``prior="layerwise"`` an architecture is exactly as likely as NNI's tuners draw it from the export:
    depth 1/M, each layer 1/28, and 1/2 for each dropout decision (the last of M layers has none)."""
    from mlp_nas.space import DROPOUT, LAYER_TOKENS

    m = 4
    space = TokenSpace(max_layers=m)
    for prefix in ([], [1], [1, DROPOUT], [1, 2, 3, 4]):
        assert np.exp(space.log_prior(prefix, "layerwise")).sum() == pytest.approx(1.0)
    sampler = UniformSampler(space, seed=0, prior="layerwise")
    for tokens in sampler.sample(200):
        n = sum(t != DROPOUT for t in tokens[:-1])
        decisions = n if n < m else m - 1
        expected = np.log(1 / m) + n * np.log(1 / len(LAYER_TOKENS)) + decisions * np.log(1 / 2)
        got = sum(space.log_prior(tokens[:i], "layerwise")[t] for i, t in enumerate(tokens))
        assert got == pytest.approx(expected)
    depths = [sum(t != DROPOUT for t in s[:-1]) for s in UniformSampler(TokenSpace(), seed=1, prior="layerwise").sample(2000)]
    assert np.bincount(depths)[1:].min() > 150  # uniform over 1..10; the "tokens" prior puts ~2/3 at depth 10
    tokens_prior = [sum(t != DROPOUT for t in s[:-1]) for s in UniformSampler(TokenSpace(), seed=1).sample(500)]
    assert np.mean(np.array(tokens_prior) == 10) > 0.5
    with pytest.raises(ValueError, match=r"prior must be one of \['tokens', 'layerwise'\], got 'nni'"):
        UniformSampler(space, prior="nni")
