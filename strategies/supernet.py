"""A weight-sharing supernet any policy can drive: NNI's path-sampling modules (the ones its
``RandomOneShot`` builds), with the path set by ``use(arch)`` (``module.resample(memo=arch)``), so only the
sampled operations run; our cells also skip the edges the sampled structure does not keep. NNI's
``PathSamplingInput`` refuses any-subset choices (ENAS macro skips), so :class:`AnySubsetSampling` adds them.

>>> from nni_spaces import make_space
>>> space = make_space("darts", width=4, num_cells=3)
>>> supernet = Supernet(space)
>>> supernet.use(space.sample(0))
>>> logits = supernet(torch.randn(2, 3, 32, 32))
"""
from __future__ import annotations

import copy

import torch
from nni.nas.nn.pytorch import InputChoice
from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
from nni.nas.oneshot.pytorch.supermodule.sampling import PathSamplingInput
from torch import nn


class AnySubsetSampling(PathSamplingInput):
    """Path sampling for ``InputChoice(n_chosen=None)``: the sum of the sampled subset, None when empty."""

    @classmethod
    def mutate(cls, module, name, memo, mutate_kwargs):
        if type(module) is InputChoice and module.n_chosen is None:
            sampler = cls.__new__(cls)
            InputChoice.__init__(sampler, module.n_candidates, n_chosen=None, reduction=module.reduction,
                                 label=module.label)
            sampler._sampled = None
            return sampler

    def forward(self, input_tensors):
        if self._sampled is None:
            raise RuntimeError("call Supernet.use(arch) before the forward pass")
        chosen = [input_tensors[i] for i in self._sampled]
        return sum(chosen) if chosen else None


class Supernet(nn.Module):
    """The supernet of ``space`` (a deep copy of it is mutated, the space itself is left alone)."""

    def __init__(self, space):
        super().__init__()
        from nni.nas.strategy import RandomOneShot

        self.net = RandomOneShot(mutation_hooks=[AnySubsetSampling.mutate]).mutate_model(copy.deepcopy(space))
        self._samplers = [m for m in self.net.modules() if isinstance(m, BaseSuperNetModule)]
        self.arch: dict | None = None

    def use(self, arch: dict) -> None:
        """Route the next forward passes through ``arch`` (a full sample: every decision present)."""
        memo = dict(arch)
        for module in self._samplers:
            module.resample(memo)
        self.arch = arch

    def forward(self, x):
        if self.arch is None:
            raise RuntimeError("call Supernet.use(arch) before the forward pass")
        return self.net(x)


def child_with_shared_weights(supernet: Supernet, space, arch: dict) -> nn.Module:
    """``space.freeze(arch)`` carrying the supernet's weights for that path: the sampled candidate's
    weights of each choice, everything else as is. For ENAS micro, whose supernet concatenates every node
    (zeros where the child has none), the 1x1 convolutions and the classifier reading a cell's output get
    the input channels of the child's loose ends. The child is on the supernet's device."""
    from nni.nas.oneshot.pytorch.supermodule.sampling import PathSamplingLayer

    supernet.use(arch)
    child = space.freeze(arch)
    chosen = {}  # supernet prefix of a sampled candidate -> the child's prefix
    for name, module in supernet.net.named_modules():
        if isinstance(module, PathSamplingLayer):
            chosen[f"{name}.{module._sampled}."] = name + "."
    shared = {}
    for key, tensor in supernet.net.state_dict().items():
        target = key
        for prefix, child_prefix in chosen.items():
            if key.startswith(prefix):
                target = child_prefix + key[len(prefix):]
                break
        shared[target.removeprefix("network.")] = tensor
    state = child.state_dict()
    for key in state:
        tensor = shared[key]
        if tensor.shape != state[key].shape:
            tensor = tensor[:, _input_channels(child, key)]
        state[key] = tensor.clone()
    child.load_state_dict(state)
    return child.to(next(supernet.parameters()).device)


def _input_channels(child, key: str) -> torch.Tensor:
    """Indices of the supernet's concatenated channels that a child's layer reads (ENAS micro loose ends)."""
    cells = child.cells
    if key.startswith("classifier."):
        source = len(cells) - 1
    else:
        index, part = int(key.split(".")[1]), key.split(".")[2]
        source = index - (2 if part == "pre0" else 1)
    cell = cells[source]
    width = cell.out_channels // len(cell.concat)
    return torch.cat([torch.arange((n - 2) * width, (n - 1) * width) for n in cell.concat])
