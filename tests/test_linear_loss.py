"""The fast fully connected layer, flatten, softmax / log_softmax and
cross-entropy (with gradients) against the NumPy oracle (convcore.reference).

Expected values come from ``convcore.reference`` in float64, from the very
values handed to the fast path.
"""
import re
import warnings

import numpy as np
import pytest

import convcore
from helpers import assert_matches as _assert_matches, rng as _rng
from convcore import reference as ref


def assert_matches(got, expected, dtype):
    # a reduction to shape () may come back as a 0-d array or a NumPy scalar;
    # flatten returns a view when it can, as torch.flatten does
    _assert_matches(got, expected, dtype, scalar_ok=True, contiguous=False)


DTYPES = [np.float32, np.float64]


def _f64(*arrays):
    return [None if a is None else np.asarray(a).astype(np.float64) for a in arrays]


# ---------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------

LINEAR = [
    ("batch", (4, 5), 3),
    ("vector", (5,), 3),
    ("3d", (2, 3, 5), 4),
    ("wide", (1, 67), 17),
    ("tall", (33, 7), 1),
    ("empty_batch", (0, 5), 3),
    ("tiles", (50, 41), 70),        # several row and column tiles, partial ones
    ("no_features", (3, 0), 4),     # in_features = 0: output is the bias
]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("case", LINEAR, ids=lambda c: c[0])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_linear(fast, kernel_set, dtype, case, bias):
    name, x_shape, out_features = case
    rng = _rng("linear", name, np.dtype(dtype).name)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((out_features, x_shape[-1])).astype(dtype)
    b = rng.standard_normal(out_features).astype(dtype) if bias else None
    e_y = ref.linear(*_f64(x, w, b))
    assert_matches(fast("linear")(x, w, b), e_y, dtype)
    if not bias:
        assert_matches(fast("linear")(x, w), e_y, dtype)
    go = rng.standard_normal(e_y.shape).astype(dtype)
    got = fast("linear_backward")(go, x, w)
    expected = ref.linear_backward(*_f64(go, x, w))
    assert len(got) == 3
    for g, e in zip(got, expected):
        assert_matches(g, e, dtype)


def test_linear_mixed_dtypes_promote(fast):
    x = np.ones((2, 3), np.float32)
    w = np.ones((4, 3), np.float32)
    assert fast("linear")(x, w).dtype == np.float32
    assert fast("linear")(x, w, np.ones(4)).dtype == np.float64
    assert fast("linear")(x, w.astype(np.float64)).dtype == np.float64
    for g in fast("linear_backward")(np.ones((2, 4)), x, w):
        assert g.dtype == np.float64


# ---------------------------------------------------------------------------
# flatten
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape,start_dim", [
    ((2, 3, 4, 5), 1), ((2, 3, 4, 5), 0), ((2, 3, 4, 5), 2), ((2, 3, 4, 5), 3),
    ((2, 3, 4, 5), -1), ((2, 3, 4, 5), -3), ((2, 3, 4, 5), -4), ((7,), 0), ((7,), -1),
    ((0, 3, 4), 1), ((2, 0, 4), 1), ((), 0),
], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64],
                         ids=lambda d: np.dtype(d).name)
def test_flatten(fast, shape, start_dim, dtype):
    x = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    got = fast("flatten")(x, start_dim)
    expected = ref.flatten(x, start_dim)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype == np.dtype(dtype)  # a reshape keeps the dtype
    np.testing.assert_array_equal(got, expected)


def test_flatten_default_and_non_contiguous(fast):
    x = np.arange(120.).reshape(2, 3, 4, 5)
    assert fast("flatten")(x).shape == (2, 60)
    v = x.transpose(0, 3, 2, 1)
    np.testing.assert_array_equal(fast("flatten")(v), ref.flatten(v))
    np.testing.assert_array_equal(fast("flatten")(x[:, :, ::2]), ref.flatten(x[:, :, ::2]))


# ---------------------------------------------------------------------------
# softmax, log_softmax
# ---------------------------------------------------------------------------

