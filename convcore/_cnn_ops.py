"""The rest of a classic CNN beside the convolution: pooling, activations,
fully connected layers and the loss, each with its gradient, NumPy in and
NumPy out, named and argued like ``torch.nn.functional``.

As for the convolution, every user-facing check happens here, before any
kernel runs; computation is in the input's floating dtype (float16 ->
float32, integers -> float64) and results are new arrays. Re-exported by
``convcore.functional`` and ``convcore``.
"""
import math
import sys

import numpy as np

from convcore import _act, _linear, _pool
from convcore._params import (INDEX_LIMIT, as_array, check_elements, compute_dtype,
                              memoized, shape_arg, tuple_arg)

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "avg_pool1d",
    "avg_pool1d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "flatten",
    "leaky_relu",
    "leaky_relu_backward",
    "linear",
    "linear_backward",
    "log_softmax",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "tanh",
    "tanh_backward",
]

_SPATIAL = {1: "L", 2: "H, W"}


# ----------------------------------------------------------------- pooling --

class _PoolCall:
    """One validated pooling call, viewed as planes (N*C, H, W); 1-D pooling
    gets H = 1. Built through :func:`_pool_call`, which reuses it for a
    repeated call, with its window tables (read-only) made once."""

    __slots__ = ("fn", "nd", "lead", "H", "W", "OH", "OW", "k", "s", "p", "d",
                 "_tables")

    def __init__(self, fn, nd, shape, kernel_size, stride, padding, dilation,
                 ceil_mode):
        self.fn, self.nd = fn, nd
        if len(shape) not in (nd + 1, nd + 2):
            raise ValueError(
                f"{fn}: input must be {nd + 2}-D (N, C, {_SPATIAL[nd]}) or "
                f"{nd + 1}-D (C, {_SPATIAL[nd]}), got shape {tuple(shape)}")
        self.lead = tuple(shape[:-nd])
        spatial = tuple(shape[-nd:])
        k = tuple_arg(kernel_size, "kernel_size", fn, nd)
        s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) \
            else tuple_arg(stride, "stride", fn, nd)
        p = tuple_arg(padding, "padding", fn, nd)
        d = tuple_arg(dilation, "dilation", fn, nd)
        if min(k) < 1:
            raise ValueError(f"{fn}: kernel_size must be >= 1, got {k}")
        if min(s) < 1:
            raise ValueError(f"{fn}: stride must be >= 1, got {s}")
        if min(d) < 1:
            raise ValueError(f"{fn}: dilation must be >= 1, got {d}")
        if min(p) < 0:
            raise ValueError(f"{fn}: padding must be >= 0, got {p}")
        if any(pi > ki // 2 for pi, ki in zip(p, k)):
            raise ValueError(
                f"{fn}: padding {p} must be at most half the kernel size {k}")
        out = []
        for h, ki, si, pi, di in zip(spatial, k, s, p, d):
            span = di * (ki - 1) + 1
            o = (h + 2 * pi - span + (si - 1 if ceil_mode else 0)) // si + 1
            if ceil_mode and (o - 1) * si >= h + pi:
                o -= 1  # PyTorch: no window may start in the right padding
            if o < 1 or h + 2 * pi < span:
                raise ValueError(
                    f"{fn}: kernel {k} with dilation {d} (span {span}) is larger "
                    f"than the padded input (input shape {tuple(shape)}, padding "
                    f"{p}); output size would be < 1")
            out.append(o)
        taps = math.prod(k)
        if taps > INDEX_LIMIT:  # window taps are numbered in 32 bits
            raise ValueError(
                f"{fn}: a kernel_size {k} window has {taps} cells, more than "
                f"2**31 - 1")
        check_elements(fn, "output", self.lead + tuple(out))
        # one window along a dimension: its stride plays no part (taken as
        # 1, so a huge one never reaches the kernels' sizes)
        s = tuple(1 if o == 1 else si for o, si in zip(out, s))
        if nd == 1:
            spatial, out = (1,) + spatial, [1] + out
            k, s, p, d = (1,) + k, (1,) + s, (0,) + p, (1,) + d
        self.H, self.W = spatial
        self.OH, self.OW = out
        self.k, self.s, self.p, self.d = k, s, p, d
        self._tables = {}

    @property
    def out_shape(self):
        return self.lead + ((self.OW,) if self.nd == 1 else (self.OH, self.OW))

    @property
    def in_shape(self):
        return self.lead + ((self.W,) if self.nd == 1 else (self.H, self.W))

    def planes(self, a, dtype, out=False):
        """a as C-contiguous planes of the input (or, if out, output) size."""
        rows, cols = (self.OH, self.OW) if out else (self.H, self.W)
        return np.ascontiguousarray(a, dtype=dtype).reshape(-1, rows, cols)

    def check_grad(self, go):
        if go.shape != self.out_shape:
            raise ValueError(
                f"{self.fn}: grad_output has shape {go.shape}, expected "
                f"{self.out_shape} (the output for input shape {self.in_shape})")

    def _table(self, key, make):
        t = self._tables.get(key)
        if t is None:
            t = make()
            for a in t:
                a.setflags(write=False)
            self._tables[key] = t
        return t

    def first_cells(self):
        return self._table("cells", self._first_cells)

    def divisors(self, count_include_pad, dtype):
        """Per-row and per-column divisors of average pooling (separable)."""
        cip = bool(count_include_pad)
        return self._table((cip, dtype), lambda: self._divisors(cip, dtype))

    def _first_cells(self):
        """Each window's first in-bounds row and column (int64), the index
        PyTorch reports for a window holding only -inf; -1 where a window
        (possible with dilation) covers no input cell at all: its index is
        then -1 and its gradient goes nowhere."""
        res = []
        for o, k, s, p, d in ((self.OH, self.k[0], self.s[0], self.p[0], self.d[0]),
                              (self.OW, self.k[1], self.s[1], self.p[1], self.d[1])):
            start = np.arange(o, dtype=np.int64) * s - p
            neg = start < 0
            start[neg] += -(start[neg] // d) * d  # up to the first cell >= 0
            start[start >= (self.H if len(res) == 0 else self.W)] = -1  # none
            res.append(start)
        return res

    def _divisors(self, count_include_pad, dtype):
        res = []
        for o, h, k, s, p in ((self.OH, self.H, self.k[0], self.s[0], self.p[0]),
                              (self.OW, self.W, self.k[1], self.s[1], self.p[1])):
            start = np.arange(o) * s - p
            end = np.minimum(start + k, h + p)
            if count_include_pad:
                div = end - start
            else:
                div = np.minimum(end, h) - np.maximum(start, 0)
            res.append(div.astype(dtype))
        return res


def _pool_call(fn, nd, shape, kernel_size, stride, padding, dilation,
               ceil_mode):
    # ceil_mode as 0/1: a bool is not a plain argument for memoized
    return memoized(_PoolCall, fn, nd, shape, kernel_size, stride, padding,
                    dilation, int(bool(ceil_mode)))


def _float_input(fn, name, a):
    a = as_array(a, name, fn)
    return a, compute_dtype(fn, **{name: a})


def _max_pool(fn, nd, input, kernel_size, stride, padding, dilation,
              ceil_mode, return_indices):
    x, dt = _float_input(fn, "input", input)
    pc = _pool_call(fn, nd, x.shape, kernel_size, stride, padding, dilation,
                   ceil_mode)
    xp = pc.planes(x, dt)
    out = np.empty((xp.shape[0], pc.OH, pc.OW), dtype=dt)
    idx = np.empty(out.shape, dtype=np.int64) if return_indices else None
    _pool.max_pool2d_fwd(xp, out, idx, *pc.first_cells(), pc.k, pc.s, pc.p, pc.d)
    out = out.reshape(pc.out_shape)
    return (out, idx.reshape(pc.out_shape)) if return_indices else out


def _max_pool_backward(fn, nd, grad_output, input, kernel_size, stride,
                       padding, dilation, ceil_mode, indices):
    go = as_array(grad_output, "grad_output", fn)
    x = as_array(input, "input", fn)
    dt = compute_dtype(fn, grad_output=go, input=x)
    pc = _pool_call(fn, nd, x.shape, kernel_size, stride, padding, dilation,
                   ceil_mode)
    pc.check_grad(go)
    if indices is None:  # recompute the argmax
        idx = np.empty((int(np.prod(pc.lead)), pc.OH, pc.OW), dtype=np.int64)
        _pool.max_pool2d_fwd(pc.planes(x, dt), np.empty(idx.shape, dtype=dt),
                             idx, *pc.first_cells(), pc.k, pc.s, pc.p, pc.d)
    else:
        idx = as_array(indices, "indices", fn)
        if idx.shape != pc.out_shape:
            raise ValueError(
                f"{fn}: indices have shape {idx.shape}, expected {pc.out_shape}")
        if idx.dtype.kind not in "iu":
            raise TypeError(f"{fn}: indices must be integers, got {idx.dtype}")
        idx = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1, pc.OH, pc.OW)
    gin = np.zeros((idx.shape[0], pc.H, pc.W), dtype=dt)
    # the kernel checks every index as it goes (no extra pass over them)
    if _pool.max_pool2d_bwd(pc.planes(go, dt, out=True), idx, gin):
        raise ValueError(
            f"{fn}: indices must lie in [0, {pc.H * pc.W}) (positions in an "
            f"input plane of {pc.H}x{pc.W}) or be -1; got values in "
            f"[{idx.min()}, {idx.max()}]")
    return gin.reshape(pc.in_shape)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    """2-D max pooling over each feature map, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    input : array_like, (N, C, H, W) or (C, H, W)
    kernel_size, stride, padding, dilation : int or (int, int)
        stride defaults to kernel_size; padding (implicit -inf) is at most
        half the kernel.
    ceil_mode : bool
        Round the output size up; a window that would start in the right
        padding is dropped (PyTorch's rule).
    return_indices : bool
        Also return the argmax of each window as ``h * W + w`` in its input
        plane (int64). Ties go to the first maximum in row-major window
        order; NaN propagates.

    Returns
    -------
    ndarray, (N, C, OH, OW) or (C, OH, OW), or (output, indices)

    Examples
    --------
    >>> import numpy as np, convcore
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> convcore.max_pool2d(x, 2, return_indices=True)
    (array([[[[ 5.,  7.],
             [13., 15.]]]]), array([[[[ 5,  7],
             [13, 15]]]]))
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding,
                     dilation, ceil_mode, return_indices)


def max_pool2d_backward(grad_output, input, kernel_size, stride=None,
                        padding=0, dilation=1, ceil_mode=False, indices=None):
    """Gradient of :func:`max_pool2d` with respect to its input.

    Each output's gradient goes to its window's argmax: the given `indices`
    (from ``max_pool2d(..., return_indices=True)``), or recomputed.

    Returns
    -------
    ndarray, shape of `input`

    Examples
    --------
    >>> import numpy as np, convcore
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> convcore.max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2)[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 1.],
           [0., 0., 0., 0.],
           [0., 1., 0., 1.]])
    """
    return _max_pool_backward("max_pool2d_backward", 2, grad_output, input,
                              kernel_size, stride, padding, dilation, ceil_mode,
                              indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    """1-D max pooling on (N, C, L) or (C, L), as ``torch.nn.functional.max_pool1d``;
    indices are positions along L.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.max_pool1d(np.array([[[1.0, 3.0, 2.0, 0.0]]]), 2)
    array([[[3., 2.]]])
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding,
                     dilation, ceil_mode, return_indices)


