"""Stateless ops, NumPy in and NumPy out, named and argued like
``torch.nn.functional``.

Every user-facing check happens here, before any kernel runs; the Cython
drivers below trust what they are given. Inputs may have any strides and
any real dtype: the computation runs in ``np.result_type`` of the inputs
(float16 -> float32, integers -> float64) and outputs are new C-contiguous
arrays of that dtype.
"""
import numpy as np

from convcore import _conv
from convcore._params import (as_array, compute_dtype, conv_geometry, memoized,
                              shape_arg)

from convcore._cnn_ops import *  # noqa: F401,F403  (the rest of a CNN)
from convcore._cnn_ops import __all__ as _cnn_ops

__all__ = _cnn_ops + [
    "conv1d",
    "conv1d_backward",
    "conv1d_grad_input",
    "conv1d_grad_weight",
    "conv2d",
    "conv2d_backward",
    "conv2d_grad_input",
    "conv2d_grad_weight",
]

_KERNEL_DIMS = {1: "K", 2: "KH, KW"}
_SPATIAL_DIMS = {1: "L", 2: "H, W"}


class _Conv:
    """One validated convolution, viewed as 2-D (conv1d gets H = 1); built
    through ``memoized`` so a repeated call skips the validation."""

    __slots__ = ("fn", "nd", "unbatched", "x_shape", "w_shape", "out_shape",
                 "args", "dtype")

    def __init__(self, fn, nd, x_shape, w_shape, stride, padding, dilation,
                 groups, dtype, check_size=True):
        self.fn, self.nd, self.dtype = fn, nd, dtype
        if len(w_shape) != nd + 2:
            raise ValueError(
                f"{fn}: weight must be {nd + 2}-D (OC, C/groups, "
                f"{_KERNEL_DIMS[nd]}), got shape {tuple(w_shape)}"
            )
        if len(x_shape) == nd + 1:
            self.unbatched = True
            x_shape = (1,) + tuple(x_shape)
        elif len(x_shape) == nd + 2:
            self.unbatched = False
            x_shape = tuple(x_shape)
        else:
            raise ValueError(
                f"{fn}: input must be {nd + 2}-D (N, C, {_SPATIAL_DIMS[nd]}) or "
                f"{nd + 1}-D (C, {_SPATIAL_DIMS[nd]}), got shape {tuple(x_shape)}"
            )
        w_shape = tuple(w_shape)
        out, st, pad, dil, groups = conv_geometry(
            fn, x_shape, w_shape, stride, padding, dilation, groups, nd,
            shown_shape=x_shape[1:] if self.unbatched else x_shape,
            check_size=check_size)
        N, C, OC = x_shape[0], x_shape[1], w_shape[0]
        if nd == 1:
            x_shape = (N, C, 1) + x_shape[2:]
            w_shape = w_shape[:2] + (1,) + w_shape[2:]
            out, st, pad, dil = (1,) + out, (1,) + st, (0,) + pad, (1,) + dil
        self.x_shape, self.w_shape = x_shape, w_shape
        self.out_shape = (N, OC) + out
        self.args = (st[0], st[1], pad[0], pad[1], dil[0], dil[1], groups)

    def user_shape(self, shape4, batch=True):
        """A 4-D internal shape as the caller sees it: 1-D drops H; an
        unbatched call drops N when `batch` (not for weights)."""
        if self.nd == 1:
            shape4 = shape4[:2] + shape4[3:]
        return shape4[1:] if batch and self.unbatched else shape4

    def prep(self, a, shape4):
        """C-contiguous array of the computed dtype, viewed as 4-D."""
        return np.ascontiguousarray(a, dtype=self.dtype).reshape(shape4)

    def check_grad_output(self, go):
        expected = self.user_shape(self.out_shape)
        if go.shape != expected:
            raise ValueError(
                f"{self.fn}: grad_output has shape {go.shape}, expected "
                f"{expected} (the output shape for input "
                f"{self.user_shape(self.x_shape)} and weight "
                f"{self.user_shape(self.w_shape, batch=False)})"
            )


def _forward(fn, nd, input, weight, bias, stride, padding, dilation, groups,
             packed=None):
    x = as_array(input, "input", fn)
    w = as_array(weight, "weight", fn)
    b = None if bias is None else as_array(bias, "bias", fn)
    dt = compute_dtype(fn, input=x, weight=w, bias=b)
    cv = memoized(_Conv, fn, nd, x.shape, w.shape, stride, padding, dilation,
                  groups, dt)
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(
            f"{fn}: bias must have shape ({w.shape[0]},) (one per output "
            f"channel of weight {w.shape}), got {b.shape}"
        )
    out = np.empty(cv.out_shape, dtype=dt)
    if out.size:
        _conv.conv2d_fwd(cv.prep(x, cv.x_shape), cv.prep(w, cv.w_shape),
                         None if b is None else np.ascontiguousarray(b, dtype=dt),
                         out, *cv.args, packed)
    return out.reshape(cv.user_shape(cv.out_shape))


