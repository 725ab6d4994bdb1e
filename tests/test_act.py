"""The fast activations (relu, leaky_relu, sigmoid, tanh and their gradients)
against the NumPy oracle (convcore.reference).

Every compiled kernel set runs the grid (the ``kernel_set`` fixture), over
lengths around the vector widths so that every tail is hit. Expected values
come from ``convcore.reference`` in float64, from the very values handed to
the fast path. A fast op that has not landed yet is skipped with "not
implemented yet: <name>" (the ``fast`` fixture; temporary).
"""
import re
import warnings

import numpy as np
import pytest

import convcore
from helpers import assert_matches as _assert_matches, rng as _rng
from convcore import reference as ref


def assert_matches(got, expected, dtype):
    # a 0-d input may give a 0-d array or a NumPy scalar, never a 1-d array
    _assert_matches(got, expected, dtype, scalar_ok=True)


DTYPES = [np.float32, np.float64]
NAN, INF = np.nan, np.inf

# (id, forward name, kwargs); the backward takes the input for relu and
# leaky_relu, the output for sigmoid and tanh
OPS = [
    ("relu", "relu", {}),
    ("leaky_relu", "leaky_relu", {}),
    ("leaky_relu_0.2", "leaky_relu", dict(negative_slope=0.2)),
    ("leaky_relu_0", "leaky_relu", dict(negative_slope=0.0)),
    ("leaky_relu_neg", "leaky_relu", dict(negative_slope=-1.5)),
    ("sigmoid", "sigmoid", {}),
    ("tanh", "tanh", {}),
]
FROM_OUTPUT = ("sigmoid", "tanh")

SHAPES = [(0,), (1,), (7,), (15,), (16,), (17,), (31,), (33,), (67,),
          (3, 5, 7), (2, 3, 4, 5)]


