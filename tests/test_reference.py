"""Tests of the NumPy oracle itself (convcore/reference.py).

Expected values never come from the reference: they are literals worked by
hand, an independent scalar loop written from the definition, or central
differences.
"""

import numpy as np
import pytest

from convcore import reference as ref


# ---------------------------------------------------------------------------
# independent implementation: the definition, one scalar at a time
# ---------------------------------------------------------------------------

def naive_conv2d(x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)),
                 dilation=(1, 1), groups=1):
    """out[n,o,i,j] = b[o] + sum_{c,kh,kw} w[o,c,kh,kw]
    * xpad[n, g*Cg + c, i*S + kh*D, j*S + kw*D]."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    N, C, H, W = x.shape
    OC, Cg, KH, KW = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    (pt, pb), (pl, pr) = pads
    xpad = np.zeros((N, C, H + pt + pb, W + pl + pr))
    xpad[:, :, pt:pt + H, pl:pl + W] = x
    OH = (H + pt + pb - dh * (KH - 1) - 1) // sh + 1
    OW = (W + pl + pr - dw * (KW - 1) - 1) // sw + 1
    OCg = OC // groups
    out = np.zeros((N, OC, OH, OW))
    for n in range(N):
        for o in range(OC):
            g = o // OCg
            for i in range(OH):
                for j in range(OW):
                    s = 0.0 if b is None else float(b[o])
                    for c in range(Cg):
                        for kh in range(KH):
                            for kw in range(KW):
                                s += (w[o, c, kh, kw]
                                      * xpad[n, g * Cg + c, i * sh + kh * dh,
                                             j * sw + kw * dw])
                    out[n, o, i, j] = s
    return out


def sym(p):
    return ((p[0], p[0]), (p[1], p[1]))


# ---------------------------------------------------------------------------
# hand-worked cases
# ---------------------------------------------------------------------------

X16 = np.arange(16.0).reshape(1, 1, 4, 4)


def test_hand_worked_3x3_padding_1():
    # out[i, j] = x[i-1, j] + 2 x[i, j] - x[i+1, j+1], x[i, j] = 4i + j,
    # zero outside; the filter is neither flip- nor transpose-symmetric.
    w = np.array([[0, 1, 0],
                  [0, 2, 0],
                  [0, 0, -1]], dtype=np.float64).reshape(1, 1, 3, 3)
    expected = np.array([[-5, -4, -3, 6],
                         [-1, 1, 3, 17],
                         [7, 9, 11, 29],
                         [32, 35, 38, 41]], dtype=np.float64)
    out = ref.conv2d(X16, w, padding=1)
    assert out.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(out[0, 0], expected)
    out_b = ref.conv2d(X16, w, bias=np.array([0.5]), padding=1)
    np.testing.assert_array_equal(out_b[0, 0], expected + 0.5)


def test_hand_worked_box_filter_padding_1():
    # 3x3 neighbourhood sums of arange(16) with zero padding
    expected = np.array([[10, 18, 24, 18],
                         [27, 45, 54, 39],
                         [51, 81, 90, 63],
                         [42, 66, 72, 50]], dtype=np.float64)
    out = ref.conv2d(X16, np.ones((1, 1, 3, 3)), bias=np.array([-10.0]),
                     padding=(1, 1))
    np.testing.assert_array_equal(out[0, 0], expected - 10)


def test_three_channels_summed_into_one_map():
    x = np.stack([np.arange(9.0).reshape(3, 3),  # picked at the top-left tap
                  np.full((3, 3), 10.0),         # all four taps: +40
                  100 * np.eye(3)])              # bottom-right tap: +100 on diag
    w = np.array([[[[1, 0], [0, 0]],
                   [[1, 1], [1, 1]],
                   [[0, 0], [0, 1]]]], dtype=np.float64)
    expected = np.array([[140, 41],
                         [43, 144]], dtype=np.float64)
    out = ref.conv2d(x[None], w)
    assert out.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(out[0, 0], expected)
    # unbatched in, unbatched out
    np.testing.assert_array_equal(ref.conv2d(x, w)[0], expected)


def test_same_even_kernel_hand_worked():
    # K = 4: total padding 3, split 1 top/left and 2 bottom/right, so a tap
    # at [0, 0] shifts the image down-right by one and a tap at [3, 3]
    # shifts it up-left by two.
    k = np.zeros((1, 1, 4, 4))
    k[0, 0, 0, 0] = 1
    np.testing.assert_array_equal(
        ref.conv2d(X16, k, padding="same")[0, 0],
        [[0, 0, 0, 0],
         [0, 0, 1, 2],
         [0, 4, 5, 6],
         [0, 8, 9, 10]])
    k = np.zeros((1, 1, 4, 4))
    k[0, 0, 3, 3] = 1
    np.testing.assert_array_equal(
        ref.conv2d(X16, k, padding="same")[0, 0],
        [[10, 11, 0, 0],
         [14, 15, 0, 0],
         [0, 0, 0, 0],
         [0, 0, 0, 0]])


def test_conv1d_hand_worked():
    x = np.arange(5.0).reshape(1, 1, 5)
    np.testing.assert_array_equal(
        ref.conv1d(x, np.array([[[1.0, 0.0, -1.0]]])), [[[-2, -2, -2]]])
    np.testing.assert_array_equal(
        ref.conv1d(x, np.array([[[1.0, 0, 0, 0]]]), padding="same"),
        [[[0, 0, 1, 2, 3]]])
    np.testing.assert_array_equal(
        ref.conv1d(x, np.array([[[0, 0, 0, 1.0]]]), padding="same"),
        [[[2, 3, 4, 0, 0]]])
    # stride 2, padding 1, dilation 2: taps x[2j - 1] and x[2j + 1]
    np.testing.assert_array_equal(
        ref.conv1d(x, np.array([[[1.0, 10.0]]]), stride=2, padding=1,
                   dilation=(2,)),
        [[[10, 31, 3]]])


# ---------------------------------------------------------------------------
# against the scalar loop
# ---------------------------------------------------------------------------

# (N, C, H, W, OC, KH, KW, stride, padding, dilation, groups)
CASES = [
    (1, 1, 5, 5, 1, 3, 3, (1, 1), (0, 0), (1, 1), 1),
    (2, 3, 7, 6, 4, 3, 3, (2, 2), (1, 1), (1, 1), 1),
    (2, 2, 8, 7, 3, 3, 2, (1, 1), (0, 1), (2, 2), 1),
    (2, 4, 6, 6, 6, 3, 3, (1, 1), (1, 1), (1, 1), 2),
    (1, 4, 9, 8, 4, 2, 3, (2, 3), (2, 1), (2, 1), 2),
    (2, 3, 5, 5, 3, 3, 3, (1, 1), (1, 1), (1, 1), 3),   # depthwise
    (1, 2, 6, 5, 2, 1, 1, (3, 2), (0, 0), (1, 1), 1),   # 1x1, odd stride
]


def _ids(case):
    N, C, H, W, OC, KH, KW, s, p, d, g = case
    return "C%dH%dW%dOC%dK%dx%d-s%s-p%s-d%s-g%d" % (
        C, H, W, OC, KH, KW, "".join(map(str, s)), "".join(map(str, p)),
        "".join(map(str, d)), g)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_forward_matches_scalar_loop(case):
    N, C, H, W, OC, KH, KW, s, p, d, g = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((OC, C // g, KH, KW))
    b = rng.standard_normal(OC)
    out = ref.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
    expected = naive_conv2d(x, w, b, s, sym(p), d, g)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_int_arguments_equal_pairs():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 7, 7))
    w = rng.standard_normal((2, 2, 3, 3))
    np.testing.assert_array_equal(
        ref.conv2d(x, w, stride=2, padding=1, dilation=2),
        ref.conv2d(x, w, stride=(2, 2), padding=(1, 1), dilation=(2, 2)))


def test_same_padding_even_and_odd_kernels():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 6, 5))
    # 4x3 kernel, dilation (1, 2): total pads 3 (1 top, 2 bottom), 4 (2, 2)
    w = rng.standard_normal((3, 2, 4, 3))
    out = ref.conv2d(x, w, padding="same", dilation=(1, 2))
    assert out.shape == (2, 3, 6, 5)
    np.testing.assert_allclose(
        out, naive_conv2d(x, w, None, (1, 1), ((1, 2), (2, 2)), (1, 2)),
        rtol=1e-12, atol=1e-12)
    # 2x2 kernel, dilation 3: total 3 each, 1 before and 2 after
    w = rng.standard_normal((3, 2, 2, 2))
    out = ref.conv2d(x, w, padding="same", dilation=3)
    assert out.shape == (2, 3, 6, 5)
    np.testing.assert_allclose(
        out, naive_conv2d(x, w, None, (1, 1), ((1, 2), (1, 2)), (3, 3)),
        rtol=1e-12, atol=1e-12)


def test_same_rejects_stride():
    with pytest.raises(ValueError):
        ref.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)),
                   stride=2, padding="same")


def test_valid_padding():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 6, 7))
    w = rng.standard_normal((2, 2, 3, 4))
    out = ref.conv2d(x, w, padding="valid")
    assert out.shape == (1, 2, 4, 4)
    np.testing.assert_array_equal(out, ref.conv2d(x, w, padding=0))
    np.testing.assert_allclose(out, naive_conv2d(x, w), rtol=1e-12, atol=1e-12)


def test_conv1d_matches_scalar_loop():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 11))
    w = rng.standard_normal((6, 2, 3))
    b = rng.standard_normal(6)
    out = ref.conv1d(x, w, b, stride=2, padding=(2,), dilation=2, groups=2)
    expected = naive_conv2d(x[:, :, None, :], w[:, :, None, :], b, (1, 2),
                            ((0, 0), (2, 2)), (1, 2), 2)[:, :, 0, :]
    assert out.shape == (2, 6, 6)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    # unbatched
    np.testing.assert_allclose(
        ref.conv1d(x[0], w, b, stride=2, padding=2, dilation=2, groups=2),
        expected[0], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# gradients by central differences (float64)
# ---------------------------------------------------------------------------

def numeric_grad(f, a, eps=1e-6):
    """d f / d a by central differences; f returns a scalar."""
    a = a.copy()
    grad = np.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        fp = f(a)
        flat[k] = old - eps
        fm = f(a)
        flat[k] = old
        gflat[k] = (fp - fm) / (2 * eps)
    return grad


def check_grads(conv, backward, x, w, b, **kw):
    rng = np.random.default_rng(5)
    gy = rng.standard_normal(conv(x, w, b, **kw).shape)

    def loss(x_, w_, b_):
        return float(np.sum(gy * conv(x_, w_, b_, **kw)))

    gx, gw, gb = backward(gy, x, w, **kw)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == b.shape
    tol = dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gx, numeric_grad(lambda a: loss(a, w, b), x), **tol)
    np.testing.assert_allclose(gw, numeric_grad(lambda a: loss(x, a, b), w), **tol)
    np.testing.assert_allclose(gb, numeric_grad(lambda a: loss(x, w, a), b), **tol)


GRAD_CASES = [
    # (x shape, w shape, kwargs)
    ((2, 2, 5, 5), (3, 2, 3, 3), dict()),
    ((2, 2, 6, 7), (3, 2, 3, 3), dict(stride=2, padding=1)),
    ((1, 2, 7, 6), (2, 2, 2, 3), dict(padding=(2, 1), dilation=2)),
    ((2, 4, 5, 6), (4, 2, 3, 2), dict(stride=(1, 2), padding=1, groups=2)),
    ((1, 2, 6, 5), (2, 1, 4, 2), dict(padding="same", dilation=(1, 2), groups=2)),
    ((2, 5, 5), (3, 2, 2, 3), dict(stride=(2, 1), padding=(1, 0))),  # unbatched
]


@pytest.mark.parametrize("xs,ws,kw", GRAD_CASES)
def test_conv2d_grads_central_differences(xs, ws, kw):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])
    check_grads(ref.conv2d, ref.conv2d_backward, x, w, b, **kw)


@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 2, 9), (3, 2, 3), dict(stride=2, padding=1)),
    ((1, 4, 10), (4, 2, 4), dict(dilation=2, padding="same", groups=2)),
    ((3, 8), (2, 3, 2), dict(padding=(1,), stride=(3,))),           # unbatched
])
def test_conv1d_grads_central_differences(xs, ws, kw):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])
    check_grads(ref.conv1d, ref.conv1d_backward, x, w, b, **kw)


def test_grad_by_hand():
    # ones everywhere: each input pixel's grad counts the windows covering it
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    gx, gw, gb = ref.conv2d_backward(np.ones((1, 1, 2, 2)), x,
                                     np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(gx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # gw[kh, kw] = sum of the 2x2 block of x starting at (kh, kw)
    np.testing.assert_array_equal(gw[0, 0], [[8, 12], [20, 24]])
    np.testing.assert_array_equal(gb, [4])


# ---------------------------------------------------------------------------
# grad_input / grad_weight agree with backward
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("xs,ws,kw", GRAD_CASES + [
    # stride leaves the last row/column unused: its grad must be zero
    ((1, 2, 6, 6), (2, 2, 3, 3), dict(stride=2)),
])
def test_grad_input_and_weight_match_backward(xs, ws, kw):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    gy = rng.standard_normal(ref.conv2d(x, w, **kw).shape)
    gx, gw, _ = ref.conv2d_backward(gy, x, w, **kw)
    gx2 = ref.conv2d_grad_input(gy, w, x.shape, **kw)
    gw2 = ref.conv2d_grad_weight(gy, x, w.shape, **kw)
    assert gx2.shape == x.shape and gw2.shape == w.shape
    np.testing.assert_allclose(gx2, gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gw2, gw, rtol=1e-12, atol=1e-12)
    if kw == dict(stride=2):
        assert np.all(gx[..., 5, :] == 0) and np.all(gx[..., :, 5] == 0)


def test_conv1d_grad_input_and_weight_match_backward():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 4, 9))
    w = rng.standard_normal((2, 2, 3))
    kw = dict(stride=2, padding=1, dilation=1, groups=2)
    gy = rng.standard_normal(ref.conv1d(x, w, **kw).shape)
    gx, gw, gb = ref.conv1d_backward(gy, x, w, **kw)
    np.testing.assert_allclose(ref.conv1d_grad_input(gy, w, x.shape, **kw), gx,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref.conv1d_grad_weight(gy, x, w.shape, **kw), gw,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, gy.sum(axis=(0, 2)), rtol=1e-12)
    # unbatched
    assert ref.conv1d_grad_input(gy[0], w, x.shape[1:], **kw).shape == (4, 9)
    assert ref.conv1d_grad_weight(gy[0], x[0], w.shape, **kw).shape == w.shape


def test_unbatched_shapes():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    out = ref.conv2d(x, w, b, padding=1)
    assert out.shape == (4, 6, 6)
    np.testing.assert_allclose(out, ref.conv2d(x[None], w, b, padding=1)[0],
                               rtol=1e-12)
    gx, gw, gb = ref.conv2d_backward(np.ones(out.shape), x, w, padding=1)
    assert gx.shape == (3, 6, 5) and gw.shape == w.shape and gb.shape == (4,)
    assert ref.conv2d_grad_input(np.ones(out.shape), w, x.shape,
                                 padding=1).shape == x.shape
    assert ref.conv2d_grad_weight(np.ones(out.shape), x, w.shape,
                                  padding=1).shape == w.shape


# ---------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------

def test_float32_in_float32_out():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    out = ref.conv2d(x, w, b, padding=1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, (1, 1), sym((1, 1))),
                               rtol=1e-5, atol=1e-5)
    gx, gw, gb = ref.conv2d_backward(np.ones(out.shape, np.float32), x, w,
                                     padding=1)
    assert gx.dtype == gw.dtype == gb.dtype == np.float32
    assert ref.conv1d(x[:, :, 0], w[:, :, 0]).dtype == np.float32


def test_promotions():
    x = np.arange(16).reshape(1, 1, 4, 4)              # int64
    w = np.ones((1, 1, 3, 3), dtype=np.int32)
    out = ref.conv2d(x, w, padding=1)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out[0, 0], [[10, 18, 24, 18],
                                              [27, 45, 54, 39],
                                              [51, 81, 90, 63],
                                              [42, 66, 72, 50]])
    gx, gw, gb = ref.conv2d_backward(np.ones((1, 1, 4, 4), dtype=np.int64),
                                     x, w, padding=1)
    assert gx.dtype == gw.dtype == gb.dtype == np.float64
    x16 = x.astype(np.float16)
    assert ref.conv2d(x16, w.astype(np.float16)).dtype == np.float32
    assert ref.conv2d(x.astype(np.float32), w.astype(np.float64)).dtype == np.float64
    assert ref.conv2d(x.astype(np.float32), w.astype(np.float32),
                      bias=np.zeros(1)).dtype == np.float64
