"""PyTorch's depthwise convolution and 3x3 pools, computed the same way but through oneDNN's fast CPU kernels.

The supernet step and the retraining of DARTS/ENAS children spend most of their CPU time here:

- oneDNN's depthwise kernel runs every forward pass, but its backward pass covers only undilated 3x3
  kernels; 5x5 and dilated ones (``sep_conv_5x5``, ``dil_conv_*``) fall back to im2col GEMM, several
  times slower than the forward. :func:`depthwise_conv2d` writes both of their gradients as forward depthwise
  convolutions: the input gradient convolves the output gradient with the flipped kernel, the weight
  gradient treats every (example, channel) pair as a channel whose "kernel" is the output gradient.
- max pooling is faster in channels-last layout; average pooling that does not count the
  padding is a depthwise convolution with a ones kernel divided by the window sizes.

Same values (to float rounding) and gradients as ``F.conv2d`` / ``F.max_pool2d`` / ``F.avg_pool2d``
(``tests/test_fast_ops.py``); on a GPU, or without gradients, they are PyTorch's own calls, and
``NAS_FAST_OPS=0`` in the environment (or ``fast_ops.ENABLED = False``) makes them PyTorch's calls
everywhere (``benchmarks/fast_ops.py`` compares the two; the README has its measurements).
"""
from __future__ import annotations

import functools
import os

import torch
from torch import nn
from torch.nn import functional as F

ENABLED = os.environ.get("NAS_FAST_OPS", "1") != "0"


def _fast_here(x: torch.Tensor) -> bool:
    """Whether the fast path applies to ``x``: switched on, and on the CPU (GPUs have their own fast kernels)."""
    return ENABLED and x.device.type == "cpu"


class _DepthwiseConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, stride: int, padding: int, dilation: int):
        ctx.save_for_backward(x, weight)
        ctx.geometry = stride, padding, dilation
        return F.conv2d(x, weight, None, stride, padding, dilation, x.shape[1])

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.geometry
        n, c, h, w = x.shape
        k = weight.shape[-1]
        span = dilation * (k - 1)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            spread = grad
            if stride > 1:  # put the strided outputs' gradients back on the input grid, zeros between
                spread = grad.new_zeros(n, c, h + 2 * padding - span, w + 2 * padding - span)
                spread[:, :, ::stride, ::stride] = grad
            grad_x = F.conv2d(spread, weight.flip(-1, -2), None, 1, span - padding, dilation, c)
        if ctx.needs_input_grad[1]:
            per_pair = F.conv2d(x.reshape(1, n * c, h, w), grad.reshape(n * c, 1, *grad.shape[-2:]), None,
                                dilation, padding, stride, n * c)
            grad_w = per_pair[0, :, :k, :k].reshape(n, c, k, k).sum(0).unsqueeze(1)
        return grad_x, grad_w, None, None, None


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, None, stride, padding, dilation, groups=channels)`` for a square ``(C, 1, k, k)``
    kernel, with the fast backward pass on CPU where oneDNN's own is slow (k > 3 or dilation > 1)."""
    k = weight.shape[-1]
    if (not _fast_here(x) or not torch.is_grad_enabled() or (k <= 3 and dilation == 1)
            or not 0 <= padding <= dilation * (k - 1) or torch.is_autocast_enabled("cpu")):  # mixed precision
        return F.conv2d(x, weight, None, stride, padding, dilation, x.shape[1])
    return _DepthwiseConv.apply(x, weight, stride, padding, dilation)


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(channels, channels, kernel, stride, padding, dilation, groups=channels, bias=False)``
    (same parameters and state dict) computed by :func:`depthwise_conv2d`."""

    def __init__(self, channels: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1):
        super().__init__(channels, channels, kernel, stride, padding, dilation=dilation, groups=channels, bias=False)

    def forward(self, x):
        return depthwise_conv2d(x, self.weight, self.stride[0], self.padding[0], self.dilation[0])


@functools.lru_cache(maxsize=64)
def _window_sizes(h: int, w: int, stride: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """How many pixels each 3x3, padding-1 window covers inside an ``h x w`` map (the divisor of an average
    pool that does not count padding), as ``1 / count``."""
    ones = torch.ones(1, 1, h, w, dtype=dtype, device=device)
    return 1.0 / F.conv2d(ones, torch.ones(1, 1, 3, 3, dtype=dtype, device=device), None, stride, 1)


class _Pool3x3(nn.Module):
    """A 3x3, padding-1 pool: ``_fast(x)`` where it applies, else ``_pytorch(x)``."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return self._fast(x) if _fast_here(x) else self._pytorch(x)


class AvgPool3x3(_Pool3x3):
    """``nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)``."""

    def _pytorch(self, x):
        return F.avg_pool2d(x, 3, self.stride, 1, count_include_pad=False)

    def _fast(self, x):
        c = x.shape[1]
        total = F.conv2d(x, x.new_ones(c, 1, 3, 3), None, self.stride, 1, 1, c)
        return total * _window_sizes(x.shape[2], x.shape[3], self.stride, x.dtype, str(x.device))


class MaxPool3x3(_Pool3x3):
    """``nn.MaxPool2d(3, stride, padding=1)``."""

    def _pytorch(self, x):
        return F.max_pool2d(x, 3, self.stride, 1)

    def _fast(self, x):
        return F.max_pool2d(x.contiguous(memory_format=torch.channels_last), 3, self.stride, 1).contiguous()