SOFTMAX = [
    ("rows", (4, 10), -1),
    ("rows_axis1", (4, 10), 1),
    ("cols", (4, 10), 0),
    ("3d_mid", (3, 4, 5), 1),
    ("3d_first", (3, 4, 5), -3),
    ("vector", (17,), 0),
    ("single_class", (5, 1), 1),
]


@pytest.mark.parametrize("scale", [1.0, 300.0], ids=["normal", "huge"])
@pytest.mark.parametrize("case", SOFTMAX, ids=lambda c: c[0])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_softmax_log_softmax(fast, dtype, case, scale):
    name, shape, axis = case
    x = (_rng("softmax", name, np.dtype(dtype).name).standard_normal(shape) * scale).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            s = fast("softmax")(x, axis)
            ls = fast("log_softmax")(x, axis)
    assert_matches(s, ref.softmax(x.astype(np.float64), axis), dtype)
    assert_matches(ls, ref.log_softmax(x.astype(np.float64), axis), dtype)
    assert s.shape == ls.shape == x.shape
    np.testing.assert_allclose(s.sum(axis=axis), 1, rtol=1e-5)


def test_softmax_default_axis_is_last(fast):
    x = _rng("default_axis").standard_normal((3, 4))
    np.testing.assert_array_equal(fast("softmax")(x), fast("softmax")(x, -1))
    np.testing.assert_array_equal(fast("log_softmax")(x), fast("log_softmax")(x, 1))


# ---------------------------------------------------------------------------
# cross-entropy
# ---------------------------------------------------------------------------