def _grad_input(cv, go, w, packed=None):
    gin = (np.empty if go.size else np.zeros)(cv.x_shape, dtype=cv.dtype)
    if gin.size and go.size:
        _conv.conv2d_bwd_data(cv.prep(go, cv.out_shape), cv.prep(w, cv.w_shape),
                              gin, *cv.args, packed)
    return gin.reshape(cv.user_shape(cv.x_shape))


def _grad_weight(cv, go, x):
    if go.size == 0:
        gw = np.zeros(cv.w_shape, dtype=cv.dtype)
    else:
        gw = _conv.conv2d_bwd_weights(cv.prep(go, cv.out_shape),
                                      cv.prep(x, cv.x_shape), cv.w_shape,
                                      *cv.args)
    return gw.reshape(cv.user_shape(cv.w_shape, batch=False))


def _backward(fn, nd, grad_output, input, weight, stride, padding, dilation,
              groups, packed=None):
    go = as_array(grad_output, "grad_output", fn)
    x = as_array(input, "input", fn)
    w = as_array(weight, "weight", fn)
    dt = compute_dtype(fn, grad_output=go, input=x, weight=w)
    cv = memoized(_Conv, fn, nd, x.shape, w.shape, stride, padding, dilation,
                  groups, dt)
    cv.check_grad_output(go)
    go = cv.prep(go, cv.out_shape)  # one contiguous copy serves all three
    gb = go.sum(axis=(0, 2, 3))
    return _grad_input(cv, go, w, packed), _grad_weight(cv, go, x), gb


def _grad_input_only(fn, nd, grad_output, weight, input_shape, stride, padding,
                     dilation, groups):
    go = as_array(grad_output, "grad_output", fn)
    w = as_array(weight, "weight", fn)
    shape = shape_arg(input_shape, "input_shape", fn)
    dt = compute_dtype(fn, grad_output=go, weight=w)
    cv = memoized(_Conv, fn, nd, shape, w.shape, stride, padding, dilation,
                  groups, dt)
    cv.check_grad_output(go)
    return _grad_input(cv, go, w)


