"""Drop-in replacements for the assignment-style NumPy layer API (the
``layers.py`` / ``fast_layers.py`` / ``layer_utils.py`` functions of the
widely copied CS231n convolutional-network assignment).

A project built on those functions switches by changing its import::

    from convcore.compat.cs231n import conv_forward_fast, conv_backward_fast

Every forward returns ``(out, cache)`` and every backward takes
``(dout, cache)``. Differences from the originals, all deliberate: any
rectangular kernel and stride that fits; arrays of any dtype are computed
in NumPy's promoted float type (float32 stays float32); max-pool backward
routes each output's gradient to the *first* maximum of its window (the
argmax saved by the forward), as the naive assignment version does.

Examples
--------
>>> import numpy as np
>>> from convcore.compat.cs231n import conv_forward_fast, conv_backward_fast
>>> x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
>>> w, b = np.ones((4, 3, 3, 3)), np.zeros(4)
>>> out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
>>> dx, dw, db = conv_backward_fast(np.ones_like(out), cache)
>>> out.shape, dx.shape, dw.shape, db.shape
((2, 4, 8, 8), (2, 3, 8, 8), (4, 3, 3, 3), (4,))
"""
import numpy as np

import convcore

__all__ = [
    "affine_backward", "affine_forward", "affine_relu_backward",
    "affine_relu_forward", "conv_backward_fast", "conv_forward_fast",
    "conv_relu_backward", "conv_relu_forward", "conv_relu_pool_backward",
    "conv_relu_pool_forward", "max_pool_backward_fast", "max_pool_forward_fast",
    "relu_backward", "relu_forward", "softmax_loss",
]


def _params(d, keys, what):
    if not isinstance(d, dict):
        raise TypeError(f"{what} must be a dict with keys {keys}, got {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    if missing:
        raise ValueError(f"{what} is missing {missing}; expected keys {keys}, got {sorted(d)}")
    return [d[k] for k in keys]


def conv_forward_fast(x, w, b, conv_param):
    """Convolution: x ``(N, C, H, W)``, w ``(F, C, HH, WW)``, b ``(F,)``,
    ``conv_param = {'stride': s, 'pad': p}`` -> ``(out, cache)``, out
    ``(N, F, H', W')`` with ``H' = 1 + (H + 2p - HH) // s``."""
    stride, pad = _params(conv_param, ["stride", "pad"], "conv_param")
    out = convcore.conv2d(x, w, b, stride=stride, padding=pad)
    return out, (x, w, b, conv_param)


def conv_backward_fast(dout, cache):
    """Gradients of :func:`conv_forward_fast` -> ``(dx, dw, db)``."""
    x, w, b, conv_param = cache
    stride, pad = _params(conv_param, ["stride", "pad"], "conv_param")
    dx, dw, db = convcore.conv2d_backward(dout, x, w, stride=stride, padding=pad)
    if b is not None:
        db = db.astype(np.result_type(db, b), copy=False)
    return dx, dw, db


def max_pool_forward_fast(x, pool_param):
    """Max pooling: ``pool_param = {'pool_height', 'pool_width', 'stride'}``
    -> ``(out, cache)``; the cache keeps the argmax of every window."""
    ph, pw, stride = _params(pool_param, ["pool_height", "pool_width", "stride"], "pool_param")
    out, idx = convcore.max_pool2d(x, (ph, pw), stride, return_indices=True)
    return out, (x, idx, pool_param)


def max_pool_backward_fast(dout, cache):
    """Gradient of :func:`max_pool_forward_fast` -> dx (from the saved argmax)."""
    x, idx, pool_param = cache
    ph, pw, stride = _params(pool_param, ["pool_height", "pool_width", "stride"], "pool_param")
    return convcore.max_pool2d_backward(dout, x, (ph, pw), stride, indices=idx)


def relu_forward(x):
    """``max(x, 0)`` -> ``(out, cache)``."""
    return convcore.relu(x), x


def relu_backward(dout, cache):
    """Gradient of :func:`relu_forward` -> dx."""
    return convcore.relu_backward(dout, cache)


def _rows(x, w, what):
    x = np.asarray(x)
    w = np.asarray(w)
    if x.ndim < 1 or w.ndim != 2:
        raise ValueError(f"{what}: x must be (N, d_1, ..., d_k) and w (D, M), got x "
                         f"{x.shape} and w {w.shape}")
    rows = x.reshape(x.shape[0], -1)
    if rows.shape[1] != w.shape[0]:
        raise ValueError(f"{what}: x {x.shape} has D = {rows.shape[1]} features per row "
                         f"but w {w.shape} expects D = {w.shape[0]}")
    return x, rows, w


def affine_forward(x, w, b):
    """Fully connected: x ``(N, d_1, ..., d_k)`` reshaped to rows ``(N, D)``,
    w ``(D, M)``, b ``(M,)`` -> ``(x_rows @ w + b, cache)``."""
    x, rows, w = _rows(x, w, "affine_forward")
    return convcore.linear(rows, w.T, b), (x, w, b)


def affine_backward(dout, cache):
    """Gradients of :func:`affine_forward` -> ``(dx, dw, db)``, dx shaped
    like x, dw ``(D, M)``, db ``(M,)``."""
    x, w, b = cache
    x, rows, w = _rows(x, w, "affine_backward")
    dx, dwt, db = convcore.linear_backward(dout, rows, w.T)
    if b is not None:
        db = db.astype(np.result_type(db, b), copy=False)
    return dx.reshape(x.shape), dwt.T, db


def affine_relu_forward(x, w, b):
    """:func:`affine_forward` then ReLU -> ``(out, cache)``."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Gradients of :func:`affine_relu_forward` -> ``(dx, dw, db)``."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def conv_relu_forward(x, w, b, conv_param):
    """Convolution then ReLU -> ``(out, cache)``."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """Gradients of :func:`conv_relu_forward` -> ``(dx, dw, db)``."""
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """Convolution, ReLU, then max pooling -> ``(out, cache)``."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """Gradients of :func:`conv_relu_pool_forward` -> ``(dx, dw, db)``."""
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    return conv_backward_fast(relu_backward(ds, relu_cache), conv_cache)


def softmax_loss(x, y):
    """Mean softmax cross-entropy of scores x ``(N, C)`` against labels y
    ``(N,)`` -> ``(loss, dx)``."""
    return (float(convcore.cross_entropy(x, y)),
            convcore.cross_entropy_backward(x, y))
