"""The fast pooling ops (max/avg 2-D and 1-D, adaptive average) against the
NumPy oracle (convcore.reference).

Every compiled kernel set runs the grids (the ``kernel_set`` fixture of
conftest.py). Expected values always come from ``convcore.reference``,
computed in float64 from the very values handed to the fast path. A fast op
that has not landed yet is skipped with "not implemented yet: <name>" (the
``fast`` fixture; temporary).
"""
import re

import numpy as np
import pytest

import convcore
from helpers import assert_matches, rng as _rng
from convcore import reference as ref

DTYPES = [np.float32, np.float64]
NAN, INF = np.nan, np.inf


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _values(kind, shape, dtype, *key):
    rng = _rng(kind, shape, np.dtype(dtype).name, *key)
    if kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "ties":
        # few distinct values: most windows hold repeated maxima, some only -inf
        x = rng.choice([-INF, 0.0, 1.0, 2.0], size=shape, p=[0.3, 0.2, 0.3, 0.2])
    elif kind == "ties_finite":
        # planes without inf or NaN take the one-pass kernel: ties there too
        # (-0.0 and 0.0 compare equal: the first one stays)
        x = rng.choice([-1.0, -0.0, 0.0, 1.0], size=shape)
    elif kind == "nan":
        x = rng.standard_normal(shape)
        x[rng.random(shape) < 0.15] = NAN
    elif kind == "nan_one_plane":
        # the NaN rule on one plane, the one-pass kernel on the others
        x = rng.standard_normal(shape)
        x.flat[0:shape[-1]:3] = NAN  # within the first row of the first plane
    else:
        raise AssertionError(kind)
    return x.astype(dtype), rng


def _ids(cases):
    return [pytest.param(c, id=c[0]) for c in cases]