def _grad_weight_only(fn, nd, grad_output, input, weight_shape, stride, padding,
                      dilation, groups):
    go = as_array(grad_output, "grad_output", fn)
    x = as_array(input, "input", fn)
    shape = shape_arg(weight_shape, "weight_shape", fn)
    dt = compute_dtype(fn, grad_output=go, input=x)
    cv = memoized(_Conv, fn, nd, x.shape, shape, stride, padding, dilation,
                  groups, dt)
    cv.check_grad_output(go)
    return _grad_weight(cv, go, x).reshape(shape)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    input : array_like, (N, C, H, W) or unbatched (C, H, W)
    weight : array_like, (OC, C/groups, KH, KW)
    bias : array_like, (OC,), optional
    stride, dilation : int or (int, int), >= 1
    padding : int, (int, int), 'valid' or 'same'
        Zero padding on both sides; 'same' (stride 1 only) keeps H, W,
        putting the odd extra row/column at the bottom/right.
    groups : int
        C and OC are split into `groups` independent convolutions;
        ``groups == C`` is depthwise.

    Returns
    -------
    ndarray, (N, OC, OH, OW) or (OC, OH, OW)
        ``OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1``, likewise OW; dtype is
        the result type of the inputs (float32 or float64).

    Examples
    --------
    >>> import numpy as np, convcore
    >>> x = np.ones((1, 3, 5, 5), np.float32)
    >>> w = np.ones((2, 3, 3, 3), np.float32)
    >>> convcore.conv2d(x, w, padding=1)[0, 0]
    array([[12., 18., 18., 18., 12.],
           [18., 27., 27., 27., 18.],
           [18., 27., 27., 27., 18.],
           [18., 27., 27., 27., 18.],
           [12., 18., 18., 18., 12.]], dtype=float32)
    """
    return _forward("conv2d", 2, input, weight, bias, stride, padding,
                    dilation, groups)


def conv2d_backward(grad_output, input, weight, stride=1, padding=0,
                    dilation=1, groups=1):
    """Gradients of :func:`conv2d` with respect to input, weight and bias.

    Parameters
    ----------
    grad_output : array_like, (N, OC, OH, OW) or (OC, OH, OW)
        Gradient of the loss with respect to the output of ``conv2d``.
    input, weight, stride, padding, dilation, groups
        As given to :func:`conv2d`.

    Returns
    -------
    grad_input : ndarray, shape of `input`
    grad_weight : ndarray, shape of `weight`
    grad_bias : ndarray, (OC,)

    Examples
    --------
    >>> import numpy as np, convcore
    >>> x = np.ones((1, 1, 3, 3)); w = np.ones((1, 1, 2, 2))
    >>> gx, gw, gb = convcore.conv2d_backward(np.ones((1, 1, 2, 2)), x, w)
    >>> gx[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> gw[0, 0], gb
    (array([[4., 4.],
           [4., 4.]]), array([4.]))
    """
    return _backward("conv2d_backward", 2, grad_output, input, weight, stride,
                     padding, dilation, groups)


def conv2d_grad_input(grad_output, weight, input_shape, stride=1, padding=0,
                      dilation=1, groups=1):
    """Gradient of :func:`conv2d` with respect to its input only
    (``torch.nn.grad.conv2d_input``).

    Parameters
    ----------
    grad_output : array_like, (N, OC, OH, OW) or (OC, OH, OW)
    weight : array_like, (OC, C/groups, KH, KW)
    input_shape : sequence of int, (N, C, H, W) or (C, H, W)

    Returns
    -------
    ndarray of shape `input_shape`

    Examples
    --------
    >>> import numpy as np, convcore
    >>> g = convcore.conv2d_grad_input(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), (1, 1, 3, 3))
    >>> g[0, 0, 1]
    array([2., 4., 2.])
    """
    return _grad_input_only("conv2d_grad_input", 2, grad_output, weight,
                            input_shape, stride, padding, dilation, groups)


def conv2d_grad_weight(grad_output, input, weight_shape, stride=1, padding=0,
                       dilation=1, groups=1):
    """Gradient of :func:`conv2d` with respect to its weight only
    (``torch.nn.grad.conv2d_weight``).

    Parameters
    ----------
    grad_output : array_like, (N, OC, OH, OW) or (OC, OH, OW)
    input : array_like, (N, C, H, W) or (C, H, W)
    weight_shape : sequence of int, (OC, C/groups, KH, KW)

    Returns
    -------
    ndarray of shape `weight_shape`

    Examples
    --------
    >>> import numpy as np, convcore
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> convcore.conv2d_grad_weight(np.ones((1, 1, 2, 2)), x, (1, 1, 2, 2))[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    return _grad_weight_only("conv2d_grad_weight", 2, grad_output, input,
                             weight_shape, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation), as ``torch.nn.functional.conv1d``.

    Served by the 2-D kernels with H = 1.

    Parameters
    ----------
    input : array_like, (N, C, L) or unbatched (C, L)
    weight : array_like, (OC, C/groups, K)
    bias : array_like, (OC,), optional
    stride, padding, dilation, groups
        As in :func:`conv2d`, each an int (or a 1-tuple); padding may be
        'valid' or 'same'.

    Returns
    -------
    ndarray, (N, OC, OL) or (OC, OL), ``OL = (L + 2P - D(K-1) - 1)//S + 1``

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.conv1d(np.arange(5.0).reshape(1, 1, 5), np.ones((1, 1, 3)))
    array([[[3., 6., 9.]]])
    """
    return _forward("conv1d", 1, input, weight, bias, stride, padding,
                    dilation, groups)


def conv1d_backward(grad_output, input, weight, stride=1, padding=0,
                    dilation=1, groups=1):
    """Gradients of :func:`conv1d`: ``(grad_input, grad_weight, grad_bias)``.

    Shapes as :func:`conv2d_backward` with one spatial dimension.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> gx, gw, gb = convcore.conv1d_backward(np.ones((1, 1, 3)), np.ones((1, 1, 5)), np.ones((1, 1, 3)))
    >>> gx[0, 0], gw[0, 0], gb
    (array([1., 2., 3., 2., 1.]), array([3., 3., 3.]), array([3.]))
    """
    return _backward("conv1d_backward", 1, grad_output, input, weight, stride,
                     padding, dilation, groups)


def conv1d_grad_input(grad_output, weight, input_shape, stride=1, padding=0,
                      dilation=1, groups=1):
    """Gradient of :func:`conv1d` with respect to its input only.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.conv1d_grad_input(np.ones((1, 1, 3)), np.ones((1, 1, 3)), (1, 1, 5))[0, 0]
    array([1., 2., 3., 2., 1.])
    """
    return _grad_input_only("conv1d_grad_input", 1, grad_output, weight,
                            input_shape, stride, padding, dilation, groups)


def conv1d_grad_weight(grad_output, input, weight_shape, stride=1, padding=0,
                       dilation=1, groups=1):
    """Gradient of :func:`conv1d` with respect to its weight only.

    Examples
    --------
    >>> import numpy as np, convcore
    >>> convcore.conv1d_grad_weight(np.ones((1, 1, 3)), np.arange(5.0).reshape(1, 1, 5), (1, 1, 3))[0, 0]
    array([3., 6., 9.])
    """
    return _grad_weight_only("conv1d_grad_weight", 1, grad_output, input,
                             weight_shape, stride, padding, dilation, groups)