def max_pool1d_backward(grad_output, input, kernel_size, stride=None,
                        padding=0, dilation=1, ceil_mode=False, indices=None):
    """Gradient of :func:`max_pool1d` with respect to its input.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.max_pool1d_backward(np.ones((1, 1, 2)), np.array([[[1.0, 3.0, 2.0, 0.0]]]), 2)
    array([[[0., 1., 1., 0.]]])
    """
    return _max_pool_backward("max_pool1d_backward", 1, grad_output, input,
                              kernel_size, stride, padding, dilation, ceil_mode,
                              indices)


def _avg_pool(fn, nd, input, kernel_size, stride, padding, ceil_mode,
              count_include_pad):
    x, dt = _float_input(fn, "input", input)
    pc = _pool_call(fn, nd, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    xp = pc.planes(x, dt)
    out = np.empty((xp.shape[0], pc.OH, pc.OW), dtype=dt)
    dh, dw = pc.divisors(count_include_pad, dt)
    _pool.avg_pool2d_fwd(xp, out, dh, dw, pc.k, pc.s, pc.p)
    return out.reshape(pc.out_shape)


def _avg_pool_backward(fn, nd, grad_output, input_shape, kernel_size, stride,
                       padding, ceil_mode, count_include_pad):
    go = as_array(grad_output, "grad_output", fn)
    dt = compute_dtype(fn, grad_output=go)
    shape = shape_arg(input_shape, "input_shape", fn)
    pc = _pool_call(fn, nd, shape, kernel_size, stride, padding, 1, ceil_mode)
    pc.check_grad(go)
    gp = pc.planes(go, dt, out=True)
    dh, dw = pc.divisors(count_include_pad, dt)
    if pc.s == (1, 1):
        # stride 1: each input cell's gradient is the sum of the scaled
        # output gradient over a KH x KW window (padded by K - 1 - P), i.e.
        # the forward's one-pass window sums with unit divisors
        gin = np.empty((gp.shape[0], pc.H, pc.W), dtype=dt)
        pad = tuple(k - 1 - p for k, p in zip(pc.k, pc.p))
        if (dh == dh[0]).all() and (dw == dw[0]).all():  # one divisor
            _pool.avg_pool2d_fwd(gp, gin, np.full(pc.H, dh[0], dt),
                                 np.full(pc.W, dw[0], dt), pc.k, pc.s, pad)
        else:
            _pool.avg_pool2d_fwd(gp / (dh[:, None] * dw[None, :]), gin,
                                 np.ones(pc.H, dt), np.ones(pc.W, dt), pc.k, pc.s, pad)
        return gin.reshape(pc.in_shape)
    gin = np.zeros((gp.shape[0], pc.H, pc.W), dtype=dt)
    _pool.avg_pool2d_bwd(gp, gin, dh, dw, pc.k, pc.s, pc.p)
    return gin.reshape(pc.in_shape)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """2-D average pooling over each feature map, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    input : array_like, (N, C, H, W) or (C, H, W)
    kernel_size, stride, padding : int or (int, int)
        stride defaults to kernel_size; zero padding, at most half the kernel.
    ceil_mode : bool
    count_include_pad : bool
        Divide by the window size including padding (True) or by the
        number of input cells it covers (False).

    Returns
    -------
    ndarray, (N, C, OH, OW) or (C, OH, OW)

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding,
                     ceil_mode, count_include_pad)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None,
                        padding=0, ceil_mode=False, count_include_pad=True):
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.avg_pool2d_backward(np.ones((1, 1, 1, 1)), (1, 1, 2, 2), 2)[0, 0]
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    return _avg_pool_backward("avg_pool2d_backward", 2, grad_output,
                              input_shape, kernel_size, stride, padding,
                              ceil_mode, count_include_pad)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-D average pooling on (N, C, L) or (C, L), as ``torch.nn.functional.avg_pool1d``.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.avg_pool1d(np.array([[[1.0, 3.0, 2.0, 0.0]]]), 2)
    array([[[2., 1.]]])
    """
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding,
                     ceil_mode, count_include_pad)


