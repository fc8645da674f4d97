"""The flat web UI parameters (nni_plumbing.labels): readable strings and plottable numbers, pure logic."""
import json

import pytest

from nni_plumbing import labels


def test_mlp_string_layers_and_parameter_count():
    arch = {"layers": [[64, "elu"], [32, "tanh"], "dropout", [128, "relu"]]}
    out = labels.mlp(arch, n_features=64, n_classes=10)
    assert out == {"architecture": "64 elu > 32 tanh > dropout > 128 relu", "n_layers": 3,
                   "n_params": 64 * 64 + 64 + 64 * 32 + 32 + 32 * 128 + 128 + 128 * 10 + 10}
    assert labels.mlp({"layers": [[8, "relu"]]}, 4, 2)["n_params"] == 4 * 8 + 8 + 8 + 1  # one sigmoid unit
    assert "n_params" not in labels.mlp(arch)  # the data's shape unknown: no count invented


def test_every_label_is_a_flat_value_nni_can_plot():
    out = {**labels.mlp({"layers": [[16, "relu"], "dropout"], "train": {"lr": 0.001}}, 8, 3),
           **labels.cell([["conv_3x3", []], ["max_pool_3x3", [0]]], n_params=1234)}
    assert all(isinstance(v, (str, int)) for v in out.values())
    assert out["architecture"] == "16 relu > dropout (lr 0.001)"
    assert labels.strip({**out, "arch": 1}) == {"arch": 1}
    json.dumps(out)


@pytest.mark.parametrize("name", ["darts", "enas-micro", "ednas-cell", "enas-macro"])
def test_genotype_string_of_each_space_is_short_and_names_every_op(name):
    from nni_spaces import make_space

    space = make_space(name)
    genotype = space.genotype(space.sample(0))
    out = labels.cell(genotype)
    text = out["genotype"]
    edges = [e for cell in ("normal", "reduce") for e in genotype[cell]] if isinstance(genotype, dict) else genotype
    assert len(text) < len(json.dumps(genotype)) / 2
    for op, _ in edges:
        assert labels.short_op(op) in text
    if isinstance(genotype, dict):
        assert text.startswith("N: ") and " / R: " in text and out["n_nodes"] == len(genotype["normal"]) // 2
    else:
        assert out["n_layers"] == len(genotype)


def test_study_retraining_jobs_carry_their_genotype_string():
    from nni_spaces import make_space
    from studies.tuner import StudyTuner

    tuner = StudyTuner(study="search-vs-random", space="enas-micro", k=3, seeds=[0])
    tuner._setup()
    retrain = [job for job in tuner.jobs if job["kind"] == "retrain"]
    assert len(retrain) == 3
    space = make_space("enas-micro")
    for job in retrain:  # the string shown is the genotype of the architecture the trial retrains
        assert job["genotype"] == labels.genotype_text(space.genotype(job["arch"]))
        assert job["n_nodes"] == len(space.genotype(job["arch"])["normal"]) // 2