# (id, input shape, kwargs). 2-D shapes are (N, C, H, W) or (C, H, W).
MAX2D = [
    ("k2", (2, 3, 8, 8), dict(kernel_size=2)),
    ("k2_odd_sizes", (1, 3, 9, 11), dict(kernel_size=2)),
    ("k3_s2_p1", (2, 4, 13, 15), dict(kernel_size=3, stride=2, padding=1)),
    ("k3_s1_p1_wide", (1, 3, 6, 37), dict(kernel_size=3, stride=1, padding=1)),
    ("k3_s1_w31", (1, 2, 5, 31), dict(kernel_size=3, stride=1)),
    ("rect_2x3_s1x2", (2, 2, 9, 12), dict(kernel_size=(2, 3), stride=(1, 2))),
    ("rect_3x1_pad", (1, 3, 11, 7), dict(kernel_size=(3, 1), stride=(2, 1), padding=(1, 0))),
    ("rect_1x5_pad", (1, 2, 6, 17), dict(kernel_size=(1, 5), stride=(1, 2), padding=(0, 2))),
    ("stride_gt_kernel", (1, 2, 17, 19), dict(kernel_size=2, stride=3)),
    ("stride_prime", (1, 2, 23, 29), dict(kernel_size=3, stride=(5, 7), padding=1)),
    ("dilation2", (1, 3, 12, 13), dict(kernel_size=3, stride=1, padding=1, dilation=2)),
    ("dilation_rect", (2, 2, 11, 9), dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0),
                                          dilation=(3, 2))),
    ("ceil_k2", (1, 3, 7, 9), dict(kernel_size=2, ceil_mode=True)),
    ("ceil_pad_drop", (1, 2, 5, 7), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("ceil_k3_s2_p1", (2, 2, 8, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("ceil_dilation", (1, 2, 10, 9), dict(kernel_size=3, stride=2, padding=1, dilation=2,
                                          ceil_mode=True)),
    ("kernel_is_input", (1, 2, 5, 6), dict(kernel_size=(5, 6))),
    ("k1_s2", (1, 2, 5, 6), dict(kernel_size=1, stride=2)),
    ("large_k3_s2_p1", (1, 2, 34, 70), dict(kernel_size=3, stride=2, padding=1)),
    ("large_k2", (1, 2, 20, 66), dict(kernel_size=2)),
    ("batch1_c1", (1, 1, 6, 6), dict(kernel_size=2)),
    ("unbatched", (3, 9, 10), dict(kernel_size=3, stride=2, padding=1)),
    ("unbatched_ceil", (2, 7, 7), dict(kernel_size=2, ceil_mode=True)),
]

AVG2D = [
    ("k2", (2, 3, 8, 8), dict(kernel_size=2)),
    ("k2_odd_sizes", (1, 3, 9, 11), dict(kernel_size=2)),
    ("k3_s1_p1_wide", (1, 3, 6, 37), dict(kernel_size=3, stride=1, padding=1)),
    ("k3_s2_p1", (2, 4, 13, 15), dict(kernel_size=3, stride=2, padding=1)),
    ("rect_2x3_p1", (2, 2, 9, 12), dict(kernel_size=(2, 3), stride=(1, 2), padding=1)),
    ("rect_5x1", (1, 3, 11, 7), dict(kernel_size=(5, 1), stride=(2, 1), padding=(2, 0))),
    ("stride_gt_kernel", (1, 2, 17, 19), dict(kernel_size=2, stride=3)),
    ("stride_prime", (1, 2, 23, 29), dict(kernel_size=3, stride=(5, 7), padding=1)),
    ("ceil_k3_s2", (1, 2, 7, 8), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("ceil_pad_drop", (1, 2, 5, 7), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("ceil_pad_partial", (2, 1, 4, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("ceil_rect", (2, 1, 8, 10), dict(kernel_size=(3, 2), stride=(3, 2), padding=1,
                                      ceil_mode=True)),
    ("kernel_is_input", (1, 2, 5, 6), dict(kernel_size=(5, 6))),
    ("large_k2", (1, 2, 20, 66), dict(kernel_size=2)),
    ("large_k3_s2_p1", (1, 2, 34, 70), dict(kernel_size=3, stride=2, padding=1)),
    ("batch1_c1", (1, 1, 6, 6), dict(kernel_size=2)),
    ("unbatched", (3, 9, 10), dict(kernel_size=3, stride=2, padding=1)),
    # stride 1: the backward runs as window sums of the scaled gradient,
    # padded by K - 1 - P (more than half the kernel when P = 0)
    ("s1_k3_p0", (2, 3, 7, 9), dict(kernel_size=3, stride=1)),
    ("s1_k2_p1_ceil", (1, 2, 6, 5), dict(kernel_size=2, stride=1, padding=1, ceil_mode=True)),
    ("s1_rect_4x5_p2", (1, 2, 9, 11), dict(kernel_size=(4, 5), stride=1, padding=2)),
    ("s1_k1", (1, 2, 4, 5), dict(kernel_size=1, stride=1)),
    ("s1_large_k5_p2", (2, 3, 30, 41), dict(kernel_size=5, stride=1, padding=2)),
    # one window per dimension (its stride taken as 1), overhanging the input
    ("ceil_single_window", (1, 2, 2, 2), dict(kernel_size=3, stride=3, padding=1,
                                              ceil_mode=True)),
]

MAX1D = [
    ("k3_s2_p1", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1)),
    ("k2_long", (1, 2, 67), dict(kernel_size=2)),
    ("overlap_s1", (1, 2, 33), dict(kernel_size=4, stride=1, padding=2)),
    ("dilation3", (1, 2, 13), dict(kernel_size=3, stride=1, padding=1, dilation=3)),
    ("ceil_drop", (1, 2, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("tuples_stride_gt_kernel", (1, 2, 14), dict(kernel_size=(2,), stride=(5,), padding=(1,))),
    ("unbatched", (3, 10), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
]

AVG1D = [
    ("k3_s2_p1", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1)),
    ("k2_long", (1, 2, 67), dict(kernel_size=2)),
    ("overlap_s1", (1, 2, 33), dict(kernel_size=4, stride=1, padding=2)),
    ("s1_k3_p0", (2, 3, 12), dict(kernel_size=3, stride=1)),
    ("ceil_partial", (1, 2, 4), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("ceil_drop", (1, 2, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("tuples_stride_gt_kernel", (1, 2, 14), dict(kernel_size=(2,), stride=(5,), padding=(1,))),
    ("unbatched", (3, 10), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
]

ADAPTIVE = [
    ("divides", (2, 3, 6, 6), (3, 3)),
    ("7x5_to_3x2", (2, 2, 7, 5), (3, 2)),
    ("5x7_to_4x6", (1, 1, 5, 7), (4, 6)),
    ("10x3_to_4x1", (1, 2, 10, 3), (4, 1)),
    ("13x37_to_5x7", (1, 2, 13, 37), (5, 7)),
    ("larger_4x4_to_6x5", (1, 1, 4, 4), (6, 5)),
    ("global_int", (2, 3, 5, 7), 1),
    ("unbatched", (3, 7, 9), (2, 4)),
]


# ---------------------------------------------------------------------------
# the grids
# ---------------------------------------------------------------------------

def check_max(fast, nd, case, dtype, kind="normal"):
    name, shape, kw = case
    fwd, bwd = fast(f"max_pool{nd}d"), fast(f"max_pool{nd}d_backward")
    x, rng = _values(kind, shape, dtype, "max", nd, name)
    x64 = x.astype(np.float64)
    e_out, e_idx = getattr(ref, f"max_pool{nd}d")(x64, **kw, return_indices=True)
    go = rng.standard_normal(e_out.shape).astype(dtype)
    e_gx = getattr(ref, f"max_pool{nd}d_backward")(go.astype(np.float64), x64, **kw)

    out, idx = fwd(x, **kw, return_indices=True)
    # a maximum is one of the inputs: exact, NaN where the oracle has NaN
    assert out.dtype == np.dtype(dtype) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, e_out.astype(dtype))
    assert idx.dtype == np.int64 and idx.shape == e_idx.shape
    np.testing.assert_array_equal(idx, e_idx)
    np.testing.assert_array_equal(fwd(x, **kw), out)

    gx = bwd(go, x, **kw)
    assert_matches(gx, e_gx, dtype)
    # the forward's indices give the same gradient as recomputing them
    np.testing.assert_array_equal(bwd(go, x, **kw, indices=idx), gx)


def check_avg(fast, nd, case, dtype, count_include_pad):
    name, shape, kw = case
    kw = dict(kw, count_include_pad=count_include_pad)
    fwd, bwd = fast(f"avg_pool{nd}d"), fast(f"avg_pool{nd}d_backward")
    x, rng = _values("normal", shape, dtype, "avg", nd, name)
    e_out = getattr(ref, f"avg_pool{nd}d")(x.astype(np.float64), **kw)
    go = rng.standard_normal(e_out.shape).astype(dtype)
    e_gx = getattr(ref, f"avg_pool{nd}d_backward")(go.astype(np.float64), shape, **kw)
    assert_matches(fwd(x, **kw), e_out, dtype)
    assert_matches(bwd(go, shape, **kw), e_gx, dtype)


@pytest.mark.parametrize("case", _ids(MAX2D))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_max_pool2d(fast, kernel_set, dtype, case):
    check_max(fast, 2, case, dtype)


@pytest.mark.parametrize("case", _ids(MAX1D))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_max_pool1d(fast, kernel_set, dtype, case):
    check_max(fast, 1, case, dtype)


TIE_NAN_CASES = [c for c in MAX2D if c[0] in (
    "k2_odd_sizes", "k3_s2_p1", "k3_s1_p1_wide", "rect_2x3_s1x2", "dilation_rect",
    "ceil_pad_drop", "large_k3_s2_p1", "unbatched")]


@pytest.mark.parametrize("kind", ["ties", "ties_finite", "nan", "nan_one_plane"])
@pytest.mark.parametrize("case", _ids(TIE_NAN_CASES))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_max_pool2d_ties_and_nan(fast, kernel_set, dtype, case, kind):
    # ties: the first maximum in row-major window order (windows of -inf
    # only: their first input element); NaN: NaN, at the first NaN
    check_max(fast, 2, case, dtype, kind)


@pytest.mark.parametrize("kind", ["ties", "ties_finite", "nan", "nan_one_plane"])
@pytest.mark.parametrize("case", _ids([MAX1D[0], MAX1D[2], MAX1D[3]]))
def test_max_pool1d_ties_and_nan(fast, kernel_set, case, kind):
    check_max(fast, 1, case, np.float32, kind)


@pytest.mark.parametrize("count_include_pad", [True, False], ids=["incl_pad", "excl_pad"])
@pytest.mark.parametrize("case", _ids(AVG2D))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_avg_pool2d(fast, kernel_set, dtype, case, count_include_pad):
    check_avg(fast, 2, case, dtype, count_include_pad)


@pytest.mark.parametrize("count_include_pad", [True, False], ids=["incl_pad", "excl_pad"])
@pytest.mark.parametrize("case", _ids(AVG1D))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_avg_pool1d(fast, kernel_set, dtype, case, count_include_pad):
    check_avg(fast, 1, case, dtype, count_include_pad)


@pytest.mark.parametrize("case", _ids(ADAPTIVE))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_adaptive_avg_pool2d(fast, kernel_set, dtype, case):
    name, shape, size = case
    fwd, bwd = fast("adaptive_avg_pool2d"), fast("adaptive_avg_pool2d_backward")
    x, rng = _values("normal", shape, dtype, "adaptive", name)
    e_out = ref.adaptive_avg_pool2d(x.astype(np.float64), size)
    go = rng.standard_normal(e_out.shape).astype(dtype)
    assert_matches(fwd(x, size), e_out, dtype)
    assert_matches(bwd(go, shape), ref.adaptive_avg_pool2d_backward(
        go.astype(np.float64), shape), dtype)


def test_max_pool2d_hand_worked(fast):
    # the spec's cases, independently of the oracle
    x = np.array([[1., 5., 2., 0.],
                  [3., 4., 8., 6.],
                  [7., 0., 1., 2.],
                  [9., 3., 4., 5.]]).reshape(1, 1, 4, 4)
    out, idx = fast("max_pool2d")(x, 2, return_indices=True)
    np.testing.assert_array_equal(out, [[[[5., 8.], [9., 5.]]]])
    np.testing.assert_array_equal(idx, [[[[1, 6], [12, 15]]]])
    x = np.arange(9.).reshape(1, 1, 3, 3)
    x[0, 0, 0, 2] = x[0, 0, 1, 0] = NAN
    out, idx = fast("max_pool2d")(x, 3, return_indices=True)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 2
    out, idx = fast("max_pool2d")(np.array([[[[2., 7.], [7., 1.]]]]), 2, return_indices=True)
    assert idx[0, 0, 0, 0] == 1
    out = fast("max_pool1d")(np.arange(1., 6.).reshape(1, 1, 5), 2, 2, 1, ceil_mode=True)
    np.testing.assert_array_equal(out, [[[1., 3., 5.]]])


# ---------------------------------------------------------------------------
# threads, layouts, dtypes, empty batch
# ---------------------------------------------------------------------------

def run_all(fast, op, x, go, kw):
    """Every result of op family `op` on x (and go, its grad_output)."""
    if op.startswith("max"):
        out, idx = fast(op)(x, **kw, return_indices=True)
        bwd = fast(op + "_backward")
        return [out, idx, fast(op)(x, **kw), bwd(go, x, **kw), bwd(go, x, **kw, indices=idx)]
    if op.startswith("avg"):
        return [fast(op)(x, **kw), fast(op + "_backward")(go, x.shape, **kw)]
    return [fast(op)(x, **kw), fast(op + "_backward")(go, x.shape)]


def _out_shape(op, shape, kw):
    return getattr(ref, op)(np.zeros(shape), **kw).shape


# shapes with several planes and rows, so every driver splits its work
SPLIT_CASES = [
    ("max_pool2d", (4, 8, 33, 35), dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool2d", (1, 3, 40, 41), dict(kernel_size=2, ceil_mode=True)),
    ("avg_pool2d", (4, 8, 33, 35), dict(kernel_size=3, stride=2, padding=1,
                                        count_include_pad=False)),
    ("avg_pool2d", (2, 5, 30, 31), dict(kernel_size=(2, 3), stride=1, ceil_mode=True)),
    ("adaptive_avg_pool2d", (4, 8, 31, 29), dict(output_size=(7, 6))),
    ("max_pool1d", (4, 8, 301), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool1d", (4, 8, 301), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
]


@pytest.mark.parametrize("case", SPLIT_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_one_and_two_threads_bitwise_identical(fast, restore_threads, dtype, case):
    op, shape, kw = case
    x, rng = _values("normal", shape, dtype, "threads", op)
    go = rng.standard_normal(_out_shape(op, shape, kw)).astype(dtype)
    convcore.set_num_threads(1)
    one = run_all(fast, op, x, go, kw)
    convcore.set_num_threads(2)
    two = run_all(fast, op, x, go, kw)
    for a, b in zip(one, two):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def _view(a, kind):
    """A view with the values of `a` and the layout `kind` (never C order)."""
    if kind == "transposed":
        v = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    elif kind == "sliced":
        big = np.zeros(a.shape[:-2] + (2 * a.shape[-2], a.shape[-1] + 1), a.dtype)
        v = big[..., ::2, 1:]
        v[...] = a
    elif kind == "negative":
        v = a[..., ::-1].copy()[..., ::-1]
    elif kind == "fortran":
        v = np.asfortranarray(a)
    else:
        raise AssertionError(kind)
    assert np.array_equal(v, a, equal_nan=True)
    assert not v.flags.c_contiguous
    return v


NONCONTIG_CASES = [
    ("max_pool2d", (2, 3, 9, 8), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool2d", (2, 3, 9, 8), dict(kernel_size=(3, 2), stride=(2, 1), padding=1)),
    ("adaptive_avg_pool2d", (2, 3, 9, 8), dict(output_size=(4, 3))),
    ("max_pool1d", (2, 3, 14), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool1d", (2, 3, 14), dict(kernel_size=3, stride=2, padding=1)),
]


@pytest.mark.parametrize("case", NONCONTIG_CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("kind", ["transposed", "sliced", "negative", "fortran"])
@pytest.mark.parametrize("arg", ["input", "grad_output"])
def test_non_contiguous_inputs(fast, case, kind, arg):
    op, shape, kw = case
    x, rng = _values("normal", shape, np.float32, "noncontig", op)
    go = rng.standard_normal(_out_shape(op, shape, kw)).astype(np.float32)
    expected = run_all(fast, op, x, go, kw)
    if arg == "input":
        x = _view(x, kind)
    else:
        go = _view(go, kind)
    for g, e in zip(run_all(fast, op, x, go, kw), expected):
        assert g.flags.c_contiguous
        assert g.dtype == e.dtype and np.array_equal(g, e)


DTYPE_CASES = [
    ("max_pool2d", (2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool2d", (2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ("adaptive_avg_pool2d", (2, 3, 7, 6), dict(output_size=(3, 4))),
    ("max_pool1d", (2, 3, 9), dict(kernel_size=2)),
    ("avg_pool1d", (2, 3, 9), dict(kernel_size=2, ceil_mode=True)),
]


@pytest.mark.parametrize("case", DTYPE_CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("dtype,expected", [
    (np.float16, np.float32), (np.int64, np.float64), (np.int8, np.float64),
    (np.uint8, np.float64), (np.int32, np.float64),
], ids=lambda d: np.dtype(d).name)
def test_dtype_rules(fast, case, dtype, expected):
    op, shape, kw = case
    rng = _rng("dtype", op, np.dtype(dtype).name)
    x = rng.integers(0, 50, shape).astype(dtype)
    go = rng.integers(0, 5, _out_shape(op, shape, kw)).astype(dtype)
    got = run_all(fast, op, x, go, kw)
    x64, go64 = x.astype(np.float64), go.astype(np.float64)
    exp = [r.astype(np.float64) if r.dtype.kind == "f" else r
           for r in run_ref(op, x64, go64, kw)]
    for g, e in zip(got, exp):
        if e.dtype.kind == "i":
            assert g.dtype == np.int64 and np.array_equal(g, e)
        else:
            assert_matches(g, e, expected)


def run_ref(op, x, go, kw):
    """run_all on the oracle."""
    return run_all(lambda name: getattr(ref, name), op, x, go, kw)


@pytest.mark.parametrize("which", ["grad_output", "input"])
def test_max_pool_backward_mixed_float_dtypes_promote(fast, which):
    x = _rng("mixed").standard_normal((2, 3, 6, 6))
    go = np.ones((2, 3, 3, 3))
    if which == "input":
        x = x.astype(np.float32)
    else:
        go = go.astype(np.float32)
    gx = fast("max_pool2d_backward")(go, x, 2)
    assert gx.dtype == np.float64
    np.testing.assert_array_equal(gx, ref.max_pool2d_backward(go, x, 2))


@pytest.mark.parametrize("case", DTYPE_CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_batch_zero(fast, case, dtype):
    op, shape, kw = case
    shape = (0,) + shape[1:]
    x = np.zeros(shape, dtype)
    out_shape = _out_shape(op, shape, kw)
    for r, s in zip(run_all(fast, op, x, np.zeros(out_shape, dtype), kw),
                    [out_shape, out_shape, out_shape, shape, shape] if op.startswith("max")
                    else [out_shape, shape]):
        assert r.shape == s


def test_lists_accepted(fast):
    x = [[[[1., 5.], [3., 4.]]]]
    np.testing.assert_array_equal(fast("max_pool2d")(x, 2), [[[[5.]]]])
    np.testing.assert_array_equal(fast("avg_pool2d")(x, 2), [[[[3.25]]]])
    np.testing.assert_array_equal(fast("max_pool1d")([[1, 3, 2]], 2, 1), [[3., 3.]])


# ---------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------

def z(*shape, dtype=np.float64):
    return np.zeros(shape, dtype)


X = z(1, 1, 8, 8)
X1 = z(1, 1, 8)

# (id, op, args, kwargs, exception, regex: the argument and what it got)
BAD = [
    ("max_padding_gt_half_kernel", "max_pool2d", (X, 3), dict(padding=2), ValueError,
     r"padding\D*2"),
    ("avg_padding_gt_half_kernel_w", "avg_pool2d", (X, (3, 2)), dict(padding=(1, 2)),
     ValueError, r"padding\D*1, 2"),
    ("max1d_padding_gt_half_kernel", "max_pool1d", (X1, 2), dict(padding=2), ValueError,
     r"padding\D*2"),
    ("avg1d_padding_gt_half_kernel", "avg_pool1d", (X1, 3), dict(padding=2), ValueError,
     r"padding\D*2"),
    ("kernel_larger_than_input", "max_pool2d", (z(1, 1, 3, 3), 5), {}, ValueError,
     r"(?s)kernel.*5"),
    ("kernel_larger_than_padded_input", "avg_pool2d", (z(1, 1, 3, 9), 6),
     dict(padding=1), ValueError, r"(?s)kernel.*6"),
    ("dilated_kernel_larger_than_input", "max_pool2d", (z(1, 1, 5, 5), 3),
     dict(dilation=3), ValueError, r"(?s)kernel.*dilation"),
    ("kernel_larger_1d", "max_pool1d", (z(1, 1, 3), 4), {}, ValueError, r"(?s)kernel.*4"),
    ("stride_0", "max_pool2d", (X, 2), dict(stride=0), ValueError, r"(?s)stride.*0"),
    ("stride_0_avg", "avg_pool2d", (X, 2), dict(stride=(1, 0)), ValueError, r"(?s)stride.*0"),
    ("stride_0_1d", "avg_pool1d", (X1, 2), dict(stride=0), ValueError, r"(?s)stride.*0"),
    ("kernel_0", "max_pool2d", (X, 0), {}, ValueError, r"(?s)kernel_size.*0"),
    ("dilation_0", "max_pool2d", (X, 2), dict(dilation=0), ValueError, r"(?s)dilation.*0"),
    ("padding_negative", "avg_pool2d", (X, 2), dict(padding=-1), ValueError,
     r"(?s)padding.*-1"),
    ("kernel_three_ints", "max_pool2d", (X, (2, 2, 2)), {}, ValueError, r"kernel_size"),
    ("kernel_float", "max_pool2d", (X, 2.0), {}, TypeError, r"kernel_size"),
    ("max_input_2d", "max_pool2d", (z(8, 8), 2), {}, ValueError, r"input.*\(8, 8\)"),
    ("max_input_5d", "max_pool2d", (z(1, 1, 1, 8, 8), 2), {}, ValueError,
     r"input.*\(1, 1, 1, 8, 8\)"),
    ("avg_input_2d", "avg_pool2d", (z(8, 8), 2), {}, ValueError, r"input.*\(8, 8\)"),
    ("adaptive_input_2d", "adaptive_avg_pool2d", (z(8, 8), 2), {}, ValueError,
     r"input.*\(8, 8\)"),
    ("max1d_input_4d", "max_pool1d", (X, 2), {}, ValueError, r"input.*\(1, 1, 8, 8\)"),
    ("avg1d_input_1d", "avg_pool1d", (z(8), 2), {}, ValueError, r"input.*\(8,\)"),
    ("max_bwd_grad_shape", "max_pool2d_backward", (z(1, 1, 3, 3), X, 2), {}, ValueError,
     r"grad_output.*\(1, 1, 3, 3\)"),
    ("max_bwd_indices_shape", "max_pool2d_backward", (z(1, 1, 4, 4), X, 2),
     dict(indices=np.zeros((1, 1, 4, 3), np.int64)), ValueError, r"indices.*\(1, 1, 4, 3\)"),
    ("max1d_bwd_grad_shape", "max_pool1d_backward", (z(1, 1, 5), X1, 2), {}, ValueError,
     r"grad_output.*\(1, 1, 5\)"),
    ("avg_bwd_grad_shape", "avg_pool2d_backward", (z(1, 1, 4, 3), X.shape, 2), {}, ValueError,
     r"grad_output.*\(1, 1, 4, 3\)"),
    ("avg_bwd_grad_channels", "avg_pool2d_backward", (z(1, 2, 4, 4), X.shape, 2), {},
     ValueError, r"grad_output.*\(1, 2, 4, 4\)"),
    ("avg1d_bwd_grad_shape", "avg_pool1d_backward", (z(1, 1, 3), X1.shape, 2), {},
     ValueError, r"grad_output.*\(1, 1, 3\)"),
    ("adaptive_bwd_grad_shape", "adaptive_avg_pool2d_backward", (z(1, 2, 3, 3), X.shape), {},
     ValueError, r"grad_output.*\(1, 2, 3, 3\)"),
    ("adaptive_output_size_0", "adaptive_avg_pool2d", (X, 0), {}, ValueError,
     r"(?s)output_size.*0"),
    ("max_complex", "max_pool2d", (z(1, 1, 4, 4, dtype=complex), 2), {}, TypeError,
     r"input.*complex"),
    ("avg_complex", "avg_pool2d", (z(1, 1, 4, 4, dtype=complex), 2), {}, TypeError,
     r"input.*complex"),
    ("adaptive_complex", "adaptive_avg_pool2d", (z(1, 1, 4, 4, dtype=complex), 2), {},
     TypeError, r"input.*complex"),
    ("max1d_complex", "max_pool1d", (z(1, 1, 4, dtype=np.complex64), 2), {}, TypeError,
     r"input.*complex64"),
    ("avg_bwd_complex", "avg_pool2d_backward", (z(1, 1, 2, 2, dtype=complex), X.shape, 4),
     {}, TypeError, r"grad_output.*complex"),
    ("max_bwd_complex", "max_pool2d_backward", (z(1, 1, 4, 4, dtype=complex), X, 2), {},
     TypeError, r"grad_output.*complex"),
    ("max_object", "max_pool2d", (np.array([[[["a"]]]]), 1), {}, TypeError, r"input"),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: c[0])
def test_bad_inputs(fast, case):
    _, op, args, kw, exc, pattern = case
    with pytest.raises(exc) as info:
        fast(op)(*args, **kw)
    msg = str(info.value)
    assert re.search(pattern, msg), msg
    assert op in msg, msg  # and the function
