"""NNI's own one-shot strategies run unchanged on our DARTS and EDNAS-cell spaces: proof they are real
NNI model spaces. One epoch on a tiny synthetic image set; the exported architecture must be one our
space accepts and freezes."""
import warnings

import pytest
import torch


@pytest.mark.parametrize("strategy", ["DARTS", "RandomOneShot"])
@pytest.mark.parametrize("name", ["darts", "ednas-cell"])
def test_nni_oneshot_strategy_runs_one_epoch(name, strategy, tmp_path, monkeypatch):
    warnings.filterwarnings("ignore")
    import nni
    import nni.nas.strategy as strategies
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.experiment import NasExperiment
    from torch.utils.data import TensorDataset

    from nas_data.images import synthetic_images
    from nni_spaces import make_space

    monkeypatch.setenv("HOME", str(tmp_path))  # NNI writes its experiment folder under ~/nni-experiments
    x, y = synthetic_images(n=16, classes=4, size=8, seed=0)
    data = nni.trace(TensorDataset)(torch.from_numpy(x), torch.from_numpy(y))
    space = make_space(name, width=4, num_cells=3, num_classes=4, image_size=8)
    evaluator = Classification(
        train_dataloaders=DataLoader(data, batch_size=8), val_dataloaders=DataLoader(data, batch_size=8),
        max_epochs=1, num_classes=4, accelerator="cpu", enable_progress_bar=False, logger=False,
        enable_checkpointing=False, enable_model_summary=False)
    experiment = NasExperiment(space, evaluator, getattr(strategies, strategy)())
    experiment.run()
    top = experiment.export_top_models(formatter="dict")
    experiment.stop()  # now, not at interpreter exit when pytest has closed the log streams
    assert top, "the strategy exported no architecture"
    arch = space.check(top[0])
    assert set(space.active(arch)) <= set(arch)
    out = space.freeze(arch)(torch.from_numpy(x[:2]))
    assert out.shape == (2, 4)
