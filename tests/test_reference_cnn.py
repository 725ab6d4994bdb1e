"""Tests of the NumPy oracle's CNN ops (pooling, activations, linear, flatten,
softmax, cross-entropy) in convcore/reference.py.

Expected values never come from the reference: they are literals worked by
hand, PyTorch (when it imports; float64, gradients through autograd), or
central differences in float64.
"""
import warnings

import numpy as np
import pytest

from convcore import reference as ref
from helpers import rng as _rng

NAN, INF = np.nan, np.inf


def _torch():
    return pytest.importorskip("torch")


def _distinct(rng, shape):
    """Values at least 0.01 apart: max pooling away from ties, for finite
    differences with a step far below the gaps."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.01 - n * 0.005).reshape(shape)


# ---------------------------------------------------------------------------
# max pooling: hand-worked cases
# ---------------------------------------------------------------------------

X4 = np.array([[1., 5., 2., 0.],
               [3., 4., 8., 6.],
               [7., 0., 1., 2.],
               [9., 3., 4., 5.]]).reshape(1, 1, 4, 4)


def test_max_pool2d_4x4_kernel2():
    out, idx = ref.max_pool2d(X4, 2, return_indices=True)
    np.testing.assert_array_equal(out, [[[[5., 8.], [9., 5.]]]])
    np.testing.assert_array_equal(idx, [[[[1, 6], [12, 15]]]])
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(ref.max_pool2d(X4, 2), out)


def test_max_pool2d_backward_4x4_kernel2():
    go = np.array([[[[1., 2.], [3., 4.]]]])
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 2], expected[3, 0], expected[3, 3] = 1, 2, 3, 4
    np.testing.assert_array_equal(ref.max_pool2d_backward(go, X4, 2)[0, 0], expected)
    _, idx = ref.max_pool2d(X4, 2, return_indices=True)
    np.testing.assert_array_equal(
        ref.max_pool2d_backward(go, X4, 2, indices=idx)[0, 0], expected)


def test_max_pool2d_tie_takes_first_in_row_major_order():
    x = np.array([[2., 7.], [7., 1.]]).reshape(1, 1, 2, 2)
    out, idx = ref.max_pool2d(x, 2, return_indices=True)
    assert out[0, 0, 0, 0] == 7 and idx[0, 0, 0, 0] == 1  # (0, 1), not (1, 0)
    # all equal: the window's first element
    out, idx = ref.max_pool2d(np.full((1, 1, 3, 3), 4.), 3, return_indices=True)
    assert idx[0, 0, 0, 0] == 0


def test_max_pool1d_ties_in_overlapping_windows_and_backward():
    x = np.array([[[3., 3., 3., 1.]]])
    out, idx = ref.max_pool1d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(out, [[[3., 3., 3.]]])
    np.testing.assert_array_equal(idx, [[[0, 1, 2]]])
    np.testing.assert_array_equal(ref.max_pool1d_backward(np.ones((1, 1, 3)), x, 2, stride=1),
                                  [[[1., 1., 1., 0.]]])
    # overlapping windows sharing one maximum accumulate its gradient
    np.testing.assert_array_equal(
        ref.max_pool1d_backward(np.array([[[1., 2.]]]), np.array([[[0., 5., 1.]]]), 2, 1),
        [[[0., 3., 0.]]])


def test_max_pool2d_nan_propagates_with_first_nan_index():
    x = np.array([[1., NAN], [9., 2.]]).reshape(1, 1, 2, 2)
    out, idx = ref.max_pool2d(x, 2, return_indices=True)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 1
    # two NaNs: the first in row-major order, (0, 2) -> 2; column-major order
    # (or the last NaN) would give (1, 0) -> 3
    x = np.arange(9.).reshape(1, 1, 3, 3)
    x[0, 0, 0, 2] = x[0, 0, 1, 0] = NAN
    out, idx = ref.max_pool2d(x, 3, return_indices=True)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 2
    # a NaN stays in its own windows
    x = np.array([[[1., NAN, 3., 4., 0.5, 6.]]])
    out, idx = ref.max_pool1d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out, [[[NAN, 4., 6.]]])
    np.testing.assert_array_equal(idx, [[[1, 3, 5]]])
    out = ref.max_pool1d(x, 3, stride=1)
    np.testing.assert_array_equal(out, [[[NAN, NAN, 4., 6.]]])
    # its gradient goes to the NaN's position
    np.testing.assert_array_equal(ref.max_pool1d_backward(np.ones((1, 1, 3)), x, 2),
                                  [[[0., 1., 0., 1., 0., 1.]]])


def test_max_pool2d_padding_is_minus_infinity():
    x = -(np.arange(9.) + 1).reshape(1, 1, 3, 3)      # all negative
    out, idx = ref.max_pool2d(x, 2, stride=2, padding=1, return_indices=True)
    # zero padding would give 0 everywhere
    np.testing.assert_array_equal(out[0, 0], [[-1., -2.], [-4., -5.]])
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [3, 4]])


def test_max_pool2d_windows_of_minus_infinity_report_their_first_input_element():
    x = np.full((1, 1, 3, 3), -INF)
    out, idx = ref.max_pool2d(x, 2, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(out[0, 0], np.full((2, 2), -INF))
    # padding never wins, even on a tie with -inf
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [3, 4]])


def test_max_pool2d_window_of_padding_only():
    # kernel 2, padding 1, dilation 3 on a 2x2 plane: taps at -1 and 2 only
    x = np.zeros((1, 1, 2, 2))
    out, idx = ref.max_pool2d(x, 2, padding=1, dilation=3, return_indices=True)
    assert out.shape == (1, 1, 1, 1) and out[0, 0, 0, 0] == -INF
    assert idx[0, 0, 0, 0] == -1  # no input element
    np.testing.assert_array_equal(ref.max_pool2d_backward(np.ones((1, 1, 1, 1)), x, 2,
                                                          padding=1, dilation=3),
                                  np.zeros((1, 1, 2, 2)))


def test_max_pool1d_dilation():
    out, idx = ref.max_pool1d(np.array([[[0., 9., 1., 8., 2.]]]), 2, stride=1,
                              dilation=2, return_indices=True)
    np.testing.assert_array_equal(out, [[[1., 9., 2.]]])
    np.testing.assert_array_equal(idx, [[[2, 1, 4]]])


def test_max_pool_ceil_mode_sizes():
    x = np.arange(1., 6.).reshape(1, 1, 5)
    # L=5, K=2, S=2: floor -> 2, ceil -> 3 (last window [4, 6) is partial)
    np.testing.assert_array_equal(ref.max_pool1d(x, 2), [[[2., 4.]]])
    np.testing.assert_array_equal(ref.max_pool1d(x, 2, ceil_mode=True), [[[2., 4., 5.]]])
    # padding 1: ceil((5 + 2 - 2) / 2) + 1 = 4, but window 3 would start at
    # 3*2 - 1 = 5, in the right padding: dropped, 3 windows
    np.testing.assert_array_equal(ref.max_pool1d(x, 2, padding=1, ceil_mode=True),
                                  [[[1., 3., 5.]]])
    x2 = np.arange(25.).reshape(1, 1, 5, 5)
    assert ref.max_pool2d(x2, 2, padding=1, ceil_mode=True).shape == (1, 1, 3, 3)


def test_max_pool_unbatched_and_argument_forms():
    x = _distinct(_rng("unbatched"), (2, 3, 7, 6))
    out, idx = ref.max_pool2d(x, (3, 2), (2, 1), (1, 1), return_indices=True)
    out0, idx0 = ref.max_pool2d(x[0], [3, 2], [2, 1], [1, 1], return_indices=True)
    np.testing.assert_array_equal(out0, out[0])
    np.testing.assert_array_equal(idx0, idx[0])
    np.testing.assert_array_equal(ref.max_pool2d(x, 2, stride=()), ref.max_pool2d(x, 2))
    x1 = x[:, :, 0]
    np.testing.assert_array_equal(ref.max_pool1d(x1, (3,), (2,), (1,)),
                                  ref.max_pool1d(x1, 3, 2, 1))
    np.testing.assert_array_equal(ref.max_pool1d(x1[0], 3, 2, 1), ref.max_pool1d(x1, 3, 2, 1)[0])


@pytest.mark.parametrize("fn,args", [
    ("max_pool2d", dict(kernel_size=3, padding=2)),
    ("max_pool2d", dict(kernel_size=(3, 2), padding=(1, 2))),
    ("avg_pool2d", dict(kernel_size=2, padding=2)),
    ("max_pool1d", dict(kernel_size=4, padding=3)),
    ("avg_pool1d", dict(kernel_size=3, padding=2)),
])
def test_padding_more_than_half_the_kernel_raises(fn, args):
    x = np.zeros((1, 1, 8, 8)) if fn.endswith("2d") else np.zeros((1, 1, 8))
    with pytest.raises(ValueError, match="padding"):
        getattr(ref, fn)(x, **args)


def test_kernel_larger_than_padded_input_raises():
    with pytest.raises(ValueError, match="kernel_size"):
        ref.max_pool2d(np.zeros((1, 1, 3, 3)), 4, padding=0)
    with pytest.raises(ValueError, match="kernel_size"):
        ref.max_pool2d(np.zeros((1, 1, 5, 5)), 3, dilation=3)
    with pytest.raises(ValueError, match="stride"):
        ref.avg_pool2d(np.zeros((1, 1, 5, 5)), 2, stride=0)


# ---------------------------------------------------------------------------
# average pooling: hand-worked cases
# ---------------------------------------------------------------------------

X16 = np.arange(16.).reshape(1, 1, 4, 4)     # x[i, j] = 4i + j


def test_avg_pool2d_padding_count_include_pad():
    # K=3, S=2, P=1 on 4x4: rows/cols of window 0 are [0, 2) (3 counting the
    # pad row), of window 1 [1, 4)
    sums = np.array([[10., 24.], [51., 90.]])
    np.testing.assert_allclose(ref.avg_pool2d(X16, 3, 2, 1)[0, 0], sums / 9, rtol=1e-15)
    np.testing.assert_allclose(ref.avg_pool2d(X16, 3, 2, 1, count_include_pad=False)[0, 0],
                               sums / np.array([[4., 6.], [6., 9.]]), rtol=1e-15)


def test_avg_pool2d_ceil_mode_divisor_clipped_to_the_padded_input():
    # K=3, S=2, P=1, ceil on 4x4: 3 windows per axis, rows [0,2), [1,4), [3,4).
    # The last one spans [3, 6) but is clipped to [-P, H + P) = [-1, 5) for
    # the count_include_pad divisor: length 2, not 3.
    sums = np.array([[10., 24., 10.], [51., 90., 33.], [25., 42., 15.]])
    incl = np.array([[9., 9., 6.], [9., 9., 6.], [6., 6., 4.]])
    excl = np.array([[4., 6., 2.], [6., 9., 3.], [2., 3., 1.]])
    out = ref.avg_pool2d(X16, 3, 2, 1, ceil_mode=True)
    np.testing.assert_allclose(out[0, 0], sums / incl, rtol=1e-15)
    out = ref.avg_pool2d(X16, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(out[0, 0], sums / excl, rtol=1e-15)
    assert ref.avg_pool2d(X16, 3, 2, 1).shape == (1, 1, 2, 2)


def test_avg_pool1d_ceil_mode_drops_window_starting_in_padding():
    x = np.arange(1., 6.).reshape(1, 1, 5)
    # K=2, S=2, P=1: windows [-1,1), [1,3), [3,5); a 4th would start at 5
    np.testing.assert_allclose(ref.avg_pool1d(x, 2, 2, 1, ceil_mode=True),
                               [[[0.5, 2.5, 4.5]]], rtol=1e-15)
    np.testing.assert_allclose(ref.avg_pool1d(x, 2, 2, 1, ceil_mode=True,
                                              count_include_pad=False),
                               [[[1., 2.5, 4.5]]], rtol=1e-15)
    # no padding: the partial last window [4, 6) counts 1 either way
    np.testing.assert_allclose(ref.avg_pool1d(x, 2, ceil_mode=True), [[[1.5, 3.5, 5.]]])
    np.testing.assert_allclose(ref.avg_pool1d(x, 2), [[[1.5, 3.5]]])


def test_avg_pool1d_backward_hand_worked():
    # L=4, K=3, S=2, P=1, ceil: windows [0,2) /3|/2, [1,4) /3|/3, [3,4) /2|/1
    go = np.ones((1, 1, 3))
    np.testing.assert_allclose(
        ref.avg_pool1d_backward(go, (1, 1, 4), 3, 2, 1, ceil_mode=True),
        [[[1 / 3, 2 / 3, 1 / 3, 1 / 3 + 1 / 2]]], rtol=1e-15)
    np.testing.assert_allclose(
        ref.avg_pool1d_backward(go, (1, 1, 4), 3, 2, 1, ceil_mode=True,
                                count_include_pad=False),
        [[[1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1]]], rtol=1e-15)
    np.testing.assert_allclose(
        ref.avg_pool1d(np.array([[[1., 2., 3., 4.]]]), 3, 2, 1, ceil_mode=True),
        [[[1., 3., 2.]]], rtol=1e-15)


def test_adaptive_avg_pool2d_hand_worked():
    np.testing.assert_allclose(
        ref.adaptive_avg_pool2d(np.arange(1., 6.).reshape(1, 1, 1, 5), (1, 3)),
        [[[[1.5, 3., 4.5]]]], rtol=1e-15)
    # 5x5 -> 3x2, x[i, j] = 10i + j: rows {0,1}, {1,2,3}, {3,4}; cols {0,1,2}, {2,3,4}
    x = (10 * np.arange(5.)[:, None] + np.arange(5.)).reshape(1, 1, 5, 5)
    np.testing.assert_allclose(ref.adaptive_avg_pool2d(x, (3, 2))[0, 0],
                               [[6., 8.], [21., 23.], [36., 38.]], rtol=1e-15)
    np.testing.assert_allclose(ref.adaptive_avg_pool2d(x, 1)[0, 0], [[22.]], rtol=1e-15)
    assert ref.adaptive_avg_pool2d(x, (None, 2)).shape == (1, 1, 5, 2)
    g = ref.adaptive_avg_pool2d_backward(np.ones((1, 1, 1, 3)), (1, 1, 1, 5))
    np.testing.assert_allclose(g[0, 0, 0], [1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2],
                               rtol=1e-15)


# ---------------------------------------------------------------------------
# pooling against PyTorch (float64, gradients by autograd)
# ---------------------------------------------------------------------------

MAX2D = [
    ("k2", (2, 3, 6, 6), dict(kernel_size=2)),
    ("k3_s1", (1, 2, 7, 5), dict(kernel_size=3, stride=1)),
    ("rect_overlap", (2, 2, 7, 9), dict(kernel_size=(2, 3), stride=(1, 2))),
    ("pad", (1, 3, 7, 7), dict(kernel_size=3, stride=2, padding=1)),
    ("pad_rect", (1, 2, 6, 9), dict(kernel_size=(3, 5), stride=(2, 3), padding=(1, 2))),
    ("stride_gt_kernel", (2, 2, 11, 10), dict(kernel_size=2, stride=3)),
    ("dilation", (1, 2, 9, 10), dict(kernel_size=3, stride=1, padding=1, dilation=2)),
    ("dilation_rect", (1, 2, 11, 9), dict(kernel_size=(2, 3), stride=(2, 1),
                                          padding=(1, 0), dilation=(3, 2))),
    ("ceil", (1, 2, 7, 8), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ("ceil_pad_drop", (1, 2, 5, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("ceil_s3_drop", (2, 1, 8, 10), dict(kernel_size=3, stride=3, padding=1, ceil_mode=True)),
    ("ceil_dilation", (1, 2, 10, 9), dict(kernel_size=3, stride=2, padding=1,
                                          dilation=2, ceil_mode=True)),
    ("kernel_is_input", (1, 1, 4, 5), dict(kernel_size=(4, 5))),
    ("k1_s2", (1, 2, 4, 5), dict(kernel_size=1, stride=2)),
    ("unbatched", (3, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
]

AVG2D = [
    ("k2", (2, 3, 6, 6), dict(kernel_size=2)),
    ("k3_s1_p1", (1, 2, 7, 5), dict(kernel_size=3, stride=1, padding=1)),
    ("rect", (2, 2, 7, 9), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1))),
    ("stride_gt_kernel", (1, 2, 11, 10), dict(kernel_size=2, stride=3)),
    ("ceil", (1, 2, 7, 8), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("ceil_pad_drop", (1, 2, 5, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("ceil_pad_partial", (1, 1, 4, 4), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("ceil_rect", (2, 1, 8, 10), dict(kernel_size=(3, 2), stride=(3, 2), padding=1,
                                      ceil_mode=True)),
    ("unbatched", (3, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
]

ADAPTIVE = [
    ("divides", (1, 2, 6, 6), (3, 3)),
    ("7x5_to_3x2", (2, 2, 7, 5), (3, 2)),
    ("5x7_to_4x6", (1, 1, 5, 7), (4, 6)),
    ("10x3_to_4x1", (1, 2, 10, 3), (4, 1)),
    ("up_4x4_to_6x5", (1, 1, 4, 4), (6, 5)),
    ("int", (1, 2, 5, 5), 1),
    ("none", (1, 2, 7, 9), (None, 4)),
    ("unbatched", (3, 7, 9), (2, 4)),
]

MAX1D = [
    ("k3_s2_p1", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1)),
    ("dilation", (1, 2, 13), dict(kernel_size=3, stride=1, padding=1, dilation=3)),
    ("ceil_drop", (1, 2, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("stride_gt_kernel", (1, 2, 14), dict(kernel_size=(2,), stride=(5,))),
    ("unbatched", (3, 10), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
]

AVG1D = [
    ("k3_s2_p1", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1)),
    ("ceil_partial", (1, 2, 4), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("ceil_drop", (1, 2, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("stride_gt_kernel", (1, 2, 14), dict(kernel_size=(2,), stride=(5,))),
    ("unbatched", (3, 10), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
]


def _ids(cases):
    return [pytest.param(c, id=c[0]) for c in cases]


def _torch_pool(name, x, go, kw):
    """Output (and indices) of torch.nn.functional.<name>, and the input
    gradient for grad_output go."""
    torch = _torch()
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    fn = getattr(torch.nn.functional, name)
    if name.startswith("max"):
        out, idx = fn(xt, **kw, return_indices=True)
        idx = idx.numpy()
    else:
        out, idx = fn(xt, **kw), None
    out.backward(torch.tensor(go))
    return out.detach().numpy(), idx, xt.grad.numpy()


@pytest.mark.parametrize("values", ["distinct", "ties"])
@pytest.mark.parametrize("case", _ids(MAX2D) + _ids([(c[0] + "_1d",) + c[1:] for c in MAX1D]))
def test_max_pool_against_torch(case, values):
    name, shape, kw = case
    nd = 1 if name.endswith("_1d") else 2
    rng = _rng("torch_max", name, values)
    # ties: a few small integers, so most windows hold repeated maxima
    x = _distinct(rng, shape) if values == "distinct" else \
        rng.integers(0, 3, shape).astype(np.float64)
    fn = "max_pool2d" if nd == 2 else "max_pool1d"
    out, idx = getattr(ref, fn)(x, **kw, return_indices=True)
    go = rng.standard_normal(out.shape)
    t_out, t_idx, t_gx = _torch_pool(fn, x, go, kw)
    np.testing.assert_array_equal(out, t_out)
    np.testing.assert_array_equal(idx, t_idx)
    gx = getattr(ref, fn + "_backward")(go, x, **kw)
    np.testing.assert_allclose(gx, t_gx, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(getattr(ref, fn + "_backward")(go, x, **kw, indices=idx), gx)


def test_max_pool_nan_values_against_torch():
    # PyTorch's CPU kernel keeps the last NaN of a window as its index, the
    # spec the first; the values (NaN where any NaN) must agree
    rng = _rng("torch_nan")
    x = rng.standard_normal((2, 3, 9, 8))
    x[rng.random(x.shape) < 0.1] = NAN
    for kw in (dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1),
               dict(kernel_size=(2, 3), dilation=2, ceil_mode=True)):
        out = ref.max_pool2d(x, **kw)
        t_out, _, _ = _torch_pool("max_pool2d", x, np.zeros(out.shape), kw)
        np.testing.assert_array_equal(out, t_out)


def test_max_pool_window_of_padding_only_against_torch():
    # values only: PyTorch's index for such a window lies outside the plane
    torch = _torch()
    x = np.zeros((1, 1, 2, 2))
    kw = dict(kernel_size=2, padding=1, dilation=3)
    t_out = torch.nn.functional.max_pool2d(torch.tensor(x), **kw).numpy()
    np.testing.assert_array_equal(ref.max_pool2d(x, **kw), t_out)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", _ids(AVG2D) + _ids([(c[0] + "_1d",) + c[1:] for c in AVG1D]))
def test_avg_pool_against_torch(case, count_include_pad):
    name, shape, kw = case
    fn = "avg_pool1d" if name.endswith("_1d") else "avg_pool2d"
    kw = dict(kw, count_include_pad=count_include_pad)
    rng = _rng("torch_avg", name)
    x = rng.standard_normal(shape)
    out = getattr(ref, fn)(x, **kw)
    go = rng.standard_normal(out.shape)
    t_out, _, t_gx = _torch_pool(fn, x, go, kw)
    assert out.shape == t_out.shape
    np.testing.assert_allclose(out, t_out, rtol=1e-13, atol=1e-14)
    gx = getattr(ref, fn + "_backward")(go, x.shape, **kw)
    np.testing.assert_allclose(gx, t_gx, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("case", _ids(ADAPTIVE))
def test_adaptive_avg_pool2d_against_torch(case):
    name, shape, size = case
    rng = _rng("torch_adaptive", name)
    x = rng.standard_normal(shape)
    out = ref.adaptive_avg_pool2d(x, size)
    go = rng.standard_normal(out.shape)
    t_out, _, t_gx = _torch_pool("adaptive_avg_pool2d", x, go, dict(output_size=size))
    assert out.shape == t_out.shape
    np.testing.assert_allclose(out, t_out, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(ref.adaptive_avg_pool2d_backward(go, x.shape), t_gx,
                               rtol=1e-13, atol=1e-14)


# ---------------------------------------------------------------------------
# central differences (float64)
# ---------------------------------------------------------------------------

def _fd(loss, a, idx, h=1e-6):
    """Central differences of loss() w.r.t. the flat entries idx of a."""
    flat = a.reshape(-1)
    g = np.empty(len(idx))
    for j, i in enumerate(idx):
        old = flat[i]
        flat[i] = old + h
        lp = loss()
        flat[i] = old - h
        lm = loss()
        flat[i] = old
        g[j] = (lp - lm) / (2 * h)
    return g


def _check_fd(loss, a, grad, rng, tol=1e-7):
    assert grad.shape == a.shape
    n = a.size
    idx = np.arange(n) if n <= 80 else rng.choice(n, 80, replace=False)
    np.testing.assert_allclose(grad.reshape(-1)[idx], _fd(loss, a, idx), rtol=tol, atol=tol)


POOL_FD = [
    ("max_pool2d", (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool2d", (1, 2, 9, 8), dict(kernel_size=(2, 3), stride=1, dilation=(2, 1),
                                      ceil_mode=True)),
    ("max_pool1d", (2, 2, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool2d", (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool2d", (1, 2, 7, 9), dict(kernel_size=(2, 3), stride=(1, 2), padding=1,
                                      count_include_pad=False)),
    ("avg_pool1d", (2, 2, 10), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
    ("adaptive_avg_pool2d", (2, 2, 7, 5), dict(output_size=(3, 4))),
]


@pytest.mark.parametrize("case", POOL_FD, ids=lambda c: c[0] + "-" + repr(c[2]))
def test_pool_gradients_central_differences(case):
    fn, shape, kw = case
    rng = _rng("fd", fn, repr(kw))
    x = _distinct(rng, shape)
    f = getattr(ref, fn)
    r = rng.standard_normal(f(x, **kw).shape)

    def loss():
        return float(np.sum(f(x, **kw) * r))

    if fn.startswith("max"):
        g = getattr(ref, fn + "_backward")(r, x, **kw)
    elif fn.startswith("adaptive"):
        g = ref.adaptive_avg_pool2d_backward(r, x.shape)
    else:
        g = getattr(ref, fn + "_backward")(r, x.shape, **kw)
    _check_fd(loss, x, g, rng)


# ---------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------

def test_activations_hand_worked():
    x = np.array([-2., -0.5, 0., 0.5, 3.])
    np.testing.assert_array_equal(ref.relu(x), [0., 0., 0., 0.5, 3.])
    np.testing.assert_array_equal(ref.leaky_relu(x, 0.1), [-0.2, -0.05, 0., 0.5, 3.])
    np.testing.assert_array_equal(ref.leaky_relu(x), 0.01 * x * (x <= 0) + x * (x > 0))
    g = np.array([1., 2., 3., 4., 5.])
    # at x == 0: relu's gradient is 0, leaky_relu's the slope (PyTorch)
    np.testing.assert_array_equal(ref.relu_backward(g, x), [0., 0., 0., 4., 5.])
    np.testing.assert_allclose(ref.leaky_relu_backward(g, x, 0.1), [0.1, 0.2, 0.3, 4., 5.],
                               rtol=1e-15)
    np.testing.assert_allclose(ref.sigmoid(np.array([0., np.log(3.), -np.log(3.)])),
                               [0.5, 0.75, 0.25], rtol=1e-15)
    np.testing.assert_allclose(ref.tanh(np.array([np.log(2.)])), [0.6], rtol=1e-15)
    np.testing.assert_allclose(ref.sigmoid_backward(np.array([2.]), np.array([0.75])),
                               [2 * 0.75 * 0.25], rtol=1e-15)
    np.testing.assert_allclose(ref.tanh_backward(np.array([2.]), np.array([0.6])),
                               [2 * 0.64], rtol=1e-15)


def test_activations_nan():
    x = np.array([NAN, 1.])
    for f in (ref.relu, ref.leaky_relu, ref.sigmoid, ref.tanh):
        assert np.isnan(f(x)[0]) and not np.isnan(f(x)[1]), f.__name__


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_sigmoid_extremes_without_floating_point_flags(dtype):
    x = np.array([-1000., -200., -100., -30., 0., 30., 100., 200., 1000., -INF, INF], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            y = ref.sigmoid(x)
    assert y.dtype == (np.float32 if dtype == np.float16 else dtype)
    assert y[0] == 0 and y[-3] == 1 and y[4] == 0.5 and y[-2] == 0 and y[-1] == 1
    assert np.all((y >= 0) & (y <= 1))
    # the small tail keeps its relative precision (1 - sigmoid(30) would not)
    np.testing.assert_allclose(ref.sigmoid(np.array([-30., -60., -700.])),
                               1 / (1 + np.exp([30., 60., 700.])), rtol=1e-14)


def test_activations_against_torch():
    torch = _torch()
    rng = _rng("torch_act")
    x = rng.standard_normal((3, 4, 5)) * 4
    x[0, 0, :3] = [0., 40., -40.]
    g = rng.standard_normal(x.shape)
    for name, kw in (("relu", {}), ("leaky_relu", {}), ("leaky_relu", dict(negative_slope=0.2)),
                     ("sigmoid", {}), ("tanh", {})):
        xt = torch.tensor(x, requires_grad=True)
        yt = getattr(torch.nn.functional, name)(xt, **kw)
        yt.backward(torch.tensor(g))
        y = getattr(ref, name)(x, **kw)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-14, atol=1e-300)
        # the backward of sigmoid and tanh takes the output: torch's own, so
        # that an ulp of difference in y is not amplified by 1 - y
        other = yt.detach().numpy() if name in ("sigmoid", "tanh") else x
        # atol: 1 - y*y cancels near |y| = 1, where the order of torch's
        # operations differs by an ulp of 1
        np.testing.assert_allclose(getattr(ref, name + "_backward")(g, other, **kw),
                                   xt.grad.numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name,kw", [("relu", {}), ("leaky_relu", dict(negative_slope=0.3)),
                                     ("sigmoid", {}), ("tanh", {})])
def test_activation_gradients_central_differences(name, kw):
    rng = _rng("fd_act", name)
    x = rng.standard_normal((2, 3, 5)) * 3
    x[np.abs(x) < 0.05] = 0.5  # away from the kink at 0
    r = rng.standard_normal(x.shape)
    f = getattr(ref, name)

    def loss():
        return float(np.sum(f(x, **kw) * r))

    other = f(x, **kw) if name in ("sigmoid", "tanh") else x
    _check_fd(loss, x, getattr(ref, name + "_backward")(r, other, **kw), rng)


# ---------------------------------------------------------------------------
# linear and flatten
# ---------------------------------------------------------------------------

def test_linear_hand_worked():
    x = np.array([[1., 2.]])
    w = np.array([[1., 0.], [1., 1.], [0., -1.]])
    np.testing.assert_array_equal(ref.linear(x, w), [[1., 3., -2.]])
    np.testing.assert_array_equal(ref.linear(x, w, np.array([0., 0., 10.])), [[1., 3., 8.]])
    gx, gw, gb = ref.linear_backward(np.array([[1., 2., 3.]]), x, w)
    np.testing.assert_array_equal(gx, [[3., -1.]])          # g @ w
    np.testing.assert_array_equal(gw, [[1., 2.], [2., 4.], [3., 6.]])  # g^T x
    np.testing.assert_array_equal(gb, [1., 2., 3.])


@pytest.mark.parametrize("x_shape", [(4, 5), (5,), (2, 3, 5)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_against_torch_and_central_differences(x_shape, bias):
    rng = _rng("linear", x_shape, bias)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((3, 5))
    b = rng.standard_normal(3) if bias else None
    y = ref.linear(x, w, b)
    assert y.shape == x_shape[:-1] + (3,)
    r = rng.standard_normal(y.shape)
    gx, gw, gb = ref.linear_backward(r, x, w)
    assert gb.shape == (3,)

    def loss():
        return float(np.sum(ref.linear(x, w, b) * r))

    for a, g in ((x, gx), (w, gw)) + (((b, gb),) if bias else ()):
        _check_fd(loss, a, g, rng)
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w) + ((b,) if bias else ())]
    yt = torch.nn.functional.linear(*ts)
    yt.backward(torch.tensor(r))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-13, atol=1e-14)
    for g, t in zip((gx, gw, gb), ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-13, atol=1e-14)


def test_flatten():
    x = np.arange(120).reshape(2, 3, 4, 5)
    assert ref.flatten(x).shape == (2, 60)
    assert ref.flatten(x, 0).shape == (120,)
    assert ref.flatten(x, 2).shape == (2, 3, 20)
    assert ref.flatten(x, -1).shape == (2, 3, 4, 5)
    assert ref.flatten(x, -3).shape == (2, 60)
    np.testing.assert_array_equal(ref.flatten(x).reshape(-1), np.arange(120))
    assert ref.flatten(np.zeros((0, 3, 4))).shape == (0, 12)
    assert ref.flatten(np.float32(3.0), 0).shape == (1,)
    # a reshape: the dtype is kept, as in torch.flatten
    assert ref.flatten(x).dtype == x.dtype
    assert ref.flatten(x.astype(np.float16)).dtype == np.float16
    with pytest.raises(ValueError, match="start_dim"):
        ref.flatten(x, 4)


# ---------------------------------------------------------------------------
# softmax and cross-entropy
# ---------------------------------------------------------------------------

def test_softmax_log_softmax_hand_worked():
    np.testing.assert_allclose(ref.softmax(np.array([0., np.log(3.)])), [0.25, 0.75],
                               rtol=1e-15)
    np.testing.assert_allclose(ref.log_softmax(np.array([0., np.log(3.)])),
                               np.log([0.25, 0.75]), rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            np.testing.assert_array_equal(ref.log_softmax(np.array([0., 1000.])), [-1000., 0.])
            np.testing.assert_array_equal(ref.softmax(np.array([0., 1000.])), [0., 1.])
            np.testing.assert_allclose(ref.softmax(np.array([1000., 1000.])), [0.5, 0.5])
    x = np.arange(6.).reshape(2, 3)
    np.testing.assert_allclose(ref.softmax(x, axis=0), np.full((2, 3), 1 / (1 + np.e ** 3))
                               * np.array([[1.], [np.e ** 3]]), rtol=1e-15)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_against_torch(axis):
    torch = _torch()
    x = _rng("softmax", axis).standard_normal((3, 4, 5)) * 10
    np.testing.assert_allclose(ref.softmax(x, axis),
                               torch.softmax(torch.tensor(x), axis).numpy(), rtol=1e-13,
                               atol=1e-300)
    np.testing.assert_allclose(ref.log_softmax(x, axis),
                               torch.log_softmax(torch.tensor(x), axis).numpy(), rtol=1e-13,
                               atol=1e-13)


def test_cross_entropy_hand_worked():
    np.testing.assert_allclose(ref.cross_entropy(np.zeros((2, 4)), np.array([0, 3])),
                               np.log(4.), rtol=1e-15)
    z = np.array([[0., np.log(3.)], [0., np.log(3.)]])
    t = np.array([1, 0])
    loss = -np.log([0.75, 0.25])
    np.testing.assert_allclose(ref.cross_entropy(z, t, "none"), loss, rtol=1e-15)
    np.testing.assert_allclose(ref.cross_entropy(z, t, "sum"), loss.sum(), rtol=1e-15)
    np.testing.assert_allclose(ref.cross_entropy(z, t), loss.mean(), rtol=1e-15)
    assert ref.cross_entropy(z, t).shape == () and ref.cross_entropy(z, t, "sum").shape == ()
    g = np.array([[0.25, -0.25], [-0.75, 0.75]])
    np.testing.assert_allclose(ref.cross_entropy_backward(z, t, "sum"), g, rtol=1e-15)
    np.testing.assert_allclose(ref.cross_entropy_backward(z, t, "none"), g, rtol=1e-15)
    np.testing.assert_allclose(ref.cross_entropy_backward(z, t), g / 2, rtol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_against_torch_and_central_differences(reduction):
    rng = _rng("ce", reduction)
    z = rng.standard_normal((6, 5)) * 3
    t = rng.integers(0, 5, 6)
    loss = ref.cross_entropy(z, t, reduction)
    g = ref.cross_entropy_backward(z, t, reduction)

    def total():  # for 'none', the gradient is that of the sum of the losses
        return float(np.sum(ref.cross_entropy(z, t, reduction)))

    _check_fd(total, z, g, rng)
    torch = pytest.importorskip("torch")
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(zt, torch.tensor(t), reduction=reduction)
    lt.sum().backward()
    np.testing.assert_allclose(loss, lt.detach().numpy(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=1e-13, atol=1e-14)


def test_cross_entropy_large_logits():
    z = np.array([[1000., 0.], [0., -1000.]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(ref.cross_entropy(z, np.array([1, 1]), "none"), [1000., 1000.])
        np.testing.assert_allclose(ref.cross_entropy_backward(z, np.array([0, 0]), "sum"),
                                   [[0., 0.], [0., 0.]], atol=1e-300)


@pytest.mark.parametrize("target,exc,match", [
    (np.array([0, 2]), ValueError, r"target must lie in \[0, 2\)"),
    (np.array([-1, 0]), ValueError, r"target"),
    (np.array([0, 1, 1]), ValueError, r"target must have shape \(2,\)"),
    (np.array([0., 1.]), TypeError, r"target must be integer"),
])
def test_cross_entropy_bad_target(target, exc, match):
    with pytest.raises(exc, match=match):
        ref.cross_entropy(np.zeros((2, 2)), target)
    with pytest.raises(exc, match=match):
        ref.cross_entropy_backward(np.zeros((2, 2)), target)


# ---------------------------------------------------------------------------
# dtype rules
# ---------------------------------------------------------------------------

def _calls(x):
    """(name, result) of every op on x, an (N, C, H, W) array."""
    x1 = x[:, :, 0]
    go = x[:, :, :2, :2]
    return [
        ("max_pool2d", ref.max_pool2d(x, 2)),
        ("max_pool2d_backward", ref.max_pool2d_backward(go, x, 2)),
        ("max_pool1d", ref.max_pool1d(x1, 2)),
        ("max_pool1d_backward", ref.max_pool1d_backward(go[:, :, 0], x1, 2)),
        ("avg_pool2d", ref.avg_pool2d(x, 2)),
        ("avg_pool2d_backward", ref.avg_pool2d_backward(go, x.shape, 2)),
        ("avg_pool1d", ref.avg_pool1d(x1, 2)),
        ("avg_pool1d_backward", ref.avg_pool1d_backward(go[:, :, 0], x1.shape, 2)),
        ("adaptive_avg_pool2d", ref.adaptive_avg_pool2d(x, 3)),
        ("adaptive_avg_pool2d_backward", ref.adaptive_avg_pool2d_backward(go, x.shape)),
        ("relu", ref.relu(x)), ("relu_backward", ref.relu_backward(x, x)),
        ("leaky_relu", ref.leaky_relu(x)), ("leaky_relu_backward", ref.leaky_relu_backward(x, x)),
        ("sigmoid", ref.sigmoid(x)), ("sigmoid_backward", ref.sigmoid_backward(x, x)),
        ("tanh", ref.tanh(x)), ("tanh_backward", ref.tanh_backward(x, x)),
        ("linear", ref.linear(x, x[0, 0])),
        *(("linear_backward", g) for g in ref.linear_backward(x, x, x[0, 0])),
        ("softmax", ref.softmax(x)), ("log_softmax", ref.log_softmax(x)),
        ("cross_entropy", ref.cross_entropy(x[0, 0], np.arange(4))),
        ("cross_entropy_none", ref.cross_entropy(x[0, 0], np.arange(4), "none")),
        ("cross_entropy_backward", ref.cross_entropy_backward(x[0, 0], np.arange(4))),
    ]


@pytest.mark.parametrize("dtype,expected", [
    (np.float16, np.float32), (np.float32, np.float32), (np.float64, np.float64),
    (np.int64, np.float64), (np.int8, np.float64), (np.uint8, np.float64),
], ids=lambda d: np.dtype(d).name)
def test_dtype_rules(dtype, expected):
    x = (np.arange(2 * 3 * 4 * 4) % 7).reshape(2, 3, 4, 4).astype(dtype)
    for name, r in _calls(x):
        assert np.asarray(r).dtype == expected, name
    assert ref.flatten(x).dtype == dtype


def test_complex_rejected():
    with pytest.raises(TypeError, match="complex"):
        ref.max_pool2d(np.zeros((1, 1, 2, 2), complex), 2)
    with pytest.raises(TypeError, match="complex"):
        ref.sigmoid(np.zeros(2, complex))