CE = [
    ("n1_c5", 1, 5),
    ("n8_c10", 8, 10),
    ("n33_c7", 33, 7),
    ("n4_c1", 4, 1),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("scale", [3.0, 500.0], ids=["normal", "huge"])
@pytest.mark.parametrize("case", CE, ids=lambda c: c[0])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_cross_entropy(fast, dtype, case, scale, reduction):
    name, N, C = case
    rng = _rng("ce", name, np.dtype(dtype).name)
    z = (rng.standard_normal((N, C)) * scale).astype(dtype)
    t = rng.integers(0, C, N)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            loss = fast("cross_entropy")(z, t, reduction)
            g = fast("cross_entropy_backward")(z, t, reduction)
    e_loss = ref.cross_entropy(z.astype(np.float64), t, reduction)
    assert_matches(loss, e_loss, dtype)
    assert np.shape(loss) == ((N,) if reduction == "none" else ())
    assert_matches(g, ref.cross_entropy_backward(z.astype(np.float64), t, reduction), dtype)


def test_cross_entropy_default_reduction_is_mean(fast):
    z = _rng("ce_default").standard_normal((6, 4))
    t = np.array([0, 1, 2, 3, 0, 1])
    np.testing.assert_array_equal(fast("cross_entropy")(z, t), fast("cross_entropy")(z, t, "mean"))
    np.testing.assert_array_equal(fast("cross_entropy_backward")(z, t),
                                  fast("cross_entropy_backward")(z, t, "mean"))


@pytest.mark.parametrize("tdtype", [np.int8, np.uint8, np.int32, np.int64])
def test_cross_entropy_integer_target_dtypes(fast, tdtype):
    z = _rng("ce_t").standard_normal((5, 3))
    t = np.array([0, 2, 1, 1, 0], dtype=tdtype)
    np.testing.assert_allclose(fast("cross_entropy")(z, t), ref.cross_entropy(z, t),
                               rtol=1e-12)
    np.testing.assert_allclose(fast("cross_entropy")(z, t.tolist()), ref.cross_entropy(z, t),
                               rtol=1e-12)


def test_cross_entropy_hand_worked(fast):
    z = np.array([[0., np.log(3.)], [0., np.log(3.)]])
    t = np.array([1, 0])
    np.testing.assert_allclose(fast("cross_entropy")(z, t, "none"), -np.log([0.75, 0.25]),
                               rtol=1e-14)
    np.testing.assert_allclose(fast("cross_entropy_backward")(z, t),
                               [[0.125, -0.125], [-0.375, 0.375]], rtol=1e-14)


# ---------------------------------------------------------------------------
# dtypes, layouts, threads
# ---------------------------------------------------------------------------

def run_all(get, z, t, x, w, b, go):
    """Every result of the ops of this module on the given arguments."""
    out = [get("linear")(x, w, b), *get("linear_backward")(go, x, w),
           get("flatten")(x), get("softmax")(z), get("log_softmax")(z, 0)]
    for red in ("mean", "sum", "none"):
        out += [get("cross_entropy")(z, t, red), get("cross_entropy_backward")(z, t, red)]
    return out


def _args(dtype, key):
    rng = _rng("args", np.dtype(dtype).name, key)
    draw = (lambda s: rng.integers(-4, 5, s)) if np.dtype(dtype).kind in "iu" else \
        rng.standard_normal
    z = draw((6, 5)).astype(dtype)
    t = rng.integers(0, 5, 6)
    x = draw((6, 7)).astype(dtype)
    w = draw((3, 7)).astype(dtype)
    b = draw(3).astype(dtype)
    go = draw((6, 3)).astype(dtype)
    return z, t, x, w, b, go


@pytest.mark.parametrize("dtype,expected", [
    (np.float16, np.float32), (np.int64, np.float64), (np.int8, np.float64),
    (np.int32, np.float64),
], ids=lambda d: np.dtype(d).name)
def test_dtype_rules(fast, dtype, expected):
    args = _args(dtype, "dtype")
    got = run_all(fast, *args)
    exp = run_all(lambda n: getattr(ref, n), args[0].astype(np.float64), args[1],
                  *_f64(*args[2:]))
    for i, (g, e) in enumerate(zip(got, exp)):
        if i == 4:  # flatten keeps the dtype
            assert g.dtype == np.dtype(dtype) and np.array_equal(g, e)
        else:
            assert_matches(g, e, expected)


def _view(a, kind):
    if kind == "transposed":
        v = np.ascontiguousarray(a.T).T
    elif kind == "sliced":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        v = big[..., ::2]
        v[...] = a
    elif kind == "negative":
        v = a[::-1].copy()[::-1]
    else:
        raise AssertionError(kind)
    assert np.array_equal(v, a) and not v.flags.c_contiguous
    return v


ARG_NAMES = ["logits", "target", "input", "weight", "bias", "grad_output"]


@pytest.mark.parametrize("arg,kind", [
    (arg, kind) for arg in ARG_NAMES for kind in ["transposed", "sliced", "negative"]
    if not (kind == "transposed" and arg in ("target", "bias"))  # 1-D: no transpose
], ids=lambda v: v)
def test_non_contiguous_inputs(fast, arg, kind):
    args = list(_args(np.float64, "noncontig"))
    i = ARG_NAMES.index(arg)
    args[i] = _view(args[i], kind)
    exp = run_all(lambda n: getattr(ref, n), *args)
    for g, e in zip(run_all(fast, *args), exp):
        assert_matches(g, e, np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_linear_strided_operands_and_threads(kernel_set, restore_threads, dtype):
    """Transposed, sliced and reversed operands; the same bits on 1, 2 and 3
    threads (each output is one sum in a fixed order)."""
    rng = _rng("linear_strided", np.dtype(dtype).name)
    x = rng.standard_normal((90, 75)).astype(dtype).T[::-1, ::2]   # (75, 45)
    w = np.asfortranarray(rng.standard_normal((33, 45)).astype(dtype))
    go = rng.standard_normal((75, 33)).astype(dtype)[:, ::-1]
    runs = []
    for n in (1, 2, 3):
        convcore.set_num_threads(n)
        runs.append((convcore.linear(x, w),) + convcore.linear_backward(go, x, w))
    expected = (ref.linear(*_f64(x, w)),) + ref.linear_backward(*_f64(go, x, w))
    for got, e in zip(runs[0], expected):
        assert_matches(got, e, dtype)
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_one_and_two_threads_bitwise_identical(fast, restore_threads, dtype):
    args = _args(dtype, "threads")
    convcore.set_num_threads(1)
    one = run_all(fast, *args)
    convcore.set_num_threads(2)
    two = run_all(fast, *args)
    for a, b in zip(one, two):
        assert np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b)


# ---------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------

def z(*shape, dtype=np.float64):
    return np.zeros(shape, dtype)


T2 = np.array([0, 1])

# (id, op, args, kwargs, exception, regex: the argument and what it got)
BAD = [
    ("ce_target_too_large", "cross_entropy", (z(2, 3), np.array([0, 3])), {}, ValueError,
     r"(?s)target.*3"),
    ("ce_target_negative", "cross_entropy", (z(2, 3), np.array([-1, 0])), {}, ValueError,
     r"(?s)target.*-1"),
    ("ce_bwd_target_too_large", "cross_entropy_backward", (z(2, 3), np.array([0, 5])), {},
     ValueError, r"(?s)target.*5"),
    ("ce_target_length", "cross_entropy", (z(2, 3), np.array([0, 1, 1])), {}, ValueError,
     r"target.*\(3,\)"),
    ("ce_target_2d", "cross_entropy", (z(2, 3), np.array([[0, 1]])), {}, ValueError,
     r"target.*\(1, 2\)"),
    ("ce_bwd_target_shape", "cross_entropy_backward", (z(2, 3), np.array([0])), {},
     ValueError, r"target.*\(1,\)"),
    ("ce_target_float", "cross_entropy", (z(2, 3), np.array([0., 1.])), {}, TypeError,
     r"target.*float64"),
    ("ce_bwd_target_float", "cross_entropy_backward", (z(2, 3), np.array([0., 1.])), {},
     TypeError, r"target.*float64"),
    ("ce_logits_complex", "cross_entropy", (z(2, 3, dtype=complex), T2), {}, TypeError,
     r"logits.*complex"),
    ("ce_logits_3d", "cross_entropy", (z(2, 3, 1), T2), {}, ValueError,
     r"logits.*\(2, 3, 1\)"),
    ("ce_logits_1d", "cross_entropy_backward", (z(3), T2), {}, ValueError, r"logits.*\(3,\)"),
    ("ce_reduction", "cross_entropy", (z(2, 3), T2), dict(reduction="avg"), ValueError,
     r"reduction.*avg"),
    ("linear_in_features", "linear", (z(2, 4), z(3, 5)), {}, ValueError, r"input.*\(2, 4\)"),
    ("linear_weight_3d", "linear", (z(2, 5), z(3, 5, 1)), {}, ValueError,
     r"weight.*\(3, 5, 1\)"),
    ("linear_bias_shape", "linear", (z(2, 5), z(3, 5), z(4)), {}, ValueError,
     r"bias.*\(4,\)"),
    ("linear_complex", "linear", (z(2, 5, dtype=complex), z(3, 5)), {}, TypeError,
     r"input.*complex"),
    ("linear_weight_complex", "linear", (z(2, 5), z(3, 5, dtype=complex)), {}, TypeError,
     r"weight.*complex"),
    ("linear_bwd_grad_shape", "linear_backward", (z(2, 4), z(2, 5), z(3, 5)), {}, ValueError,
     r"grad_output.*\(2, 4\)"),
    ("linear_bwd_in_features", "linear_backward", (z(2, 3), z(2, 4), z(3, 5)), {},
     ValueError, r"input.*\(2, 4\)"),
    ("linear_bwd_complex", "linear_backward", (z(2, 3, dtype=complex), z(2, 5), z(3, 5)), {},
     TypeError, r"grad_output.*complex"),
    ("flatten_start_dim", "flatten", (z(2, 3), 2), {}, ValueError, r"start_dim.*2"),
    ("flatten_start_dim_neg", "flatten", (z(2, 3), -3), {}, ValueError, r"start_dim.*-3"),
    ("softmax_axis", "softmax", (z(2, 3), 2), {}, ValueError, r"axis.*2"),
    ("log_softmax_axis", "log_softmax", (z(2, 3), -3), {}, ValueError, r"axis.*-3"),
    ("softmax_complex", "softmax", (z(2, 3, dtype=complex),), {}, TypeError,
     r"\b(x|input)\b.*complex"),
    ("log_softmax_complex", "log_softmax", (z(2, 3, dtype=complex),), {}, TypeError,
     r"\b(x|input)\b.*complex"),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: c[0])
def test_bad_inputs(fast, case):
    _, op, args, kw, exc, pattern = case
    with pytest.raises(exc) as info:
        fast(op)(*args, **kw)
    msg = str(info.value)
    assert re.search(pattern, msg), msg
    assert op in msg, msg