def avg_pool1d_backward(grad_output, input_shape, kernel_size, stride=None,
                        padding=0, ceil_mode=False, count_include_pad=True):
    """Gradient of :func:`avg_pool1d` with respect to its input.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.avg_pool1d_backward(np.ones((1, 1, 2)), (1, 1, 4), 2)
    array([[[0.5, 0.5, 0.5, 0.5]]])
    """
    return _avg_pool_backward("avg_pool1d_backward", 1, grad_output,
                              input_shape, kernel_size, stride, padding,
                              ceil_mode, count_include_pad)


def _adaptive_setup(fn, shape, output_size):
    if len(shape) not in (3, 4):
        raise ValueError(
            f"{fn}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), got shape "
            f"{tuple(shape)}")
    H, W = shape[-2:]
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{fn}: output_size must be an int or a pair, got "
                             f"{output_size!r}")
        size = tuple(H if o is None and i == 0 else W if o is None else o
                     for i, o in enumerate(output_size))
    else:
        size = (output_size, output_size)
    size = tuple_arg(size, "output_size", fn, 2)
    if min(size) < 1:
        raise ValueError(f"{fn}: output_size must be >= 1, got {size}")
    if H < 1 or W < 1:
        raise ValueError(f"{fn}: input spatial size must be >= 1, got {(H, W)}")
    check_elements(fn, "output", tuple(shape[:-2]) + size)
    if size[0] * H > sys.maxsize or size[1] * W > sys.maxsize:
        raise ValueError(f"{fn}: output_size {size} for input size {(H, W)}: "
                         "window bounds would overflow 64 bits")
    return size


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling to a fixed output size, as
    ``torch.nn.functional.adaptive_avg_pool2d``; output cell i averages input
    rows ``[floor(i*H/OH), ceil((i+1)*H/OH))``, likewise columns.
    ``output_size=1`` is global average pooling.

    Parameters
    ----------
    input : array_like, (N, C, H, W) or (C, H, W)
    output_size : int or (int or None, int or None)

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.adaptive_avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 1)
    array([[[[7.5]]]])
    """
    fn = "adaptive_avg_pool2d"
    x, dt = _float_input(fn, "input", input)
    OH, OW = _adaptive_setup(fn, x.shape, output_size)
    H, W = x.shape[-2:]
    xp = np.ascontiguousarray(x, dtype=dt).reshape(-1, H, W)
    out = np.empty((xp.shape[0], OH, OW), dtype=dt)
    _pool.adaptive_avg_pool2d_fwd(xp, out)
    return out.reshape(x.shape[:-2] + (OH, OW))


def adaptive_avg_pool2d_backward(grad_output, input_shape):
    """Gradient of :func:`adaptive_avg_pool2d` with respect to its input.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.adaptive_avg_pool2d_backward(np.ones((1, 1, 1, 1)), (1, 1, 2, 2))[0, 0]
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    fn = "adaptive_avg_pool2d_backward"
    go = as_array(grad_output, "grad_output", fn)
    dt = compute_dtype(fn, grad_output=go)
    shape = shape_arg(input_shape, "input_shape", fn)
    OH, OW = _adaptive_setup(fn, shape, (go.shape[-2:] if go.ndim >= 2 else 1))
    expected = tuple(shape[:-2]) + (OH, OW)
    if go.shape != expected:
        raise ValueError(f"{fn}: grad_output has shape {go.shape}, expected "
                         f"{expected} for input shape {tuple(shape)}")
    H, W = shape[-2:]
    gp = np.ascontiguousarray(go, dtype=dt).reshape(-1, OH, OW)
    gin = np.zeros((gp.shape[0], H, W), dtype=dt)
    _pool.adaptive_avg_pool2d_bwd(gp, gin)
    return gin.reshape(shape)


