"""The strongest plain-NumPy versions of the benchmarked ops: the baseline
the report quotes its "x numpy" speed-up against, on every layer.

``convcore.reference`` is the oracle: clear loops, correct by inspection,
slow on large layers. These are what someone fluent in NumPy would write for
speed instead: convolution as im2col over ``sliding_window_view`` + one
``tensordot`` (or ``einsum`` for groups) that BLAS runs; pooling as a
reduction over the window view; backward passes as K*K strided adds
(col2im). They are checked against the oracle in the tests.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convcore.bench.workload import pool_out_size


def _windows(x, L):
    """Read-only view (N, C, OH, OW, K, K) of the padded input under each output."""
    p, span = L.pad, L.dil * (L.K - 1) + 1
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    v = sliding_window_view(xp, (span, span), axis=(2, 3))
    return v[:, :, ::L.stride, ::L.stride, ::L.dil, ::L.dil]


def conv2d_fwd(x, w, b, L):
    """Forward of conv layer `L` (a ``workload.Layer``): im2col + tensordot.

    Examples
    --------
    >>> from convcore.bench import workload
    >>> L = workload.layer("tiny_3x3")
    >>> x, w, b, go = workload.make_inputs(L, "float64", np.random.default_rng(0))
    >>> conv2d_fwd(x, w, b, L).shape
    (2, 5, 10, 10)
    """
    win = _windows(x, L)
    N, C, OH, OW, K, _ = win.shape
    G = L.groups
    if G == 1:
        out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, OC)
        out = out.transpose(0, 3, 1, 2)
    else:
        wg = w.reshape(G, L.OC // G, C // G, K, K)
        win = win.reshape(N, G, C // G, OH, OW, K, K)
        out = np.einsum("ngchwij,gocij->ngohw", win, wg, optimize=True)
        out = out.reshape(N, L.OC, OH, OW)
    out = np.ascontiguousarray(out)
    if b is not None:
        out += b[:, None, None]
    return out


def conv2d_bwd_weights(go, x, L):
    """Weight gradient of conv layer `L`: one tensordot over the window view."""
    win = _windows(x, L)
    N, C, OH, OW, K, _ = win.shape
    G = L.groups
    if G == 1:
        return np.tensordot(go, win, axes=([0, 2, 3], [0, 2, 3]))  # (OC, C, K, K)
    gog = go.reshape(N, G, L.OC // G, OH, OW)
    win = win.reshape(N, G, C // G, OH, OW, K, K)
    gw = np.einsum("ngohw,ngchwij->gocij", gog, win, optimize=True)
    return gw.reshape(L.OC, C // G, K, K)


def conv2d_bwd_data(go, w, x_shape, L):
    """Input gradient of conv layer `L` (col2im): columns = w^T . grad_output,
    scattered back with K*K strided adds."""
    N, C, H, W = x_shape
    K, s, d, p, G = L.K, L.stride, L.dil, L.pad, L.groups
    OH, OW = go.shape[2:]
    if G == 1:
        cols = np.tensordot(w, go, axes=([0], [1]))  # (C, K, K, N, OH, OW)
    else:
        wg = w.reshape(G, L.OC // G, C // G, K, K)
        gog = go.reshape(N, G, L.OC // G, OH, OW)
        cols = np.einsum("gocij,ngohw->gcijnhw", wg, gog, optimize=True)
        cols = cols.reshape(C, K, K, N, OH, OW)
    gxp = np.zeros((C, N, H + 2 * p, W + 2 * p), dtype=cols.dtype)
    for i in range(K):
        for j in range(K):
            h0, w0 = i * d, j * d
            gxp[:, :, h0:h0 + s * (OH - 1) + 1:s, w0:w0 + s * (OW - 1) + 1:s] += cols[:, i, j]
    return np.ascontiguousarray(gxp[:, :, p:p + H, p:p + W].transpose(1, 0, 2, 3))


def _pool_windows(x, P, fill):
    """View (N, C, OH, OW, K, K) of the input padded with `fill`."""
    p = P.pad
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill) if p else x
    v = sliding_window_view(xp, (P.K, P.K), axis=(2, 3))
    o = pool_out_size(P)
    return v[:, :, :o * P.stride:P.stride, :o * P.stride:P.stride]


def pool2d_fwd(x, P):
    """Forward of pooling layer `P` (a ``workload.Pool``): max or mean over
    the window view (average pooling counts the padding, PyTorch's default).

    Examples
    --------
    >>> from convcore.bench import workload
    >>> P = workload.layer("tiny_maxpool_3x3s2")
    >>> pool2d_fwd(np.zeros((2, 3, 11, 11)), P).shape
    (2, 3, 6, 6)
    """
    if P.kind == "max":
        return _pool_windows(x, P, -np.inf).max(axis=(4, 5))
    return _pool_windows(x, P, 0).mean(axis=(4, 5), dtype=x.dtype)


def pool2d_bwd(go, x, P, indices=None):
    """Input gradient of pooling layer `P`: K*K strided adds of grad_output,
    each masked to the windows whose maximum sat at that tap (max pooling,
    from the forward's flat `indices` ``h*W + w``) or scaled by 1/K^2
    (average pooling)."""
    N, C, H, W = x.shape
    K, s, p = P.K, P.stride, P.pad
    OH, OW = go.shape[2:]
    gxp = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=go.dtype)
    if P.kind == "max":
        # the tap (i, j) each window's maximum came from
        oh = np.arange(OH)[:, None] * s - p
        ow = np.arange(OW)[None, :] * s - p
        tap = (indices // W - oh) * K + (indices % W - ow)
    else:
        scaled = go / go.dtype.type(K * K)
    for i in range(K):
        for j in range(K):
            part = np.where(tap == i * K + j, go, 0) if P.kind == "max" else scaled
            gxp[:, :, i:i + s * (OH - 1) + 1:s, j:j + s * (OW - 1) + 1:s] += part
    return np.ascontiguousarray(gxp[:, :, p:p + H, p:p + W])
