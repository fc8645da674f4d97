"""Our policies as NNI 3.0 strategies (strategies/nni_strategy.py), end to end with NNI's own
``Classification`` evaluator on every space: the one-shot strategy inside NNI's one-shot framework and the
multi-trial one on NNI's sequential execution engine (no NNI manager, no web UI). Tiny synthetic images,
one epoch; the exported architecture must be one the space accepts and freezes, and the policy must have
been updated by what the run measured."""
import warnings

import pytest
import torch

SPACES = [("enas-macro", {"num_layers": 3}), ("enas-micro", {"num_cells": 3}), ("darts", {"num_cells": 3}),
          ("ednas-cell", {"num_cells": 3})]


def _setup(name, args, tmp_path, monkeypatch, epochs=1):
    warnings.filterwarnings("ignore")
    import nni
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from torch.utils.data import TensorDataset

    from nas_data.images import synthetic_images
    from nni_spaces import make_space

    monkeypatch.setenv("HOME", str(tmp_path))  # NNI writes its experiment folder under ~/nni-experiments
    x, y = synthetic_images(n=16, classes=4, size=8, seed=0)
    data = nni.trace(TensorDataset)(torch.from_numpy(x), torch.from_numpy(y))
    shape = {"num_classes": 4, "width": 4, **args}
    if name != "enas-macro":
        shape["image_size"] = 8
    space = make_space(name, **shape)
    evaluator = Classification(
        train_dataloaders=DataLoader(data, batch_size=8), val_dataloaders=DataLoader(data, batch_size=8),
        max_epochs=epochs, num_classes=4, accelerator="cpu", enable_progress_bar=False, logger=False,
        enable_checkpointing=False, enable_model_summary=False)
    return space, evaluator, x


def _check_export(experiment, space, x):
    top = experiment.export_top_models(formatter="dict")
    experiment.stop()
    assert top, "the strategy exported no architecture"
    arch = space.check(top[0])
    assert space.contains(arch)
    out = space.freeze(arch)(torch.from_numpy(x[:2]))
    assert out.shape == (2, 4)
    return arch


@pytest.mark.parametrize("name,args", SPACES)
def test_policy_one_shot_runs_inside_nni(name, args, tmp_path, monkeypatch):
    from nni.nas.experiment import NasExperiment

    from strategies.nni_strategy import PolicyOneShot

    space, evaluator, x = _setup(name, args, tmp_path, monkeypatch)
    strategy = PolicyOneShot("ednas", seed=0, samples_per_update=2)
    before = {k: dict(v) for k, v in make_probe(strategy, space).items()}
    experiment = NasExperiment(space, evaluator, strategy)
    experiment.run()
    assert strategy.policy.updates == 2  # two validation batches, one update each
    assert strategy.policy.probabilities() != before  # REINFORCE moved it
    arch = _check_export(experiment, space, x)
    best = max(strategy.scored, key=lambda s: s["reward"])
    assert {k: arch[k] for k in space.active(arch)} == {k: best["arch"][k] for k in space.active(best["arch"])}


def make_probe(strategy, space):
    """The untrained policy's probabilities (a twin with the strategy's seed)."""
    from strategies import make_policy

    return make_policy("ednas", space, seed=strategy.seed).probabilities()


@pytest.mark.parametrize("name,args", SPACES)
def test_policy_multi_trial_runs_on_nni_engine(name, args, tmp_path, monkeypatch):
    from nni.nas.experiment import NasExperiment, NasExperimentConfig

    from strategies.nni_strategy import PolicyMultiTrial

    space, evaluator, x = _setup(name, args, tmp_path, monkeypatch)
    strategy = PolicyMultiTrial("ednas", seed=0, samples_per_update=2)
    config = NasExperimentConfig("sequential", "simplified", max_trial_number=4)
    experiment = NasExperiment(space, evaluator, strategy, config=config)
    experiment.run()
    assert strategy.updates == 2  # four trained models, two per update
    _check_export(experiment, space, x)
