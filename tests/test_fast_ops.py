"""The fast CPU ops compute what PyTorch's own ops compute: values and both gradients."""
import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from nni_spaces.fast_ops import AvgPool3x3, DepthwiseConv2d, MaxPool3x3, depthwise_conv2d
from nni_spaces.ops import FactorizedReduce


def _value_and_grads(fn, x, *params):
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    upstream = torch.randn_like(out, generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad(out, (x, *params), upstream)
    return out.detach(), grads


def _assert_same(ours, theirs):
    (out_a, grads_a), (out_b, grads_b) = ours, theirs
    torch.testing.assert_close(out_a, out_b, rtol=1e-4, atol=1e-5)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel,dilation,stride,size", list(itertools.product((3, 5), (1, 2), (1, 2), (16, 15, 4))))
def test_depthwise_conv_matches_pytorch(kernel, dilation, stride, size):
    torch.manual_seed(0)
    padding = dilation * (kernel - 1) // 2
    x = torch.randn(6, 5, size, size)
    weight = torch.randn(5, 1, kernel, kernel, requires_grad=True)
    ours = _value_and_grads(lambda t: depthwise_conv2d(t, weight, stride, padding, dilation), x, weight)
    theirs = _value_and_grads(lambda t: F.conv2d(t, weight, None, stride, padding, dilation, 5), x, weight)
    _assert_same(ours, theirs)


def test_depthwise_conv_unpadded_and_second_order():
    torch.manual_seed(0)
    # every case has a dilated 5x5 window partly in the padding; fast_mode checks the Jacobians along random
    # directions (torch's documented alternative to one numerical column per input element, which took 100 s here)
    weight = torch.randn(2, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    x = torch.randn(1, 2, 7, 7, dtype=torch.float64, requires_grad=True)
    for stride, padding, dilation in ((1, 0, 1), (2, 1, 2), (1, 4, 1)):
        fn = lambda a, b: depthwise_conv2d(a, b, stride, padding, dilation)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, weight), fast_mode=True)
        assert torch.autograd.gradgradcheck(fn, (x, weight), fast_mode=True)


def test_depthwise_module_is_a_conv2d_with_the_same_state():
    ours = DepthwiseConv2d(4, 5, stride=2, padding=4, dilation=2)
    theirs = nn.Conv2d(4, 4, 5, 2, 4, dilation=2, groups=4, bias=False)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 4, 11, 11)
    _assert_same(_value_and_grads(ours, x, ours.weight), _value_and_grads(theirs, x, theirs.weight))


@pytest.mark.parametrize("stride,size", list(itertools.product((1, 2), (16, 15, 1))))
def test_pools_match_pytorch(stride, size):
    x = torch.randn(4, 6, size, size, generator=torch.Generator().manual_seed(0))
    _assert_same(_value_and_grads(AvgPool3x3(stride), x),
                 _value_and_grads(nn.AvgPool2d(3, stride, 1, count_include_pad=False), x))
    _assert_same(_value_and_grads(MaxPool3x3(stride), x), _value_and_grads(nn.MaxPool2d(3, stride, 1), x))


@pytest.mark.parametrize("size", (16, 15, 1))
def test_factorized_reduce_is_two_offset_stride_2_convolutions(size):
    """DARTS' definition: relu, conv_1 at stride 2, conv_2 at stride 2 on the input shifted by a pixel, concat, BN."""
    torch.manual_seed(0)
    module = FactorizedReduce(6, 8)
    x = torch.randn(4, 6, size, size)

    def reference(t):
        t = F.relu(t)
        a = F.conv2d(t, module.conv_1.weight, stride=2)
        b = F.conv2d(t[:, :, 1:, 1:] if size > 1 else t, module.conv_2.weight, stride=2)
        b = F.pad(b, (0, a.size(3) - b.size(3), 0, a.size(2) - b.size(2)))
        return module.bn(torch.cat([a, b], 1))

    params = (module.conv_1.weight, module.conv_2.weight)
    _assert_same(_value_and_grads(module, x, *params), _value_and_grads(reference, x, *params))


def test_mixed_precision_on_cpu_still_trains():
    """Under CPU autocast (Lightning's bf16-mixed) the ops give bfloat16 outputs and float32 gradients."""
    x = torch.randn(2, 4, 9, 9, requires_grad=True)
    conv = DepthwiseConv2d(4, 5, padding=4, dilation=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = MaxPool3x3(1)(AvgPool3x3(1)(conv(x)))
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and x.grad.dtype == conv.weight.grad.dtype == torch.float32