def _values(shape, dtype, *key):
    """Normal values (scaled to reach the saturated ends of sigmoid/tanh),
    with zeros, signed zeros, NaN, infinities and huge values at random
    places."""
    rng = _rng(shape, np.dtype(dtype).name, *key)
    x = rng.standard_normal(shape) * 6
    flat = x.reshape(-1)
    specials = [0.0, -0.0, NAN, INF, -INF, 1000.0, -1000.0, 1e-30, -1e-30, 0.0]
    if flat.size:
        where = rng.choice(flat.size, min(flat.size // 3, len(specials)), replace=False)
        flat[where] = specials[:len(where)]
    return x.astype(dtype), rng


def _backward_arg(name, x, y):
    return y if name in FROM_OUTPUT else x


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("op", OPS, ids=lambda o: o[0])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_activation(fast, kernel_set, dtype, op, shape):
    _, name, kw = op
    fwd, bwd = fast(name), fast(name + "_backward")
    x, rng = _values(shape, dtype, name)
    e_y = getattr(ref, name)(x.astype(np.float64), **kw)
    y = fwd(x, **kw)
    assert_matches(y, e_y, dtype)

    g = rng.standard_normal(shape).astype(dtype)
    other = _backward_arg(name, x, e_y.astype(dtype))  # the value fast sees
    e_gx = getattr(ref, name + "_backward")(g.astype(np.float64),
                                             other.astype(np.float64), **kw)
    assert_matches(bwd(g, other, **kw), e_gx, dtype)


@pytest.mark.parametrize("op", OPS, ids=lambda o: o[0])
def test_zero_d_input_keeps_its_shape(fast, op):
    _, name, kw = op
    x = np.array(-0.75)
    e_y = np.asarray(getattr(ref, name)(x, **kw))
    y = fast(name)(x, **kw)
    assert_matches(y, e_y, np.float64)
    g = np.array(2.0)
    e_gx = np.asarray(getattr(ref, name + "_backward")(g, _backward_arg(name, x, e_y), **kw))
    assert_matches(fast(name + "_backward")(g, _backward_arg(name, x, e_y), **kw), e_gx,
                   np.float64)


def test_hand_worked_gradients_at_zero_and_nan(fast):
    x = np.array([-2., 0., -0., 3., NAN])
    g = np.array([1., 2., 3., 4., 5.])
    # relu: 0 at x == 0; leaky_relu: the slope at x == 0 (x > 0 ? g : g*slope)
    np.testing.assert_array_equal(fast("relu_backward")(g, x), [0., 0., 0., 4., 0.])
    np.testing.assert_allclose(fast("leaky_relu_backward")(g, x, 0.1),
                               [0.1, 0.2, 0.3, 4., 0.5], rtol=1e-15)
    np.testing.assert_allclose(fast("leaky_relu_backward")(g, x),
                               [0.01, 0.02, 0.03, 4., 0.05], rtol=1e-15)
    y = fast("relu")(x)
    np.testing.assert_array_equal(y, [0., 0., 0., 3., NAN])
    np.testing.assert_allclose(fast("leaky_relu")(x, 0.1), [-0.2, 0., 0., 3., NAN])
    for name in ("sigmoid", "tanh"):
        assert np.isnan(fast(name)(x)[-1])
    np.testing.assert_allclose(fast("sigmoid")(np.array([0., np.log(3.)])), [0.5, 0.75],
                               rtol=1e-15)
    np.testing.assert_allclose(fast("sigmoid_backward")(np.array([2.]), np.array([0.75])),
                               [0.375], rtol=1e-15)
    np.testing.assert_allclose(fast("tanh_backward")(np.array([2.]), np.array([0.6])),
                               [1.28], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float16] + DTYPES, ids=lambda d: np.dtype(d).name)
def test_sigmoid_and_tanh_saturate_without_warnings(fast, kernel_set, dtype):
    x = np.array([-1000., -100., 0., 100., 1000., -INF, INF] * 5, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            y = fast("sigmoid")(x)
            t = fast("tanh")(x)
            fast("sigmoid_backward")(np.ones_like(y), y)
            fast("tanh_backward")(np.ones_like(t), t)
    np.testing.assert_array_equal(y[[0, 2, 3, 4, 5, 6]], [0., 0.5, 1., 1., 0., 1.])
    if dtype == np.float64:  # the tail keeps its relative precision
        np.testing.assert_allclose(y[1], 1 / (1 + np.exp(100.)), rtol=1e-13)
    else:
        assert 0 <= y[1] < 1e-40
    np.testing.assert_array_equal(t[:7], [-1., -1., 0., 1., 1., -1., 1.])


# ---------------------------------------------------------------------------
# threads, layouts, dtypes
# ---------------------------------------------------------------------------

def run_all(fast, x, g):
    out = []
    for _, name, kw in OPS:
        y = fast(name)(x, **kw)
        out += [y, fast(name + "_backward")(g, _backward_arg(name, x, y), **kw)]
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_one_and_two_threads_bitwise_identical(fast, restore_threads, dtype):
    x, rng = _values((3, 70001), dtype, "threads")
    g = rng.standard_normal(x.shape).astype(dtype)
    convcore.set_num_threads(1)
    one = run_all(fast, x, g)
    convcore.set_num_threads(2)
    two = run_all(fast, x, g)
    for a, b in zip(one, two):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def _view(a, kind):
    if kind == "transposed":
        v = np.ascontiguousarray(a.T).T
    elif kind == "sliced":
        big = np.zeros((a.shape[0], 2 * a.shape[1]), a.dtype)
        v = big[:, ::2]
        v[...] = a
    elif kind == "negative":
        v = a[::-1, ::-1].copy()[::-1, ::-1]
    else:
        raise AssertionError(kind)
    assert np.array_equal(v, a, equal_nan=True) and not v.flags.c_contiguous
    return v


@pytest.mark.parametrize("kind", ["transposed", "sliced", "negative"])
@pytest.mark.parametrize("arg", ["x", "grad_output"])
def test_non_contiguous_inputs(fast, kind, arg):
    x, rng = _values((5, 37), np.float32, "noncontig")
    g = rng.standard_normal(x.shape).astype(np.float32)
    expected = run_all(fast, x, g)
    if arg == "x":
        x = _view(x, kind)
    else:
        g = _view(g, kind)
    for got, exp in zip(run_all(fast, x, g), expected):
        assert got.shape == exp.shape and got.dtype == exp.dtype
        assert np.array_equal(got, exp, equal_nan=True)


@pytest.mark.parametrize("dtype,expected", [
    (np.float16, np.float32), (np.int64, np.float64), (np.int8, np.float64),
    (np.uint8, np.float64),
], ids=lambda d: np.dtype(d).name)
def test_dtype_rules(fast, dtype, expected):
    rng = _rng("dtype", np.dtype(dtype).name)
    x = rng.integers(0 if np.dtype(dtype).kind == "u" else -3, 4, (4, 5)).astype(dtype)
    g = rng.integers(0, 3, x.shape).astype(dtype)
    for got, e in zip(run_all(fast, x, g),
                      run_all(lambda n: getattr(ref, n), x.astype(np.float64),
                              g.astype(np.float64))):
        assert_matches(got, e, expected)


@pytest.mark.parametrize("name", ["relu_backward", "leaky_relu_backward",
                                  "sigmoid_backward", "tanh_backward"])
def test_mixed_float_dtypes_promote(fast, name):
    g = np.full((2, 3), 0.5, np.float32)
    x = np.linspace(-1, 1, 6).reshape(2, 3)        # float64
    assert fast(name)(g, x).dtype == np.float64
    assert fast(name)(x, g).dtype == np.float64


def test_lists_accepted(fast):
    np.testing.assert_array_equal(fast("relu")([-1, 2]), [0., 2.])
    assert fast("relu")([-1, 2]).dtype == np.float64


# ---------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------

def z(*shape, dtype=np.float64):
    return np.zeros(shape, dtype)


# (id, op, args, kwargs, exception, regex: the argument and what it got)
BAD = [
    ("relu_complex", "relu", (z(3, dtype=complex),), {}, TypeError, r"\b(x|input)\b.*complex"),
    ("sigmoid_complex", "sigmoid", (z(3, dtype=np.complex64),), {}, TypeError,
     r"\b(x|input)\b.*complex64"),
    ("tanh_complex", "tanh", (z(3, dtype=complex),), {}, TypeError, r"\b(x|input)\b.*complex"),
    ("leaky_complex", "leaky_relu", (z(3, dtype=complex),), {}, TypeError, r"complex"),
    ("relu_strings", "relu", (np.array(["a", "b"]),), {}, TypeError, r"\b(x|input)\b"),
    ("relu_bool", "relu", (np.array([True, False]),), {}, TypeError, r"\b(x|input)\b.*bool"),
    ("relu_bwd_shape", "relu_backward", (z(3), z(4)), {}, ValueError,
     r"grad_output.*\(3,\).*\(4,\)"),
    ("leaky_bwd_shape", "leaky_relu_backward", (z(2, 3), z(3, 2)), {}, ValueError,
     r"grad_output.*\(2, 3\)"),
    ("sigmoid_bwd_shape", "sigmoid_backward", (z(3), z(3, 1)), {}, ValueError,
     r"grad_output.*\(3,\).*output.*\(3, 1\)"),
    ("tanh_bwd_shape", "tanh_backward", (z(1, 3), z(3)), {}, ValueError,
     r"grad_output.*\(1, 3\)"),
    ("relu_bwd_complex_grad", "relu_backward", (z(3, dtype=complex), z(3)), {}, TypeError,
     r"grad_output.*complex"),
    ("tanh_bwd_complex_output", "tanh_backward", (z(3), z(3, dtype=complex)), {}, TypeError,
     r"output.*complex"),
    ("slope_string", "leaky_relu", (z(3), "a"), {}, TypeError, r"negative_slope.*'a'"),
    ("slope_none_bwd", "leaky_relu_backward", (z(3), z(3), None), {}, TypeError,
     r"negative_slope.*None"),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: c[0])
def test_bad_inputs(fast, case):
    _, op, args, kw, exc, pattern = case
    with pytest.raises(exc) as info:
        fast(op)(*args, **kw)
    msg = str(info.value)
    assert re.search(pattern, msg), msg
    assert op in msg, msg


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_relative_precision_of_small_outputs(kernel_set, dtype):
    """From exp(-|x|): outputs down to the smallest normal number keep a
    few ulps of relative precision (1 - sigmoid(-x) would lose them all)."""
    lo = -87.0 if dtype == np.float32 else -707.0
    x = np.linspace(lo, 40.0, 4099).astype(dtype)  # odd length: vector tails
    xe = x.astype(np.float64)
    expected = np.where(xe >= 0, 1 / (1 + np.exp(-np.abs(xe))),
                        np.exp(np.minimum(xe, 0)) / (1 + np.exp(-np.abs(xe))))
    got = convcore.sigmoid(x).astype(np.float64)
    np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(dtype).eps, atol=0)
