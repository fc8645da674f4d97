"""The CUDA paths: the supernet, the search and a child's retraining on a GPU. These run only where torch sees
one (a GPU machine: ``pytest tests/test_cuda.py``); on a CPU-only machine they are skipped, and the CPU
versions of the same checks run in test_supernet.py, test_search.py and test_studies.py.

On the CPU the supernet runs ``nni_spaces.fast_ops``' own depthwise, pooling and FactorizedReduce kernels; on
a GPU PyTorch's. Comparing the two devices' outputs and gradients checks both sets of kernels at once."""
import copy
import json

import pytest
import torch

from nni_spaces import make_space
from strategies.supernet import Supernet, child_with_shared_weights
from tests.test_search import TINY
from tests.test_supernet import SMALL, scramble

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a GPU machine)")


@pytest.fixture(autouse=True)
def full_float32():
    """TF32 off, so that the GPU rounds like the CPU and a tolerance of float32 rounding applies."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("name", list(SMALL))
def test_supernet_on_cuda_computes_and_differentiates_what_it_does_on_cpu(name):
    torch.manual_seed(0)
    space = make_space(name, **SMALL[name])
    # In eval mode the scrambled outputs grow large (up to 1e30, still finite), so they are compared relatively. A
    # gentler start (weights N(0, 0.3)) made enas-micro's gradients ill-conditioned: float32 on the CPU, fast ops or
    # not, was 3.7 % off float64 there, while in float64 the fast ops and PyTorch's agree to 1e-13.
    cpu = scramble(Supernet(space))
    gpu = copy.deepcopy(cpu).cuda()
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    for seed in range(3):
        arch = space.sample(seed)
        child = child_with_shared_weights(gpu, space, arch)
        for train in (False, True):
            cpu.train(train), gpu.train(train), child.train(train)
            cpu.use(arch), gpu.use(arch)
            on_cpu, on_gpu = cpu(x), gpu(x.cuda())
            assert on_gpu.is_cuda and torch.isfinite(on_cpu).all()
            assert torch.allclose(on_gpu.cpu(), on_cpu, rtol=1e-4, atol=1e-4), (name, seed, train)
            assert torch.allclose(child(x.cuda()), on_gpu, rtol=1e-5, atol=1e-6), (name, seed, train)
        cpu.train(), gpu.train()
        cpu.zero_grad(), gpu.zero_grad()
        torch.nn.functional.cross_entropy(cpu(x), y).backward()
        torch.nn.functional.cross_entropy(gpu(x.cuda()), y.cuda()).backward()
        # float32 sums in another order, amplified by batch norm's backward: each tensor's gradient agrees to 1 %
        # of its norm, plus a millionth of the whole gradient's (biases before batch norm have none but rounding)
        pairs = [(label, a.grad, b.grad) for (label, a), b in zip(cpu.named_parameters(), gpu.parameters())]
        assert all((a is None) == (b is None) for _, a, b in pairs), (name, seed)
        whole = torch.stack([a.norm() for _, a, _ in pairs if a is not None]).norm()
        for label, a, b in pairs:
            if a is not None:
                assert (b.cpu() - a).norm() <= 1e-2 * a.norm() + 1e-6 * whole, (name, seed, label)


class Stop(Exception):
    pass


def test_search_on_cuda_end_to_end_and_a_gpu_checkpoint_resumes_on_cpu(tmp_path, capsys):
    """The command line with ``--device cuda``; then a search stopped on the GPU after its first checkpoint
    continues on the CPU (a GPU lease ended, say): the checkpoint loads there and the search finishes there."""
    from nas_data.images import load_images
    from strategies import make_policy
    from strategies.search import WeightSharingSearch, main

    args = ["--space", "darts", "--policy", "enas", "--cells", "3", "--epochs", "2", "--seed", "3", *TINY]
    held = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    assert main(["--out", str(tmp_path / "cli"), "--device", "cuda", *args]) == 0
    assert torch.cuda.max_memory_allocated() > held  # the supernet trained on the GPU
    assert "epoch 1:" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "cli" / "result.json").read_text())["epochs"]) == 2

    space = make_space("darts", width=4, num_cells=3)
    train, val, _ = load_images("synthetic", seed=0).datasets()

    def search(device, **kwargs):
        return WeightSharingSearch(space, make_policy("enas", space, seed=3), train, val, out=tmp_path / "moved",
                                   epochs=2, final_samples=10, policy_steps=3, seed=3, figures_every=0,
                                   device=device, **kwargs)

    def stop(values, final):
        raise Stop

    with pytest.raises(Stop):
        search("cuda", report=stop).run()
    lines = []
    on_cpu = search("cpu", log=lines.append)
    result = on_cpu.run()
    assert any("resumed from" in line and "after epoch 1" in line for line in lines), lines
    assert len(result["epochs"]) == 2 and result["arch"]
    assert not any(p.is_cuda for p in on_cpu.supernet.parameters())
    assert not any(torch.is_tensor(t) and t.is_cuda for state in on_cpu.optimizer.state.values()
                   for t in state.values())


def test_a_study_retraining_job_runs_on_cuda_with_every_trick():
    """The studies' retraining trial picks the GPU when torch sees one; cutout, drop-path and the auxiliary
    head all run there."""
    from trials.study_trial import run_job

    space = make_space("ednas-cell", width=4, num_cells=3, image_size=16, num_classes=4)
    params = {"job": 0, "kind": "retrain", "seed": 0, "data": {"name": "synthetic"}, "arch": space.sample(0),
              "space": {"name": "ednas-cell", "args": {"width": 4, "num_cells": 3}},
              "train": {"epochs": 2, "batch_size": 32, "cutout": True, "drop_path": True, "auxiliary": True}}
    held = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    result = run_job(params)
    assert torch.cuda.max_memory_allocated() > held  # the child trained on the GPU
    assert 0.0 <= result["test_acc"] <= 1.0 and len(result["val_history"]) == 2
    assert all(loss < 20 for loss in result["train_loss"])  # finite: NaN fails this too
    assert result["protocol"]["cutout"] > 0 and result["protocol"]["drop_path"] > 0 and result["protocol"]["auxiliary"] > 0
