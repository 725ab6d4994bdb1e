"""Naive NumPy reference of every op: the test oracle.

The convolutions are written straight from the definition of
cross-correlation (the ``torch.nn.functional.conv2d`` convention),

    out[n, o, i, j] = b[o] + sum_{c, kh, kw} w[o, c, kh, kw]
                      * xpad[n, g*Cg + c, i*S + kh*D, j*S + kw*D]

with ``g = o // (OC // groups)`` and ``Cg = C // groups``. The loops run over
output positions and each position is one ``np.tensordot``, so the code is
short enough to check by eye and fast enough to serve as the baseline of the
benchmarks on small layers.

This module is the oracle that the fast kernels are tested against and the
baseline they are timed against. It imports only NumPy and shares no code with
the rest of the package, so a bug elsewhere cannot hide here. Argument
checking is minimal: this is not the user-facing API.
"""

import numpy as np

__all__ = [
    "conv2d",
    "conv2d_backward",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "conv1d",
    "conv1d_backward",
    "conv1d_grad_input",
    "conv1d_grad_weight",
]


# ---------------------------------------------------------------------------
# helpers (private; deliberately not shared with convcore._params)
# ---------------------------------------------------------------------------

def _pair(v):
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    a, b = v
    return int(a), int(b)


def _single(v):
    if isinstance(v, (int, np.integer)):
        return int(v)
    (a,) = v
    return int(a)


def _compute_dtype(*arrays):
    """Common dtype of the arrays, promoted to floating point.

    float16 -> float32 (as an accumulator type), integers and bool -> float64.
    """
    dt = np.result_type(*arrays)
    if dt.kind == "f":
        return np.promote_types(dt, np.float32)
    if dt.kind == "c":
        return dt
    return np.dtype(np.float64)


def _pads(padding, kernel, dilation, stride):
    """((top, bottom), (left, right)) padding, PyTorch semantics."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' requires stride 1, got stride=%r"
                                 % (stride,))
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                # the odd unit goes to the bottom/right, as in PyTorch
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError("padding must be an int, a pair, 'valid' or 'same', "
                         "got %r" % (padding,))
    ph, pw = _pair(padding)
    return (ph, ph), (pw, pw)


def _geometry(in_hw, kernel, stride, padding, dilation):
    stride = _pair(stride)
    dilation = _pair(dilation)
    pads = _pads(padding, kernel, dilation, stride)
    out = []
    for size, k, s, d, (p0, p1) in zip(in_hw, kernel, stride, dilation, pads):
        o = (size + p0 + p1 - d * (k - 1) - 1) // s + 1
        if o < 1:
            raise ValueError("output size %d < 1 (input %d, kernel %d, stride %d, "
                             "padding %r, dilation %d)" % (o, size, k, s, (p0, p1), d))
        out.append(o)
    return stride, dilation, pads, tuple(out)


def _window(oh, ow, kernel, stride, dilation):
    """Slice (..., KH, KW) of the padded input seen by output (oh, ow)."""
    (KH, KW), (sh, sw), (dh, dw) = kernel, stride, dilation
    h0, w0 = oh * sh, ow * sw
    return (slice(h0, h0 + dh * (KH - 1) + 1, dh),
            slice(w0, w0 + dw * (KW - 1) + 1, dw))


# ---------------------------------------------------------------------------
# conv2d
# ---------------------------------------------------------------------------

def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, the meaning of ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    input : array_like, shape (N, C, H, W) or (C, H, W)
    weight : array_like, shape (OC, C // groups, KH, KW)
    bias : array_like, shape (OC,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int), 'valid' or 'same'
        'same' needs stride 1; the total padding ``D * (K - 1)`` is split
        with the odd unit on the bottom/right.
    groups : int
        C and OC must both be divisible by it.

    Returns
    -------
    out : ndarray, shape (N, OC, OH, OW) or (OC, OH, OW)
        ``OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1``, likewise OW. Dtype is
        the result type of the inputs promoted to float (float16 -> float32,
        integers -> float64). Unbatched input gives unbatched output.

    Examples
    --------
    >>> x = np.arange(16.).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 3, 3)))
    array([[[[45., 54.],
             [81., 90.]]]])
    """
    x = np.asarray(input)
    w = np.asarray(weight)
    b = None if bias is None else np.asarray(bias)
    dtype = _compute_dtype(x, w) if b is None else _compute_dtype(x, w, b)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    x = x.astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)

    N, C, H, W = x.shape
    OC, Cg, KH, KW = w.shape
    if C != Cg * groups or OC % groups:
        raise ValueError("bad shapes for groups=%d: input %r, weight %r"
                         % (groups, x.shape, w.shape))
    stride, dilation, pads, (OH, OW) = _geometry((H, W), (KH, KW), stride,
                                                 padding, dilation)
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    OCg = OC // groups

    out = np.zeros((N, OC, OH, OW), dtype=dtype)
    for g in range(groups):
        oc = slice(g * OCg, (g + 1) * OCg)
        wg = w[oc]                               # (OCg, Cg, KH, KW)
        xg = xp[:, g * Cg:(g + 1) * Cg]          # (N, Cg, HP, WP)
        for oh in range(OH):
            for ow in range(OW):
                hs, ws = _window(oh, ow, (KH, KW), stride, dilation)
                window = xg[:, :, hs, ws]        # (N, Cg, KH, KW)
                # (OCg, N)
                out[:, oc, oh, ow] = np.tensordot(
                    wg, window, axes=([1, 2, 3], [1, 2, 3])).T
    if b is not None:
        out += b.astype(dtype, copy=False)[None, :, None, None]
    return out[0] if unbatched else out


def _conv2d_backward(grad_output, x, w, stride, padding, dilation, groups,
                     need_input, need_weight, dtype):
    """Shared loop of the backward functions; x and w are batched 4-D arrays."""
    go = np.asarray(grad_output).astype(dtype, copy=False)
    x = x.astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)
    N, C, H, W = x.shape
    OC, Cg, KH, KW = w.shape
    if C != Cg * groups or OC % groups:
        raise ValueError("bad shapes for groups=%d: input %r, weight %r"
                         % (groups, x.shape, w.shape))
    stride, dilation, pads, (OH, OW) = _geometry((H, W), (KH, KW), stride,
                                                 padding, dilation)
    if go.shape != (N, OC, OH, OW):
        raise ValueError("grad_output has shape %r, expected %r"
                         % (go.shape, (N, OC, OH, OW)))
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    OCg = OC // groups

    gxp = np.zeros(xp.shape, dtype=dtype) if need_input else None
    gw = np.zeros(w.shape, dtype=dtype) if need_weight else None
    for g in range(groups):
        oc = slice(g * OCg, (g + 1) * OCg)
        ic = slice(g * Cg, (g + 1) * Cg)
        wg = w[oc]                               # (OCg, Cg, KH, KW)
        xg = xp[:, ic]                           # (N, Cg, HP, WP)
        for oh in range(OH):
            for ow in range(OW):
                hs, ws = _window(oh, ow, (KH, KW), stride, dilation)
                gslice = go[:, oc, oh, ow]       # (N, OCg)
                if need_weight:
                    gw[oc] += np.tensordot(gslice, xg[:, :, hs, ws],
                                           axes=([0], [0]))
                if need_input:
                    # the strided slice has distinct elements, so += is a
                    # proper scatter-add
                    gxp[:, ic, hs, ws] += np.tensordot(gslice, wg,
                                                       axes=([1], [0]))
    gx = None
    if need_input:
        (pt, _), (pl, _) = pads
        gx = gxp[:, :, pt:pt + H, pl:pl + W].copy()
    return gx, gw, go


def conv2d_backward(grad_output, input, weight, stride=1, padding=0,
                    dilation=1, groups=1):
    """Gradients of :func:`conv2d` with respect to input, weight and bias.

    Parameters
    ----------
    grad_output : array_like, shape (N, OC, OH, OW) or (OC, OH, OW)
        Gradient of the loss with respect to the output of ``conv2d``.
    input : array_like, shape (N, C, H, W) or (C, H, W)
    weight : array_like, shape (OC, C // groups, KH, KW)
    stride, padding, dilation, groups
        As in :func:`conv2d`.

    Returns
    -------
    grad_input : ndarray, shape of ``input``
    grad_weight : ndarray, shape of ``weight``
    grad_bias : ndarray, shape (OC,)
        ``grad_output`` summed over N, OH and OW.
        All three in the promoted float dtype of the three arguments.

    Examples
    --------
    >>> x = np.arange(9.).reshape(1, 1, 3, 3)
    >>> gx, gw, gb = conv2d_backward(np.ones((1, 1, 2, 2)), x, np.ones((1, 1, 2, 2)))
    >>> gx[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> gw[0, 0], gb
    (array([[ 8., 12.],
           [20., 24.]]), array([4.]))
    """
    x = np.asarray(input)
    w = np.asarray(weight)
    go = np.asarray(grad_output)
    dtype = _compute_dtype(go, x, w)
    unbatched = x.ndim == 3
    if unbatched:
        x, go = x[None], go[None]
    gx, gw, go = _conv2d_backward(go, x, w, stride, padding, dilation, groups,
                                  True, True, dtype)
    gb = go.sum(axis=(0, 2, 3))
    return (gx[0] if unbatched else gx), gw, gb


def conv2d_grad_input(grad_output, weight, input_shape, stride=1, padding=0,
                      dilation=1, groups=1):
    """Gradient of :func:`conv2d` with respect to its input.

    The meaning of ``torch.nn.grad.conv2d_input``.

    Parameters
    ----------
    grad_output : array_like, shape (N, OC, OH, OW) or (OC, OH, OW)
    weight : array_like, shape (OC, C // groups, KH, KW)
    input_shape : tuple of int
        (N, C, H, W), or (C, H, W) for unbatched.
    stride, padding, dilation, groups
        As in :func:`conv2d`.

    Returns
    -------
    grad_input : ndarray, shape ``input_shape``
        In the promoted float dtype of ``grad_output`` and ``weight``.

    Examples
    --------
    >>> conv2d_grad_input(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), (1, 1, 3, 3))[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    w = np.asarray(weight)
    go = np.asarray(grad_output)
    dtype = _compute_dtype(go, w)
    input_shape = tuple(int(s) for s in input_shape)
    unbatched = len(input_shape) == 3
    if unbatched:
        input_shape, go = (1,) + input_shape, go[None]
    # only the shape of x is used on this path
    x = np.broadcast_to(np.zeros((), dtype=dtype), input_shape)
    gx, _, _ = _conv2d_backward(go, x, w, stride, padding, dilation, groups,
                                True, False, dtype)
    return gx[0] if unbatched else gx


def conv2d_grad_weight(grad_output, input, weight_shape, stride=1, padding=0,
                       dilation=1, groups=1):
    """Gradient of :func:`conv2d` with respect to its weight.

    The meaning of ``torch.nn.grad.conv2d_weight``.

    Parameters
    ----------
    grad_output : array_like, shape (N, OC, OH, OW) or (OC, OH, OW)
    input : array_like, shape (N, C, H, W) or (C, H, W)
    weight_shape : tuple of int
        (OC, C // groups, KH, KW).
    stride, padding, dilation, groups
        As in :func:`conv2d`.

    Returns
    -------
    grad_weight : ndarray, shape ``weight_shape``
        In the promoted float dtype of ``grad_output`` and ``input``.

    Examples
    --------
    >>> x = np.arange(9.).reshape(1, 1, 3, 3)
    >>> conv2d_grad_weight(np.ones((1, 1, 2, 2)), x, (1, 1, 2, 2))[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    x = np.asarray(input)
    go = np.asarray(grad_output)
    dtype = _compute_dtype(go, x)
    if x.ndim == 3:
        x, go = x[None], go[None]
    w = np.broadcast_to(np.zeros((), dtype=dtype),
                        tuple(int(s) for s in weight_shape))
    _, gw, _ = _conv2d_backward(go, x, w, stride, padding, dilation, groups,
                                False, True, dtype)
    return gw


# ---------------------------------------------------------------------------
# conv1d: the 2-D reference with H = 1
# ---------------------------------------------------------------------------

def _to2d_args(stride, padding, dilation):
    if not isinstance(padding, str):
        padding = (0, _single(padding))
    return (1, _single(stride)), padding, (1, _single(dilation))


def _h1(a):
    """(..., L) -> (..., 1, L)."""
    return np.asarray(a)[..., None, :]


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation, the meaning of ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    input : array_like, shape (N, C, L) or (C, L)
    weight : array_like, shape (OC, C // groups, K)
    bias : array_like, shape (OC,), optional
    stride, dilation : int or (int,)
    padding : int, (int,), 'valid' or 'same'
    groups : int

    Returns
    -------
    out : ndarray, shape (N, OC, OL) or (OC, OL)
        ``OL = (L + 2*P - D*(K-1) - 1) // S + 1``; dtype as in :func:`conv2d`.

    Examples
    --------
    >>> conv1d(np.arange(5.).reshape(1, 1, 5), np.array([[[1., 0., -1.]]]))
    array([[[-2., -2., -2.]]])
    """
    s, p, d = _to2d_args(stride, padding, dilation)
    out = conv2d(_h1(input), _h1(weight), bias, s, p, d, groups)
    return out[..., 0, :]


def conv1d_backward(grad_output, input, weight, stride=1, padding=0,
                    dilation=1, groups=1):
    """Gradients of :func:`conv1d` with respect to input, weight and bias.

    Parameters
    ----------
    grad_output : array_like, shape (N, OC, OL) or (OC, OL)
    input : array_like, shape (N, C, L) or (C, L)
    weight : array_like, shape (OC, C // groups, K)
    stride, padding, dilation, groups
        As in :func:`conv1d`.

    Returns
    -------
    grad_input : ndarray, shape of ``input``
    grad_weight : ndarray, shape of ``weight``
    grad_bias : ndarray, shape (OC,)

    Examples
    --------
    >>> gx, gw, gb = conv1d_backward(np.ones((1, 1, 3)), np.arange(5.).reshape(1, 1, 5),
    ...                              np.ones((1, 1, 3)))
    >>> gx, gw, gb
    (array([[[1., 2., 3., 2., 1.]]]), array([[[3., 6., 9.]]]), array([3.]))
    """
    s, p, d = _to2d_args(stride, padding, dilation)
    gx, gw, gb = conv2d_backward(_h1(grad_output), _h1(input), _h1(weight),
                                 s, p, d, groups)
    return gx[..., 0, :], gw[..., 0, :], gb


def conv1d_grad_input(grad_output, weight, input_shape, stride=1, padding=0,
                      dilation=1, groups=1):
    """Gradient of :func:`conv1d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, shape (N, OC, OL) or (OC, OL)
    weight : array_like, shape (OC, C // groups, K)
    input_shape : tuple of int
        (N, C, L), or (C, L) for unbatched.
    stride, padding, dilation, groups
        As in :func:`conv1d`.

    Returns
    -------
    grad_input : ndarray, shape ``input_shape``

    Examples
    --------
    >>> conv1d_grad_input(np.ones((1, 1, 3)), np.ones((1, 1, 3)), (1, 1, 5))
    array([[[1., 2., 3., 2., 1.]]])
    """
    s, p, d = _to2d_args(stride, padding, dilation)
    input_shape = tuple(int(v) for v in input_shape)
    shape2d = input_shape[:-1] + (1, input_shape[-1])
    gx = conv2d_grad_input(_h1(grad_output), _h1(weight), shape2d, s, p, d, groups)
    return gx[..., 0, :]


def conv1d_grad_weight(grad_output, input, weight_shape, stride=1, padding=0,
                       dilation=1, groups=1):
    """Gradient of :func:`conv1d` with respect to its weight.

    Parameters
    ----------
    grad_output : array_like, shape (N, OC, OL) or (OC, OL)
    input : array_like, shape (N, C, L) or (C, L)
    weight_shape : tuple of int
        (OC, C // groups, K).
    stride, padding, dilation, groups
        As in :func:`conv1d`.

    Returns
    -------
    grad_weight : ndarray, shape ``weight_shape``

    Examples
    --------
    >>> conv1d_grad_weight(np.ones((1, 1, 3)), np.arange(5.).reshape(1, 1, 5), (1, 1, 3))
    array([[[3., 6., 9.]]])
    """
    s, p, d = _to2d_args(stride, padding, dilation)
    OC, Cg, K = (int(v) for v in weight_shape)
    gw = conv2d_grad_weight(_h1(grad_output), _h1(input), (OC, Cg, 1, K),
                            s, p, d, groups)
    return gw[..., 0, :]


# ===========================================================================
# The rest of a classic CNN: pooling, activations, fully connected layers,
# flatten, softmax and cross-entropy, each with its gradient.
#
# Same rules as above: written from the definition (windowed ops loop over
# output positions, vectorized over N and C), NumPy only, and the meaning of
# the torch.nn.functional op of the same name. Computation is in the inputs'
# float dtype (float16 -> float32, integers and bool -> float64).
# ===========================================================================

__all__ += [
    "max_pool2d",
    "max_pool2d_backward",
    "max_pool1d",
    "max_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "avg_pool1d",
    "avg_pool1d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "relu",
    "relu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "tanh",
    "tanh_backward",
    "linear",
    "linear_backward",
    "flatten",
    "softmax",
    "log_softmax",
    "cross_entropy",
    "cross_entropy_backward",
]


def _float_dtype(*arrays):
    """The compute dtype of the arrays (see _compute_dtype); real only."""
    for a in arrays:
        if np.asarray(a).dtype.kind == "c":
            raise TypeError("complex arrays are not supported, got dtype %s"
                            % np.asarray(a).dtype)
    return _compute_dtype(*arrays)


def _as_float(x):
    x = np.asarray(x)
    return x.astype(_float_dtype(x), copy=False)


# ---------------------------------------------------------------------------
# pooling: geometry
# ---------------------------------------------------------------------------

def _pool_params(kernel_size, stride, padding, dilation):
    """(k, s, p, d) as pairs, PyTorch's defaults and checks."""
    k = _pair(kernel_size)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        s = k
    else:
        s = _pair(stride)
    p = _pair(padding)
    d = _pair(dilation)
    for name, v, low in (("kernel_size", k, 1), ("stride", s, 1),
                         ("dilation", d, 1), ("padding", p, 0)):
        if min(v) < low:
            raise ValueError("%s must be >= %d, got %r" % (name, low, v))
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError("padding %r must be at most half of kernel_size %r"
                         % (p, k))
    return k, s, p, d


def _pool_out_size(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling output size along one dimension.

    ``(size + 2p - d(k-1) - 1) / s + 1`` rounded down, or up with ceil_mode;
    with ceil_mode a last window that would start in the right padding is
    dropped: every window starts in the input or in the left padding.
    """
    room = size + 2 * p - d * (k - 1) - 1
    if room < 0:
        raise ValueError("kernel_size %d (dilation %d) is larger than the padded "
                         "input (size %d, padding %d)" % (k, d, size, p))
    if not ceil_mode:
        return room // s + 1
    out = -(-room // s) + 1
    if (out - 1) * s >= size + p:
        out -= 1
    return out


def _batched(x, nd, name):
    """x with a leading batch axis, and whether one was added."""
    if x.ndim == nd + 2:
        return x, False
    if x.ndim == nd + 1:
        return x[None], True
    raise ValueError("%s must be %d-D (batched) or %d-D (unbatched), got shape %r"
                     % (name, nd + 2, nd + 1, x.shape))


def _batched_shape(shape, nd, name):
    """An input shape with a leading batch axis, and whether one was added."""
    shape = tuple(int(v) for v in shape)
    if len(shape) == nd + 2:
        return shape, False
    if len(shape) == nd + 1:
        return (1,) + shape, True
    raise ValueError("%s must have %d (batched) or %d (unbatched) entries, got %r"
                     % (name, nd + 2, nd + 1, shape))


def _check_grad_shape(go, expected):
    if go.shape != tuple(expected):
        raise ValueError("grad_output has shape %r, expected %r"
                         % (go.shape, tuple(expected)))


# ---------------------------------------------------------------------------
# max pooling
# ---------------------------------------------------------------------------

def _max_taps(o, size, k, s, p, d):
    """Input coordinates of the in-bounds taps of window o along one axis.

    The padding is -inf: it never beats an input element, and an input index
    is what a window reports, so padding taps are simply left out.
    """
    t = o * s - p + d * np.arange(k)
    return t[(t >= 0) & (t < size)]


def _max_pool2d(x, k, s, p, d, ceil_mode):
    """(out, indices) of a batched float array x (N, C, H, W)."""
    N, C, H, W = x.shape
    OH = _pool_out_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    OW = _pool_out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    idx = np.empty((N, C, OH, OW), dtype=np.int64)
    rows = [_max_taps(oh, H, k[0], s[0], p[0], d[0]) for oh in range(OH)]
    cols = [_max_taps(ow, W, k[1], s[1], p[1], d[1]) for ow in range(OW)]
    for oh in range(OH):
        for ow in range(OW):
            r, c = rows[oh], cols[ow]
            if r.size == 0 or c.size == 0:
                # a window of padding only (possible with dilation): no
                # input element, so no index
                out[:, :, oh, ow] = -np.inf
                idx[:, :, oh, ow] = -1
                continue
            # the window's elements in row-major order, and their flat
            # positions h*W + w in the input plane
            win = x[:, :, r[:, None], c[None, :]].reshape(N, C, r.size * c.size)
            pos = (r[:, None] * W + c[None, :]).reshape(-1)
            # first NaN if there is one (NaN propagates), else first maximum
            isnan = np.isnan(win)
            first = np.where(isnan.any(axis=-1), isnan.argmax(axis=-1),
                             win.argmax(axis=-1))
            out[:, :, oh, ow] = np.take_along_axis(win, first[..., None], -1)[..., 0]
            idx[:, :, oh, ow] = pos[first]
    return out, idx


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    """2-D max pooling, the meaning of ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    input : array_like, shape (N, C, H, W) or (C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Implicit -inf on both sides; at most ``kernel_size // 2``.
    dilation : int or (int, int)
    ceil_mode : bool
        Round the output size up instead of down; a last window that would
        start in the right padding is dropped (PyTorch's rule).
    return_indices : bool
        Also return the argmax of every window.

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW) or (C, OH, OW)
        ``OH = (H + 2*PH - DH*(KH-1) - 1) / SH + 1`` rounded down (up with
        ceil_mode), likewise OW; the input's float dtype.
    indices : ndarray of int64, shape of ``out``
        Only with ``return_indices``: the flat position ``h*W + w`` of each
        window's maximum in its (unpadded) input plane; ties go to the first
        maximum in row-major window order. If a window holds a NaN, its output
        is NaN and its index the first NaN's. A window that holds only padding
        (possible with dilation) gives -inf and index -1.

    Examples
    --------
    >>> x = np.array([[1., 5., 2., 0.],
    ...               [3., 4., 8., 6.],
    ...               [7., 0., 1., 2.],
    ...               [9., 3., 4., 5.]]).reshape(1, 1, 4, 4)
    >>> out, idx = max_pool2d(x, 2, return_indices=True)
    >>> out[0, 0], idx[0, 0]
    (array([[5., 8.],
           [9., 5.]]), array([[ 1,  6],
           [12, 15]]))
    """
    x, unbatched = _batched(np.asarray(input), 2, "input")
    x = x.astype(_float_dtype(x), copy=False)
    k, s, p, d = _pool_params(kernel_size, stride, padding, dilation)
    out, idx = _max_pool2d(x, k, s, p, d, ceil_mode)
    if unbatched:
        out, idx = out[0], idx[0]
    return (out, idx) if return_indices else out


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0,
                        dilation=1, ceil_mode=False, indices=None):
    """Gradient of :func:`max_pool2d` with respect to its input.

    Each element of ``grad_output`` is added to the input position its
    window took its maximum from (overlapping windows accumulate).

    Parameters
    ----------
    grad_output : array_like, shape (N, C, OH, OW) or (C, OH, OW)
    input : array_like, shape (N, C, H, W) or (C, H, W)
    kernel_size, stride, padding, dilation, ceil_mode
        As in :func:`max_pool2d`.
    indices : array_like of int, shape of ``grad_output``, optional
        The forward's ``indices``; recomputed from ``input`` when None.

    Returns
    -------
    grad_input : ndarray, shape of ``input``
        In the promoted float dtype of ``grad_output`` and ``input``.

    Examples
    --------
    >>> x = np.array([[[0., 5., 1.]]])                  # (C, H, W) = (1, 1, 3)
    >>> max_pool2d_backward(np.array([[[1., 2.]]]), x, (1, 2), stride=1)
    array([[[0., 3., 0.]]])
    """
    x0 = np.asarray(input)
    go = np.asarray(grad_output)
    dtype = _float_dtype(go, x0)
    x, _ = _batched(x0, 2, "input")
    x = x.astype(dtype, copy=False)
    k, s, p, d = _pool_params(kernel_size, stride, padding, dilation)
    N, C, H, W = x.shape
    OH = _pool_out_size(H, k[0], s[0], p[0], d[0], ceil_mode)
    OW = _pool_out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    _check_grad_shape(go, x0.shape[:-2] + (OH, OW))
    go = go.astype(dtype, copy=False).reshape(N, C, OH, OW)
    if indices is None:
        _, idx = _max_pool2d(x, k, s, p, d, ceil_mode)
    else:
        idx = np.asarray(indices)
        if idx.shape != x0.shape[:-2] + (OH, OW):
            raise ValueError("indices have shape %r, expected %r (that of "
                             "grad_output)" % (idx.shape, x0.shape[:-2] + (OH, OW)))
        if idx.dtype.kind not in "iu":
            raise TypeError("indices must be integers, got dtype %s" % idx.dtype)
        idx = idx.reshape(N, C, OH, OW)
        if idx.size and (idx.min() < -1 or idx.max() >= H * W):
            raise ValueError("indices must lie in [0, %d)" % (H * W))
    gx = np.zeros((N, C, H * W), dtype=dtype)
    for oh in range(OH):
        for ow in range(OW):
            i = idx[:, :, oh, ow]
            n, c = np.nonzero(i >= 0)
            # one index per (n, c) here, so the fancy += does not collide
            gx[n, c, i[n, c]] += go[n, c, oh, ow]
    return gx.reshape(x0.shape)


# ---------------------------------------------------------------------------
# average pooling
# ---------------------------------------------------------------------------

def _avg_window(o, size, k, s, p):
    """Window o along one axis: (first, end) clipped to the input, and its
    length clipped to [-p, size + p) (the count_include_pad divisor)."""
    start = o * s - p
    end = min(start + k, size + p)
    return max(start, 0), min(end, size), end - start


def _avg_geometry(shape, kernel_size, stride, padding, ceil_mode,
                  count_include_pad):
    """Per output position: the input slices and the divisor."""
    k, s, p, _ = _pool_params(kernel_size, stride, padding, 1)
    H, W = shape[-2:]
    OH = _pool_out_size(H, k[0], s[0], p[0], 1, ceil_mode)
    OW = _pool_out_size(W, k[1], s[1], p[1], 1, ceil_mode)
    windows = []
    for oh in range(OH):
        h0, h1, lh = _avg_window(oh, H, k[0], s[0], p[0])
        for ow in range(OW):
            w0, w1, lw = _avg_window(ow, W, k[1], s[1], p[1])
            div = lh * lw if count_include_pad else (h1 - h0) * (w1 - w0)
            windows.append((oh, ow, slice(h0, h1), slice(w0, w1),
                            h1 > h0 and w1 > w0, div))
    return (OH, OW), windows


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """2-D average pooling, the meaning of ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    input : array_like, shape (N, C, H, W) or (C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Implicit zeros on both sides; at most ``kernel_size // 2``.
    ceil_mode : bool
        As in :func:`max_pool2d`.
    count_include_pad : bool
        The divisor of a window. True: its size once clipped to the padded
        input ``[-P, H + P)``, i.e. ``(hend - hstart) * (wend - wstart)``
        with ``hstart = oh*S - P``, ``hend = min(hstart + K, H + P)``. False:
        the number of input elements in it.

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW) or (C, OH, OW)
        Output size as in :func:`max_pool2d` with dilation 1; the input's
        float dtype.

    Examples
    --------
    >>> x = np.arange(16.).reshape(1, 1, 4, 4)
    >>> avg_pool2d(x, 3, stride=2, padding=1)[0, 0] * 9
    array([[10., 24.],
           [51., 90.]])
    >>> avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)[0, 0]
    array([[ 2.5,  4. ],
           [ 8.5, 10. ]])
    """
    x, unbatched = _batched(np.asarray(input), 2, "input")
    x = x.astype(_float_dtype(x), copy=False)
    (OH, OW), windows = _avg_geometry(x.shape, kernel_size, stride, padding,
                                      ceil_mode, count_include_pad)
    out = np.zeros(x.shape[:2] + (OH, OW), dtype=x.dtype)
    for oh, ow, hs, ws, nonempty, div in windows:
        if nonempty:  # else 0, as in PyTorch
            out[:, :, oh, ow] = x[:, :, hs, ws].sum(axis=(2, 3)) / div
    return out[0] if unbatched else out


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None,
                        padding=0, ceil_mode=False, count_include_pad=True):
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Each window spreads ``grad_output / divisor`` over its input elements.

    Parameters
    ----------
    grad_output : array_like, shape (N, C, OH, OW) or (C, OH, OW)
    input_shape : tuple of int
        (N, C, H, W), or (C, H, W) for unbatched.
    kernel_size, stride, padding, ceil_mode, count_include_pad
        As in :func:`avg_pool2d`.

    Returns
    -------
    grad_input : ndarray, shape ``input_shape``, grad_output's float dtype

    Examples
    --------
    >>> avg_pool2d_backward(np.ones((1, 1, 1, 2)), (1, 1, 1, 4), (1, 3),
    ...                     stride=2, padding=(0, 1))[0, 0] * 3
    array([[1., 2., 1., 1.]])
    """
    go = np.asarray(grad_output)
    dtype = _float_dtype(go)
    input_shape = tuple(int(v) for v in input_shape)
    shape, _ = _batched_shape(input_shape, 2, "input_shape")
    (OH, OW), windows = _avg_geometry(shape, kernel_size, stride,
                                      padding, ceil_mode, count_include_pad)
    _check_grad_shape(go, input_shape[:-2] + (OH, OW))
    go = go.astype(dtype, copy=False).reshape(shape[:2] + (OH, OW))
    gx = np.zeros(shape, dtype=dtype)
    for oh, ow, hs, ws, nonempty, div in windows:
        if nonempty:
            gx[:, :, hs, ws] += (go[:, :, oh, ow] / div)[:, :, None, None]
    return gx.reshape(input_shape)


# ---------------------------------------------------------------------------
# adaptive average pooling
# ---------------------------------------------------------------------------

def _adaptive_window(i, size, out):
    """[floor(i*size/out), ceil((i+1)*size/out))."""
    return (i * size) // out, -(-((i + 1) * size) // out)


def _adaptive_size(output_size, H, W):
    if isinstance(output_size, (int, np.integer)):
        oh = ow = int(output_size)
    else:
        oh, ow = output_size
        oh = H if oh is None else int(oh)  # None: keep that size (PyTorch)
        ow = W if ow is None else int(ow)
    if oh < 1 or ow < 1:
        raise ValueError("output_size must be >= 1, got %r" % (output_size,))
    return oh, ow


def adaptive_avg_pool2d(input, output_size):
    """Adaptive 2-D average pooling, the meaning of
    ``torch.nn.functional.adaptive_avg_pool2d``.

    Output ``(i, j)`` is the mean of the input rows
    ``[floor(i*H/OH), ceil((i+1)*H/OH))`` and the columns likewise; windows
    overlap when OH does not divide H.

    Parameters
    ----------
    input : array_like, shape (N, C, H, W) or (C, H, W)
    output_size : int or (int or None, int or None)
        (OH, OW); None keeps the input's size.

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW) or (C, OH, OW), the input's float dtype

    Examples
    --------
    >>> adaptive_avg_pool2d(np.arange(1., 6.).reshape(1, 1, 5), (1, 3))
    array([[[1.5, 3. , 4.5]]])
    """
    x, unbatched = _batched(np.asarray(input), 2, "input")
    x = x.astype(_float_dtype(x), copy=False)
    H, W = x.shape[-2:]
    OH, OW = _adaptive_size(output_size, H, W)
    out = np.empty(x.shape[:2] + (OH, OW), dtype=x.dtype)
    for oh in range(OH):
        h0, h1 = _adaptive_window(oh, H, OH)
        for ow in range(OW):
            w0, w1 = _adaptive_window(ow, W, OW)
            out[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out[0] if unbatched else out


def adaptive_avg_pool2d_backward(grad_output, input_shape):
    """Gradient of :func:`adaptive_avg_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, shape (N, C, OH, OW) or (C, OH, OW)
        The output size is read from its last two axes.
    input_shape : tuple of int
        (N, C, H, W), or (C, H, W) for unbatched.

    Returns
    -------
    grad_input : ndarray, shape ``input_shape``, grad_output's float dtype

    Examples
    --------
    >>> adaptive_avg_pool2d_backward(np.ones((1, 1, 2)), (1, 1, 3)) * 2
    array([[[1., 2., 1.]]])
    """
    go = np.asarray(grad_output)
    dtype = _float_dtype(go)
    input_shape = tuple(int(v) for v in input_shape)
    shape, _ = _batched_shape(input_shape, 2, "input_shape")
    if go.ndim != len(input_shape) or go.shape[:-2] != input_shape[:-2]:
        raise ValueError("grad_output has shape %r, expected %r + (OH, OW)"
                         % (go.shape, input_shape[:-2]))
    OH, OW = go.shape[-2:]
    H, W = shape[-2:]
    go = go.astype(dtype, copy=False).reshape(shape[:2] + (OH, OW))
    gx = np.zeros(shape, dtype=dtype)
    for oh in range(OH):
        h0, h1 = _adaptive_window(oh, H, OH)
        for ow in range(OW):
            w0, w1 = _adaptive_window(ow, W, OW)
            gx[:, :, h0:h1, w0:w1] += (go[:, :, oh, ow]
                                       / ((h1 - h0) * (w1 - w0)))[:, :, None, None]
    return gx.reshape(input_shape)


# ---------------------------------------------------------------------------
# 1-D pooling: the 2-D reference with H = 1
# ---------------------------------------------------------------------------

def _one(v, name):
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = tuple(v)
    if len(v) != 1:
        raise ValueError("%s must be an int or a 1-tuple, got %r" % (name, v))
    return int(v[0])


def _pool1d_args(kernel_size, stride, padding, dilation=1):
    k = _one(kernel_size, "kernel_size")
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        s = k
    else:
        s = _one(stride, "stride")
    return (1, k), (1, s), (0, _one(padding, "padding")), (1, _one(dilation, "dilation"))


def _input1d(x):
    x = np.asarray(x)
    if x.ndim not in (2, 3):
        raise ValueError("input must be 3-D (N, C, L) or 2-D (C, L), got shape %r"
                         % (x.shape,))
    return _h1(x)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    """1-D max pooling, the meaning of ``torch.nn.functional.max_pool1d``.

    Parameters
    ----------
    input : array_like, shape (N, C, L) or (C, L)
    kernel_size, stride, padding, dilation : int or (int,)
    ceil_mode, return_indices : bool
        As in :func:`max_pool2d`.

    Returns
    -------
    out : ndarray, shape (N, C, OL) or (C, OL)
    indices : ndarray of int64, shape of ``out``
        Only with ``return_indices``: positions in ``[0, L)``.

    Examples
    --------
    >>> max_pool1d(np.array([[[0., 9., 1., 8., 2.]]]), 2, stride=1, dilation=2,
    ...            return_indices=True)
    (array([[[1., 9., 2.]]]), array([[[2, 1, 4]]]))
    """
    k, s, p, d = _pool1d_args(kernel_size, stride, padding, dilation)
    res = max_pool2d(_input1d(input), k, s, p, d, ceil_mode, return_indices)
    if return_indices:
        return res[0][..., 0, :], res[1][..., 0, :]
    return res[..., 0, :]


def max_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0,
                        dilation=1, ceil_mode=False, indices=None):
    """Gradient of :func:`max_pool1d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, shape (N, C, OL) or (C, OL)
    input : array_like, shape (N, C, L) or (C, L)
    kernel_size, stride, padding, dilation, ceil_mode
        As in :func:`max_pool1d`.
    indices : array_like of int, shape of ``grad_output``, optional

    Returns
    -------
    grad_input : ndarray, shape of ``input``

    Examples
    --------
    >>> max_pool1d_backward(np.array([[[1., 2.]]]), np.array([[[0., 5., 1.]]]), 2,
    ...                     stride=1)
    array([[[0., 3., 0.]]])
    """
    k, s, p, d = _pool1d_args(kernel_size, stride, padding, dilation)
    idx = None if indices is None else _h1(indices)
    gx = max_pool2d_backward(_h1(grad_output), _input1d(input), k, s, p, d,
                             ceil_mode, idx)
    return gx[..., 0, :]


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-D average pooling, the meaning of ``torch.nn.functional.avg_pool1d``.

    Parameters
    ----------
    input : array_like, shape (N, C, L) or (C, L)
    kernel_size, stride, padding : int or (int,)
    ceil_mode, count_include_pad : bool
        As in :func:`avg_pool2d`.

    Returns
    -------
    out : ndarray, shape (N, C, OL) or (C, OL)

    Examples
    --------
    >>> avg_pool1d(np.array([[[1., 2., 3., 4.]]]), 3, stride=2, padding=1,
    ...            ceil_mode=True) * 6
    array([[[ 6., 18., 12.]]])
    """
    k, s, p, _ = _pool1d_args(kernel_size, stride, padding)
    out = avg_pool2d(_input1d(input), k, s, p, ceil_mode, count_include_pad)
    return out[..., 0, :]


def avg_pool1d_backward(grad_output, input_shape, kernel_size, stride=None,
                        padding=0, ceil_mode=False, count_include_pad=True):
    """Gradient of :func:`avg_pool1d` with respect to its input.

    Parameters
    ----------
    grad_output : array_like, shape (N, C, OL) or (C, OL)
    input_shape : tuple of int
        (N, C, L), or (C, L) for unbatched.
    kernel_size, stride, padding, ceil_mode, count_include_pad
        As in :func:`avg_pool1d`.

    Returns
    -------
    grad_input : ndarray, shape ``input_shape``

    Examples
    --------
    >>> avg_pool1d_backward(np.ones((1, 1, 2)), (1, 1, 4), 2)
    array([[[0.5, 0.5, 0.5, 0.5]]])
    """
    k, s, p, _ = _pool1d_args(kernel_size, stride, padding)
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) not in (2, 3):
        raise ValueError("input_shape must be (N, C, L) or (C, L), got %r"
                         % (input_shape,))
    shape2d = input_shape[:-1] + (1, input_shape[-1])
    gx = avg_pool2d_backward(_h1(grad_output), shape2d, k, s, p, ceil_mode,
                             count_include_pad)
    return gx[..., 0, :]


# ---------------------------------------------------------------------------
# activations (elementwise, any shape)
# ---------------------------------------------------------------------------

def _grad_pair(grad_output, other, name):
    g = np.asarray(grad_output)
    o = np.asarray(other)
    dtype = _float_dtype(g, o)
    if g.shape != o.shape:
        raise ValueError("grad_output has shape %r but %s has shape %r"
                         % (g.shape, name, o.shape))
    return g.astype(dtype, copy=False), o.astype(dtype, copy=False)


def relu(x):
    """ReLU, ``max(x, 0)`` elementwise; NaN stays NaN.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray, shape of ``x``, its float dtype

    Examples
    --------
    >>> relu(np.array([-1., 0., 2.]))
    array([0., 0., 2.])
    """
    x = _as_float(x)
    return np.maximum(x, x.dtype.type(0))


def relu_backward(grad_output, input):
    """Gradient of :func:`relu`: ``grad_output`` where ``input > 0``, else 0
    (0 at ``input == 0``, as in PyTorch).

    Parameters
    ----------
    grad_output, input : array_like, same shape

    Returns
    -------
    ndarray, that shape, the promoted float dtype

    Examples
    --------
    >>> relu_backward(np.ones(3), np.array([-1., 0., 2.]))
    array([0., 0., 1.])
    """
    g, x = _grad_pair(grad_output, input, "input")
    return np.where(x > 0, g, g.dtype.type(0))


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU, ``x if x > 0 else negative_slope * x`` elementwise.

    Parameters
    ----------
    x : array_like, any shape
    negative_slope : float

    Returns
    -------
    ndarray, shape of ``x``, its float dtype

    Examples
    --------
    >>> leaky_relu(np.array([-2., 0., 3.]), 0.1)
    array([-0.2,  0. ,  3. ])
    """
    x = _as_float(x)
    # np.where computes both branches: inf * 0 (slope 0) is NaN, unused when
    # x = +inf and the definition's value when x = -inf
    with np.errstate(invalid="ignore"):
        return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(grad_output, input, negative_slope=0.01):
    """Gradient of :func:`leaky_relu`: ``grad_output`` where ``input > 0``,
    else ``negative_slope * grad_output`` (so the slope at ``input == 0``,
    as in PyTorch).

    Parameters
    ----------
    grad_output, input : array_like, same shape
    negative_slope : float

    Returns
    -------
    ndarray, that shape, the promoted float dtype

    Examples
    --------
    >>> leaky_relu_backward(np.ones(3), np.array([-1., 0., 2.]), 0.1)
    array([0.1, 0.1, 1. ])
    """
    g, x = _grad_pair(grad_output, input, "input")
    with np.errstate(invalid="ignore"):
        return np.where(x > 0, g, g * g.dtype.type(negative_slope))


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))`` elementwise, without overflow.

    Two branches on ``z = exp(-|x|)``, whose exponent is never positive:
    ``1 / (1 + z)`` for ``x >= 0`` and ``z / (1 + z)`` for ``x < 0``. Where
    ``z`` would be below the dtype's smallest normal number it is taken as
    0, so no floating point flag (not even underflow) is raised.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray, shape of ``x``, its float dtype

    Examples
    --------
    >>> sigmoid(np.array([-1000., 0., 1000.]))
    array([0. , 0.5, 1. ])
    """
    x = _as_float(x)
    a = np.abs(x)
    limit = -np.log(np.finfo(x.dtype).tiny) - 1
    z = np.zeros_like(x)
    np.exp(-a, out=z, where=~(a >= limit))  # NaN goes through exp: stays NaN
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def sigmoid_backward(grad_output, output):
    """Gradient of :func:`sigmoid` from its output y: ``grad_output * y * (1 - y)``.

    Parameters
    ----------
    grad_output, output : array_like, same shape

    Returns
    -------
    ndarray, that shape, the promoted float dtype

    Examples
    --------
    >>> sigmoid_backward(np.ones(2), np.array([0.5, 1.]))
    array([0.25, 0.  ])
    """
    g, y = _grad_pair(grad_output, output, "output")
    return g * y * (1 - y)


def tanh(x):
    """Hyperbolic tangent elementwise.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray, shape of ``x``, its float dtype

    Examples
    --------
    >>> tanh(np.array([0., 1000.]))
    array([0., 1.])
    """
    return np.tanh(_as_float(x))


def tanh_backward(grad_output, output):
    """Gradient of :func:`tanh` from its output y: ``grad_output * (1 - y**2)``.

    Parameters
    ----------
    grad_output, output : array_like, same shape

    Returns
    -------
    ndarray, that shape, the promoted float dtype

    Examples
    --------
    >>> tanh_backward(np.ones(2), np.array([0., 0.5]))
    array([1.  , 0.75])
    """
    g, y = _grad_pair(grad_output, output, "output")
    return g * (1 - y * y)


# ---------------------------------------------------------------------------
# fully connected, flatten
# ---------------------------------------------------------------------------

def _linear_shapes(x, w):
    if w.ndim != 2:
        raise ValueError("weight must be 2-D (out_features, in_features), got "
                         "shape %r" % (w.shape,))
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError("input must end in in_features = %d, got shape %r"
                         % (w.shape[1], x.shape))


def linear(input, weight, bias=None):
    """Fully connected layer ``input @ weight.T + bias``, the meaning of
    ``torch.nn.functional.linear``.

    Parameters
    ----------
    input : array_like, shape (..., in_features)
    weight : array_like, shape (out_features, in_features)
    bias : array_like, shape (out_features,), optional

    Returns
    -------
    out : ndarray, shape (..., out_features)
        The promoted float dtype of the arguments.

    Examples
    --------
    >>> linear(np.array([[1., 2.]]), np.array([[1., 0.], [1., 1.], [0., -1.]]),
    ...        np.array([0., 0., 10.]))
    array([[1., 3., 8.]])
    """
    x = np.asarray(input)
    w = np.asarray(weight)
    b = None if bias is None else np.asarray(bias)
    dtype = _float_dtype(x, w) if b is None else _float_dtype(x, w, b)
    _linear_shapes(x, w)
    x = x.astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)
    # out[..., o] = sum_i x[..., i] w[o, i]
    out = np.matmul(x, w.T)
    if b is not None:
        if b.shape != (w.shape[0],):
            raise ValueError("bias must have shape (%d,), got %r"
                             % (w.shape[0], b.shape))
        out = out + b.astype(dtype, copy=False)
    return out


def linear_backward(grad_output, input, weight):
    """Gradients of :func:`linear` with respect to input, weight and bias.

    Parameters
    ----------
    grad_output : array_like, shape (..., out_features)
    input : array_like, shape (..., in_features)
    weight : array_like, shape (out_features, in_features)

    Returns
    -------
    grad_input : ndarray, shape (..., in_features)
        ``grad_output @ weight``.
    grad_weight : ndarray, shape (out_features, in_features)
        ``sum over ... of grad_output[..., o] * input[..., i]``.
    grad_bias : ndarray, shape (out_features,)
        ``grad_output`` summed over all leading axes.
        All three in the promoted float dtype of the arguments.

    Examples
    --------
    >>> gx, gw, gb = linear_backward(np.array([[1., 2.]]), np.array([[3., 4., 5.]]),
    ...                              np.ones((2, 3)))
    >>> gx, gw, gb
    (array([[3., 3., 3.]]), array([[ 3.,  4.,  5.],
           [ 6.,  8., 10.]]), array([1., 2.]))
    """
    g = np.asarray(grad_output)
    x = np.asarray(input)
    w = np.asarray(weight)
    dtype = _float_dtype(g, x, w)
    _linear_shapes(x, w)
    _check_grad_shape(g, x.shape[:-1] + (w.shape[0],))
    g, x, w = (a.astype(dtype, copy=False) for a in (g, x, w))
    rows = int(np.prod(x.shape[:-1]))  # not -1: in_features may be 0
    g2 = g.reshape(rows, w.shape[0])
    x2 = x.reshape(rows, w.shape[1])
    return np.matmul(g, w), np.matmul(g2.T, x2), g2.sum(axis=0)


def flatten(x, start_dim=1):
    """Axes ``start_dim`` .. the last merged into one, the meaning of
    ``torch.flatten(x, start_dim)`` (end_dim=-1).

    A pure reshape, so unlike the other ops it keeps the dtype (as torch
    does), and it is a view whenever NumPy can make one.

    Parameters
    ----------
    x : array_like, any shape
    start_dim : int
        In ``[-ndim, ndim)``; a 0-d array counts as 1-d.

    Returns
    -------
    ndarray, shape ``x.shape[:start_dim] + (prod(x.shape[start_dim:]),)``

    Examples
    --------
    >>> flatten(np.zeros((2, 3, 4, 5))).shape
    (2, 60)
    >>> flatten(np.zeros((2, 3, 4, 5)), -2).shape
    (2, 3, 20)
    """
    a = np.asarray(x)
    nd = max(a.ndim, 1)
    if not -nd <= start_dim < nd:
        raise ValueError("start_dim must be in [%d, %d), got %r"
                         % (-nd, nd, start_dim))
    if a.ndim == 0:
        return a.reshape(1)
    sd = start_dim % nd
    return a.reshape(a.shape[:sd] + (int(np.prod(a.shape[sd:])),))


# ---------------------------------------------------------------------------
# softmax and cross-entropy
# ---------------------------------------------------------------------------

def softmax(x, axis=-1):
    """Softmax along ``axis``: ``exp(x - max) / sum(exp(x - max))``.

    Subtracting the maximum keeps every exponent <= 0, so nothing overflows.

    Parameters
    ----------
    x : array_like, any shape
    axis : int

    Returns
    -------
    ndarray, shape of ``x``, its float dtype

    Examples
    --------
    >>> softmax(np.array([0., np.log(3.)]))
    array([0.25, 0.75])
    """
    x = _as_float(x)
    with np.errstate(under="ignore"):  # exp -> 0 is the right answer
        e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """Log-softmax along ``axis``, by log-sum-exp:
    ``(x - max) - log(sum(exp(x - max)))``.

    Parameters
    ----------
    x : array_like, any shape
    axis : int

    Returns
    -------
    ndarray, shape of ``x``, its float dtype

    Examples
    --------
    >>> log_softmax(np.array([0., 1000.]))
    array([-1000.,     0.])
    """
    x = _as_float(x)
    z = x - x.max(axis=axis, keepdims=True)
    with np.errstate(under="ignore"):
        return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _ce_inputs(logits, target, reduction):
    z = np.asarray(logits)
    t = np.asarray(target)
    dtype = _float_dtype(z)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError("reduction must be 'mean', 'sum' or 'none', got %r"
                         % (reduction,))
    if z.ndim != 2:
        raise ValueError("logits must be 2-D (N, C), got shape %r" % (z.shape,))
    if t.dtype.kind not in "iu":
        raise TypeError("target must be integer class indices, got dtype %s"
                        % t.dtype)
    if t.shape != (z.shape[0],):
        raise ValueError("target must have shape (%d,), got %r"
                         % (z.shape[0], t.shape))
    if t.size and (t.min() < 0 or t.max() >= z.shape[1]):
        raise ValueError("target must lie in [0, %d), got values in [%d, %d]"
                         % (z.shape[1], t.min(), t.max()))
    return z.astype(dtype, copy=False), t.astype(np.intp)


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy with class-index targets, the meaning of
    ``torch.nn.functional.cross_entropy``.

    ``loss[n] = -log_softmax(logits[n])[target[n]]``.

    Parameters
    ----------
    logits : array_like, shape (N, C)
    target : array_like of int, shape (N,)
        Values in ``[0, C)``.
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    loss : ndarray
        Shape () for 'mean' (the sum over N, divided by N; NaN when N is 0,
        as in PyTorch) and 'sum', (N,) for 'none'; the logits' float dtype.

    Examples
    --------
    >>> cross_entropy(np.zeros((2, 4)), np.array([0, 3]))    # log 4
    array(1.38629436)
    """
    z, t = _ce_inputs(logits, target, reduction)
    N = z.shape[0]
    loss = -log_softmax(z, axis=1)[np.arange(N), t]
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore"):
            total = total / z.dtype.type(N)
    return np.asarray(total, dtype=z.dtype)


def cross_entropy_backward(logits, target, reduction="mean"):
    """Gradient of :func:`cross_entropy` with respect to the logits.

    ``softmax(logits) - onehot(target)``, divided by N for 'mean'. For
    'none', each row is the gradient of its own sample's loss (the gradient
    of ``loss.sum()``, i.e. grad_output of ones).

    Parameters
    ----------
    logits : array_like, shape (N, C)
    target : array_like of int, shape (N,)
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    grad_logits : ndarray, shape (N, C), the logits' float dtype

    Examples
    --------
    >>> cross_entropy_backward(np.zeros((2, 2)), np.array([1, 0]))
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    z, t = _ce_inputs(logits, target, reduction)
    N = z.shape[0]
    g = softmax(z, axis=1)
    g[np.arange(N), t] -= 1
    if reduction == "mean" and N:
        g /= N
    return g
