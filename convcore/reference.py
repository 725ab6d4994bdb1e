"""Naive NumPy reference of the convolution ops: the test oracle.

Every function here is written straight from the definition of
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