# ------------------------------------------------------------- activations --

def _unary(fn, x):
    x, dt = _float_input(fn, "input", x)
    xc = np.ascontiguousarray(x, dtype=dt).reshape(x.shape)  # keeps 0-d
    return xc, np.empty(xc.shape, dtype=dt), dt


def _pair(fn, grad_output, other, other_name):
    g = as_array(grad_output, "grad_output", fn)
    o = as_array(other, other_name, fn)
    dt = compute_dtype(fn, grad_output=g, **{other_name: o})
    if g.shape != o.shape:
        raise ValueError(f"{fn}: grad_output has shape {g.shape} but {other_name} "
                         f"has shape {o.shape}; they must match")
    gc = np.ascontiguousarray(g, dtype=dt).reshape(g.shape)  # keeps 0-d
    oc = np.ascontiguousarray(o, dtype=dt).reshape(o.shape)
    return gc, oc, np.empty(gc.shape, dtype=dt)


def _slope(fn, negative_slope):
    if isinstance(negative_slope, (bool, np.bool_)) or not isinstance(
            negative_slope, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: negative_slope must be a real number, got "
                        f"{negative_slope!r}")
    return float(negative_slope)


def relu(x):
    """ReLU, ``max(x, 0)`` elementwise (NaN kept), any shape.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    xc, y, _ = _unary("relu", x)
    _act.relu(xc.reshape(-1), y.reshape(-1))
    return y


def relu_backward(grad_output, input):
    """Gradient of :func:`relu`: grad_output where input > 0, else 0.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.relu_backward(np.ones(3), np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 1.])
    """
    g, x, dx = _pair("relu_backward", grad_output, input, "input")
    _act.leaky_relu_bwd(g.reshape(-1), x.reshape(-1), 0.0, dx.reshape(-1))
    return dx


def leaky_relu(x, negative_slope=0.01):
    """Leaky ReLU, ``x if x > 0 else negative_slope * x``, any shape.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.leaky_relu(np.array([-1.0, 2.0]), 0.1)
    array([-0.1,  2. ])
    """
    slope = _slope("leaky_relu", negative_slope)
    xc, y, _ = _unary("leaky_relu", x)
    _act.leaky_relu(xc.reshape(-1), slope, y.reshape(-1))
    return y


def leaky_relu_backward(grad_output, input, negative_slope=0.01):
    """Gradient of :func:`leaky_relu`: grad_output where input > 0, else
    negative_slope * grad_output.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.leaky_relu_backward(np.ones(2), np.array([-1.0, 2.0]), 0.1)
    array([0.1, 1. ])
    """
    slope = _slope("leaky_relu_backward", negative_slope)
    g, x, dx = _pair("leaky_relu_backward", grad_output, input, "input")
    _act.leaky_relu_bwd(g.reshape(-1), x.reshape(-1), slope, dx.reshape(-1))
    return dx


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, any shape; never overflows
    (computed from ``exp(-|x|)``), keeps the relative precision of small
    outputs down to the smallest normal number (below it, 0).

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    xc, y, _ = _unary("sigmoid", x)
    _act.sigmoid(xc.reshape(-1), y.reshape(-1))
    return y


def sigmoid_backward(grad_output, output):
    """Gradient of :func:`sigmoid` from its output y: ``grad_output * y * (1 - y)``.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.sigmoid_backward(np.ones(1), np.array([0.5]))
    array([0.25])
    """
    g, y, dx = _pair("sigmoid_backward", grad_output, output, "output")
    _act.sigmoid_bwd(g.reshape(-1), y.reshape(-1), dx.reshape(-1))
    return dx


def tanh(x):
    """Hyperbolic tangent, any shape.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.tanh(np.array([0.0]))
    array([0.])
    """
    xc, y, _ = _unary("tanh", x)
    return np.tanh(xc, out=y)


def tanh_backward(grad_output, output):
    """Gradient of :func:`tanh` from its output y: ``grad_output * (1 - y**2)``.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.tanh_backward(np.ones(1), np.array([0.5]))
    array([0.75])
    """
    g, y, dx = _pair("tanh_backward", grad_output, output, "output")
    _act.tanh_bwd(g.reshape(-1), y.reshape(-1), dx.reshape(-1))
    return dx


# ------------------------------------------------- fully connected and loss --

def linear(input, weight, bias=None):
    """Fully connected layer ``input @ weight.T + bias``, as ``torch.nn.functional.linear``.

    Parameters
    ----------
    input : array_like, (..., in_features)
    weight : array_like, (out_features, in_features)
    bias : array_like, (out_features,), optional

    Returns
    -------
    ndarray, (..., out_features)

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.linear(np.ones((2, 3)), np.ones((4, 3)), np.arange(4.0))
    array([[3., 4., 5., 6.],
           [3., 4., 5., 6.]])
    """
    fn = "linear"
    x = as_array(input, "input", fn)
    w = as_array(weight, "weight", fn)
    b = None if bias is None else as_array(bias, "bias", fn)
    dt = compute_dtype(fn, input=x, weight=w, bias=b)
    _check_linear(fn, x, w)
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"{fn}: bias must have shape ({w.shape[0]},), got {b.shape}")
    x2 = x.astype(dt, copy=False).reshape(math.prod(x.shape[:-1]), w.shape[1])
    y = np.empty((x2.shape[0], w.shape[0]), dtype=dt)
    _linear.matmul(x2, w.astype(dt, copy=False).T, y)
    if b is not None:
        y += b.astype(dt, copy=False)
    return y.reshape(x.shape[:-1] + (w.shape[0],))


def _check_linear(fn, x, w):
    if w.ndim != 2:
        raise ValueError(f"{fn}: weight must be 2-D (out_features, in_features), "
                         f"got shape {w.shape}")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{fn}: input's last dimension must be in_features = "
                         f"{w.shape[1]} (weight shape {w.shape}), got input shape "
                         f"{x.shape}")


def linear_backward(grad_output, input, weight):
    """Gradients of :func:`linear`: ``(grad_input, grad_weight, grad_bias)``.

    Returns
    -------
    grad_input : (..., in_features)
    grad_weight : (out_features, in_features)
    grad_bias : (out_features,)

    Examples
    --------
    >>> import numpy as np, convcore
    >>> gx, gw, gb = convcore.linear_backward(np.ones((2, 4)), np.ones((2, 3)), np.ones((4, 3)))
    >>> gx.shape, gw.shape, gb
    ((2, 3), (4, 3), array([2., 2., 2., 2.]))
    """
    fn = "linear_backward"
    g = as_array(grad_output, "grad_output", fn)
    x = as_array(input, "input", fn)
    w = as_array(weight, "weight", fn)
    dt = compute_dtype(fn, grad_output=g, input=x, weight=w)
    _check_linear(fn, x, w)
    if g.shape != x.shape[:-1] + (w.shape[0],):
        raise ValueError(f"{fn}: grad_output has shape {g.shape}, expected "
                         f"{x.shape[:-1] + (w.shape[0],)}")
    rows = math.prod(x.shape[:-1])
    g2 = g.astype(dt, copy=False).reshape(rows, w.shape[0])
    x2 = x.astype(dt, copy=False).reshape(rows, w.shape[1])
    gx = np.empty(x2.shape, dtype=dt)
    _linear.matmul(g2, w.astype(dt, copy=False), gx)
    gw = np.empty(w.shape, dtype=dt)
    _linear.matmul(g2.T, x2, gw)
    return gx.reshape(x.shape), gw, g2.sum(axis=0)


def flatten(x, start_dim=1):
    """Flatten dimensions start_dim.. into one, as ``torch.flatten(x, start_dim)``
    (a view when the layout allows).

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.flatten(np.zeros((2, 3, 4, 5))).shape
    (2, 60)
    """
    a = as_array(x, "x", "flatten")
    nd = max(a.ndim, 1)
    if isinstance(start_dim, bool) or not isinstance(start_dim, (int, np.integer)):
        raise TypeError(f"flatten: start_dim must be an int, got "
                        f"{type(start_dim).__name__} {start_dim!r}")
    sd = int(start_dim)
    if not -nd <= sd < nd:
        raise ValueError(f"flatten: start_dim must be an int in [{-nd}, {nd}), "
                         f"got {start_dim!r} for shape {a.shape}")
    sd %= nd
    if a.ndim == 0:
        return a.reshape(1)
    return a.reshape(a.shape[:sd] + (int(np.prod(a.shape[sd:])),))


def _axis(fn, a, axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{fn}: axis must be an int, got {axis!r}")
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"{fn}: axis {axis} is out of range for shape {a.shape}")
    return int(axis)


def softmax(x, axis=-1):
    """Softmax along `axis`, max-subtracted (no overflow).

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.softmax(np.array([0.0, 0.0]))
    array([0.5, 0.5])
    """
    a, dt = _float_input("softmax", "x", x)
    ax = _axis("softmax", a, axis)
    a = np.ascontiguousarray(a, dtype=dt)  # results are C-contiguous
    if a.size == 0:  # an empty axis (or batch): an empty result, as PyTorch
        return a.copy()
    z = a - a.max(axis=ax, keepdims=True)
    with np.errstate(under="ignore"):
        np.exp(z, out=z)
    z /= z.sum(axis=ax, keepdims=True)
    return z


def log_softmax(x, axis=-1):
    """Log-softmax along `axis` by log-sum-exp (no overflow, no log(0)).

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.log_softmax(np.array([0.0, 0.0]))
    array([-0.69314718, -0.69314718])
    """
    a, dt = _float_input("log_softmax", "x", x)
    ax = _axis("log_softmax", a, axis)
    a = np.ascontiguousarray(a, dtype=dt)  # results are C-contiguous
    if a.size == 0:  # an empty axis (or batch): an empty result, as PyTorch
        return a.copy()
    z = a - a.max(axis=ax, keepdims=True)
    with np.errstate(under="ignore"):
        z -= np.log(np.exp(z).sum(axis=ax, keepdims=True))
    return z


def _ce_args(fn, logits, target, reduction):
    z, dt = _float_input(fn, "logits", logits)
    t = as_array(target, "target", fn)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{fn}: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")
    if z.ndim != 2:
        raise ValueError(f"{fn}: logits must be 2-D (N, C), got shape {z.shape}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: target must hold integer class indices, got dtype "
                        f"{t.dtype}")
    if t.shape != (z.shape[0],):
        raise ValueError(f"{fn}: target must have shape ({z.shape[0]},) (one class "
                         f"per row of logits {z.shape}), got {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= z.shape[1]):
        raise ValueError(f"{fn}: target classes must lie in [0, {z.shape[1]}), got "
                         f"values in [{t.min()}, {t.max()}]")
    if z.shape[0] == 0 and reduction == "mean":
        raise ValueError(f"{fn}: the mean over an empty batch is undefined")
    return z.astype(dt, copy=False), t.astype(np.intp, copy=False)


def cross_entropy(logits, target, reduction="mean"):
    """Softmax cross-entropy with integer class targets, as
    ``torch.nn.functional.cross_entropy``.

    Parameters
    ----------
    logits : array_like, (N, C)
    target : array_like of int, (N,), values in [0, C)
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    float ndarray, () for 'mean' and 'sum', (N,) for 'none'

    Examples
    --------
    >>> import numpy as np, convcore
    >>> float(convcore.cross_entropy(np.zeros((2, 4)), np.array([0, 3])))
    1.3862943611198906
    """
    z, t = _ce_args("cross_entropy", logits, target, reduction)
    ls = log_softmax(z, axis=1)
    loss = -ls[np.arange(z.shape[0]), t]
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def cross_entropy_backward(logits, target, reduction="mean"):
    """Gradient of :func:`cross_entropy` with respect to the logits:
    ``softmax(logits) - onehot(target)``, divided by N for 'mean'; for 'none'
    the gradient of each sample's own loss.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.cross_entropy_backward(np.zeros((1, 2)), np.array([1]))
    array([[ 0.5, -0.5]])
    """
    z, t = _ce_args("cross_entropy_backward", logits, target, reduction)
    g = softmax(z, axis=1)
    g[np.arange(z.shape[0]), t] -= 1
    if reduction == "mean":
        g /= z.shape[0]
    return g
