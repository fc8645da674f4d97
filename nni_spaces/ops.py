"""The primitive operations every space draws from, in one name -> constructor table.

Each entry is ``OPS[name](channels, stride)`` and returns a module mapping ``(N, C, H, W)`` to
``(N, C, H / stride, W / stride)``. The definitions follow the DARTS/ENAS papers' code: ReLU first,
then convolution(s), then batch norm; pools do not count padding; ``skip_connect`` at stride 2 is a
factorized reduction.

>>> import torch
>>> OPS["sep_conv_3x3"](16, 2)(torch.zeros(2, 16, 8, 8)).shape
torch.Size([2, 16, 4, 4])
"""
from __future__ import annotations

import torch
from torch import nn

from .fast_ops import AvgPool3x3, DepthwiseConv2d, MaxPool3x3


class ReLUConvBN(nn.Sequential):
    """ReLU -> k x k convolution -> batch norm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out))


class DilConv(nn.Sequential):
    """ReLU -> depthwise (dilated) k x k -> pointwise 1 x 1 -> batch norm (DARTS' dil_conv)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 inplace: bool = False):
        super().__init__(
            nn.ReLU(inplace=inplace),
            DepthwiseConv2d(c_in, kernel, stride, padding, dilation),
            nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable convolutions, the first carrying the stride (DARTS, ENAS micro).

    The second ReLU reads a batch norm output nothing else uses, so it runs in place (saves a copy)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__(DilConv(c_in, c_in, kernel, stride, padding, 1),
                         DilConv(c_in, c_out, kernel, 1, padding, 1, inplace=True))


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two stride-2 1 x 1 convolutions, one offset by a pixel.
    Computed as 1 x 1 convolutions of the even and the odd pixels (the same function, a quarter of the work)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = self.relu(x)
        odd = x[:, :, 1::2, 1::2] if x.size(2) > 1 else x
        a, b = self.conv_1(x[:, :, ::2, ::2]), self.conv_2(odd)
        if b.shape[-2:] != a.shape[-2:]:  # odd sizes: the shifted branch is one pixel short
            b = nn.functional.pad(b, (0, a.size(3) - b.size(3), 0, a.size(2) - b.size(2)))
        return self.bn(torch.cat([a, b], dim=1))


class Zero(nn.Module):
    """The 'none' operation of DARTS: zeros of the output shape (used only in continuous relaxations)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


def _skip(c: int, stride: int) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c)


OPS = {
    "none": lambda c, stride: Zero(stride),
    "skip_connect": _skip,
    "max_pool_3x3": lambda c, stride: MaxPool3x3(stride),
    "avg_pool_3x3": lambda c, stride: AvgPool3x3(stride),
    "conv_3x3": lambda c, stride: ReLUConvBN(c, c, 3, stride, 1),
    "conv_5x5": lambda c, stride: ReLUConvBN(c, c, 5, stride, 2),
    "sep_conv_3x3": lambda c, stride: SepConv(c, c, 3, stride, 1),
    "sep_conv_5x5": lambda c, stride: SepConv(c, c, 5, stride, 2),
    "dil_conv_3x3": lambda c, stride: DilConv(c, c, 3, stride, 2, 2),
    "dil_conv_5x5": lambda c, stride: DilConv(c, c, 5, stride, 4, 2),
}
"""Name -> ``constructor(channels, stride)``. Names are the DARTS repository's, so genotypes paste in."""

PARAMETER_FREE = {"none", "max_pool_3x3", "avg_pool_3x3"}
"""Operations without weights (``skip_connect`` has weights at stride 2)."""


def drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """DARTS' drop-path: zero a whole edge per example with probability ``p``, rescaling the rest."""
    keep = 1.0 - p
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep
