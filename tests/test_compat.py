"""convcore.compat.cs231n against the NumPy reference: rectangular kernels,
both dtypes, mixed dtypes promoted as NumPy does."""
import numpy as np
import pytest

from convcore import reference
from convcore.compat import cs231n
from helpers import assert_matches, rng


def _a(shape, key, dtype=np.float64):
    return rng("cs231n", key, shape).standard_normal(shape).astype(dtype)


CONV = [((2, 3, 7, 9), (4, 3, 3, 5), 1, 2), ((1, 2, 8, 8), (3, 2, 2, 4), 2, 0),
        ((3, 1, 6, 5), (2, 1, 1, 1), 3, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,stride,pad", CONV)
def test_conv_fast(xs, ws, stride, pad, dtype):
    x, w, b = _a(xs, "x", dtype), _a(ws, "w", dtype), _a(ws[:1], "b", dtype)
    out, cache = cs231n.conv_forward_fast(x, w, b, {"stride": stride, "pad": pad})
    assert_matches(out, reference.conv2d(x, w, b, stride, pad), dtype, rtol32=1e-4)
    dout = _a(out.shape, "dout", dtype)
    dx, dw, db = cs231n.conv_backward_fast(dout, cache)
    for got, exp in zip((dx, dw, db), reference.conv2d_backward(dout, x, w, stride, pad)):
        assert_matches(got, exp, dtype, rtol32=1e-4)


def test_conv_mixed_dtypes_promote():
    x, w, b = _a((2, 2, 5, 5), "mx", np.float32), _a((3, 2, 3, 3), "mw"), _a((3,), "mb", np.float32)
    out, cache = cs231n.conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    assert out.dtype == np.float64
    dx, dw, db = cs231n.conv_backward_fast(np.ones(out.shape, np.float32), cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float64
    np.testing.assert_allclose(out, reference.conv2d(x, w, b, 1, 1), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ph,pw,stride", [(2, 2, 2), (3, 2, 1), (2, 3, 3)])
def test_max_pool_fast(ph, pw, stride, dtype):
    x = _a((2, 3, 8, 9), "pool", dtype)
    pp = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = cs231n.max_pool_forward_fast(x, pp)
    assert_matches(out, reference.max_pool2d(x, (ph, pw), stride), dtype)
    dout = _a(out.shape, "pool_d", dtype)
    assert_matches(cs231n.max_pool_backward_fast(dout, cache),
                   reference.max_pool2d_backward(dout, x, (ph, pw), stride), dtype)


def test_max_pool_backward_uses_the_saved_argmax():
    x = _a((1, 1, 4, 4), "argmax")
    out, cache = cs231n.max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    expected = reference.max_pool2d_backward(np.ones_like(out), x, 2, 2)
    x[...] = 0  # the cache holds x by reference: a recomputed argmax would change
    np.testing.assert_array_equal(cs231n.max_pool_backward_fast(np.ones_like(out), cache),
                                  expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_and_relu(dtype):
    x, w, b = _a((4, 2, 3, 5), "ax", dtype), _a((30, 7), "aw", dtype), _a((7,), "ab", dtype)
    out, cache = cs231n.affine_forward(x, w, b)
    rows = x.reshape(4, 30)
    assert_matches(out, rows @ w + b, dtype)
    dout = _a(out.shape, "ad", dtype)
    dx, dw, db = cs231n.affine_backward(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape
    assert_matches(dx, (dout @ w.T).reshape(x.shape), dtype)
    assert_matches(dw, rows.T @ dout, dtype, contiguous=False)
    assert_matches(db, dout.sum(0), dtype)
    r, rc = cs231n.relu_forward(x)
    assert_matches(r, reference.relu(x), dtype)
    assert_matches(cs231n.relu_backward(x, rc), reference.relu_backward(x, x), dtype)
    o2, c2 = cs231n.affine_relu_forward(x, w, b)
    assert_matches(o2, reference.relu(rows @ w + b), dtype)
    dx2, dw2, db2 = cs231n.affine_relu_backward(dout, c2)
    da = reference.relu_backward(dout, rows @ w + b)
    assert_matches(dw2, rows.T @ da, dtype, contiguous=False)


def test_conv_relu_pool_sandwich():
    x, w, b = _a((2, 3, 8, 8), "sx"), _a((4, 3, 3, 3), "sw"), _a((4,), "sb")
    cp, pp = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = cs231n.conv_relu_pool_forward(x, w, b, cp, pp)
    a = reference.conv2d(x, w, b, 1, 1)
    s = reference.relu(a)
    np.testing.assert_allclose(out, reference.max_pool2d(s, 2, 2), rtol=1e-10, atol=1e-12)
    dout = _a(out.shape, "sd")
    dx, dw, db = cs231n.conv_relu_pool_backward(dout, cache)
    da = reference.relu_backward(reference.max_pool2d_backward(dout, s, 2, 2), a)
    for got, exp in zip((dx, dw, db), reference.conv2d_backward(da, x, w, 1, 1)):
        np.testing.assert_allclose(got, exp, rtol=1e-10, atol=1e-12)
    o2, c2 = cs231n.conv_relu_forward(x, w, b, cp)
    np.testing.assert_allclose(o2, s, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cs231n.conv_relu_backward(s, c2)[1],
                               reference.conv2d_backward(reference.relu_backward(s, a), x, w,
                                                         1, 1)[1], rtol=1e-10)


def test_softmax_loss():
    x, y = _a((5, 4), "sl"), np.array([0, 3, 1, 1, 2])
    loss, dx = cs231n.softmax_loss(x, y)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, reference.cross_entropy(x, y), rtol=1e-12)
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(5), y] -= 1
    np.testing.assert_allclose(dx, p / 5, rtol=1e-12, atol=1e-15)


def test_bad_params_say_what_is_missing():
    x, w = np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match="pad"):
        cs231n.conv_forward_fast(x, w, np.zeros(1), {"stride": 1})
    with pytest.raises(TypeError, match="dict"):
        cs231n.max_pool_forward_fast(x, (2, 2, 2))
    with pytest.raises(ValueError, match="D = 16"):
        cs231n.affine_forward(x, np.zeros((15, 2)), np.zeros(2))
