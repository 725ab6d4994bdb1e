"""Layers to stack and train, named and argued like ``torch.nn``.

Each layer's ``forward(x)`` (also ``layer(x)``) keeps what its backward
needs when the layer is in training mode; ``backward(grad_output)`` returns
the gradient with respect to the input and *adds* the parameter gradients to
each :class:`Parameter`'s ``grad`` (call ``zero_grad()`` between steps, as in
PyTorch). There is no autograd: ``Sequential.backward`` runs its layers'
backwards in reverse order.

Weights are kept read-only between updates, so a convolution packs them into
its kernels' layout once per update instead of on every call; optimizers
(:mod:`convcore.optim`) write through :meth:`Parameter.writable`, and
:meth:`Parameter.assign` replaces a value. Either marks the weight changed.

Examples
--------
>>> import numpy as np, convcore
>>> from convcore import nn
>>> rng = np.random.default_rng(0)
>>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(),
...                     nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10, rng=rng))
>>> loss_fn = nn.CrossEntropyLoss()
>>> x, y = rng.standard_normal((8, 1, 8, 8)).astype(np.float32), np.arange(8)
>>> loss = loss_fn(net(x), y)
>>> grad_x = net.backward(loss_fn.backward())
>>> grad_x.shape
(8, 1, 8, 8)
"""
import contextlib
import math
import operator

import numpy as np

from convcore import functional as F
from convcore._params import tuple_arg

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "Conv1d", "Conv2d",
    "CrossEntropyLoss", "Flatten", "LeakyReLU", "Linear", "MaxPool1d",
    "MaxPool2d", "Module", "Parameter", "ReLU", "Sequential", "Sigmoid",
    "Tanh",
]


class Parameter:
    """A trainable array and the gradient accumulated for it.

    ``data`` is read-only between updates: change it with :meth:`writable`
    (in place, as optimizers do) or :meth:`assign`; both bump ``version``,
    which tells layers their packed copy of the weight is stale. Iterating
    gives ``(data, grad)``, so ``for w, g in model.parameters()`` works.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore.nn import Parameter
    >>> p = Parameter(np.ones(3, np.float32))
    >>> with p.writable() as w:
    ...     w -= 0.5
    >>> p.data, p.version
    (array([0.5, 0.5, 0.5], dtype=float32), 1)
    """

    __slots__ = ("_data", "grad", "version")

    def __init__(self, data):
        data = np.array(data, copy=True, order="C")
        if data.dtype.kind != "f":
            raise TypeError(f"Parameter: data must be a float array, got dtype {data.dtype}")
        data.flags.writeable = False
        self._data = data
        self.grad = np.zeros_like(data)
        self.version = 0

    @property
    def data(self):
        return self._data

    @property
    def shape(self):
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self._data, dtype=dtype, copy=True)
        return np.asarray(self._data, dtype=dtype)

    def __iter__(self):
        yield self._data
        yield self.grad

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype}, version={self.version})"

    def __getstate__(self):
        return self._data, self.grad, self.version

    def __setstate__(self, state):
        data, self.grad, self.version = state
        data = np.array(data, copy=True, order="C")
        data.flags.writeable = False
        self._data = data

    @contextlib.contextmanager
    def writable(self):
        """Context in which ``data`` may be changed in place; yields it."""
        self._data.flags.writeable = True
        try:
            yield self._data
        finally:
            self._data.flags.writeable = False
            self.version += 1

    def assign(self, value):
        """Replace the value (same shape; cast to this parameter's dtype)."""
        value = np.asarray(value)
        if value.shape != self.shape:
            raise ValueError(
                f"Parameter.assign: value has shape {value.shape}, expected {self.shape}")
        with self.writable() as d:
            d[...] = value

    def zero_grad(self):
        self.grad[...] = 0


def _generator(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got {rng!r}")


def _uniform(rng, bound, shape, dtype):
    return rng.uniform(-bound, bound, shape).astype(dtype)


def _positive(name, value, cls):
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{cls}: {name} must be an int, got {value!r}") from None
    if isinstance(value, bool) or v < 1:
        raise ValueError(f"{cls}: {name} must be a positive int, got {value!r}")
    return v


class Module:
    """Base of every layer: mode, parameters, state and summary.

    Subclasses define ``forward`` and ``backward``, list their parameter
    attributes in ``_param_names`` and containers their sub-layers through
    ``children()``.
    """

    _param_names = ()
    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError

    def children(self):
        """(name, module) pairs of the direct sub-layers."""
        return ()

    def named_parameters(self, prefix=""):
        """Yield ``(name, Parameter)``; names as in PyTorch's state dicts."""
        for name in self._param_names:
            p = getattr(self, name)
            if p is not None:
                yield prefix + name, p
        for cname, child in self.children():
            yield from child.named_parameters(f"{prefix}{cname}.")

    def parameters(self):
        """Yield each :class:`Parameter` (iterable as a ``(data, grad)`` pair)."""
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode=True):
        """Training mode: forward keeps what backward needs. Returns self."""
        self.training = bool(mode)
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self):
        """Inference mode: forward keeps nothing; backward is unavailable."""
        return self.train(False)

    # caches rebuilt on demand: what forward kept for backward, and packed
    # weights. A pickled layer (sent to a worker, saved) leaves them behind.
    _cache_attrs = ("_x", "_y", "_shape", "_saved_fwd", "_packed_version")

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in self._cache_attrs:
            if name in state:
                state[name] = None
        if "_packed" in state:
            state["_packed"] = {}
        return state

    def _saved(self, what):
        if what is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward: no saved forward; call forward "
                "in training mode (model.train()) before backward")
        return what

    # -- state -----------------------------------------------------------
    def state_dict(self):
        """A dict of parameter name -> copy of its value."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Set every parameter from `state` (names and shapes must match)."""
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if missing or unexpected:
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for name, p in params.items():
            value = np.asarray(state[name])
            if value.shape != p.shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {value.shape} in the state, "
                    f"expected {p.shape}")
        for name, p in params.items():
            p.assign(state[name])

    def save(self, path):
        """Write the state dict to `path` as ``.npz``."""
        np.savez(path, **self.state_dict())

    def load(self, path):
        """Read parameters saved by :meth:`save`. Returns self."""
        with np.load(path) as f:
            self.load_state_dict({k: f[k] for k in f.files})
        return self

    # -- summary ---------------------------------------------------------
    def _layers(self, prefix=""):
        kids = list(self.children())
        if not kids:
            yield prefix or type(self).__name__, self
        for name, child in kids:
            yield from child._layers(f"{prefix}{name}." if prefix else f"{name}.")

    def summary(self, input_shape, dtype=np.float32):
        """Print and return a table of each layer's output shape and
        parameter count, for one input of `input_shape` (without batch).

        For each convolution it also shows what a fully connected layer with
        the same input and output sizes would need: the saving weight sharing
        buys.
        """
        x = np.zeros((1,) + tuple(input_shape), dtype=dtype)
        mode = self.training
        self.eval()
        rows = [("layer", "output shape", "params", "dense equivalent")]
        total = 0
        try:
            for name, layer in self._layers():
                y = layer.forward(x)
                n = sum(p.data.size for _, p in layer.named_parameters())
                total += n
                dense = ""
                if isinstance(layer, (Conv1d, Conv2d)):
                    dense = f"{x.size * y.size + y.size:,}"
                rows.append((f"{name.rstrip('.')} ({type(layer).__name__})",
                             str(y.shape[1:]), f"{n:,}", dense))
                x = y
        finally:
            self.train(mode)
        rows.append(("total", "", f"{total:,}", ""))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        text = "\n".join(lines)
        print(text)
        return text


class Sequential(Module):
    """Layers applied in order; backward runs them in reverse.

    Examples
    --------
    >>> from convcore import nn
    >>> net = nn.Sequential(nn.Linear(4, 3, rng=0), nn.Tanh())
    >>> len(net), type(net[1]).__name__
    (2, 'Tanh')
    """

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is {type(layer).__name__}, not a Module")
        self.layers = list(layers)

    def children(self):
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad_output):
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        return grad_output


class _ConvNd(Module):
    _param_names = ("weight", "bias")
    _nd = 2
    _fn = "conv2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=0, dilation=1, groups=1, bias=True, *, dtype=np.float32,
                 rng=None):
        cls = type(self).__name__
        C = _positive("in_channels", in_channels, cls)
        OC = _positive("out_channels", out_channels, cls)
        G = _positive("groups", groups, cls)
        if C % G or OC % G:
            raise ValueError(f"{cls}: in_channels ({C}) and out_channels ({OC}) "
                             f"must both be divisible by groups ({G})")
        ks = tuple_arg(kernel_size, "kernel_size", cls, self._nd)
        if min(ks) < 1:
            raise ValueError(f"{cls}: kernel_size must be positive, got {kernel_size!r}")
        self.in_channels, self.out_channels, self.kernel_size = C, OC, ks
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, G
        rng = _generator(rng)
        # PyTorch's default: kaiming_uniform_(a=sqrt(5)), i.e. U(-b, b) with
        # b = 1/sqrt(fan_in), for the weight and the bias alike
        fan_in = C // G * math.prod(ks)
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = Parameter(_uniform(rng, bound, (OC, C // G) + ks, dtype))
        self.bias = Parameter(_uniform(rng, bound, (OC,), dtype)) if bias else None
        self._packed, self._packed_version = {}, None
        self._x = None
        # check stride, padding and dilation now, not at the first call (on
        # an input large enough for any kernel)
        F._Conv(self._fn, self._nd, (1, C) + (1 << 40,) * self._nd, self.weight.shape,
                stride, padding, dilation, G, self.weight.dtype, check_size=False)

    def _packed_weights(self):
        if self._packed_version != self.weight.version:
            self._packed.clear()
            self._packed_version = self.weight.version
        return self._packed

    def _args(self):
        return self.stride, self.padding, self.dilation, self.groups

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        out = F._forward(self._fn, self._nd, x, self.weight.data, b, *self._args(),
                         packed=self._packed_weights())
        self._x = x if self.training else None
        return out

    def backward(self, grad_output):
        x = self._saved(self._x)
        gx, gw, gb = F._backward(self._fn, self._nd, grad_output, x, self.weight.data,
                                 *self._args(), packed=self._packed_weights())
        self.weight.grad += gw
        if self.bias is not None:
            self.bias.grad += gb
        return gx

    def __repr__(self):
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, dilation={self.dilation}, groups={self.groups}, "
                f"bias={self.bias is not None})")


class Conv2d(_ConvNd):
    """2-D convolution layer, as ``torch.nn.Conv2d``; see
    :func:`convcore.conv2d` for the arguments and shapes.

    Extra keyword-only arguments: ``dtype`` of the parameters (float32) and
    ``rng``, a ``numpy.random.Generator`` or seed for the initialisation
    (PyTorch's Kaiming-uniform default).

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> conv = nn.Conv2d(3, 8, 3, padding=1, rng=0)
    >>> conv(np.zeros((2, 3, 16, 16), np.float32)).shape
    (2, 8, 16, 16)
    """


class Conv1d(_ConvNd):
    """1-D convolution layer, as ``torch.nn.Conv1d`` (input ``(N, C, L)``);
    see :class:`Conv2d`.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.Conv1d(2, 4, 5, padding="same", rng=0)(np.zeros((1, 2, 50))).shape
    (1, 4, 50)
    """

    _nd = 1
    _fn = "conv1d"


class Linear(Module):
    """Fully connected layer ``y = x @ weight.T + bias``, weight
    ``(out_features, in_features)``, as ``torch.nn.Linear``.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.Linear(400, 120, rng=0)(np.zeros((5, 400), np.float32)).shape
    (5, 120)
    """

    _param_names = ("weight", "bias")

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, rng=None):
        self.in_features = _positive("in_features", in_features, "Linear")
        self.out_features = _positive("out_features", out_features, "Linear")
        rng = _generator(rng)
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(_uniform(rng, bound, (self.out_features, self.in_features), dtype))
        self.bias = Parameter(_uniform(rng, bound, (self.out_features,), dtype)) if bias else None
        self._x = None

    def forward(self, x):
        out = F.linear(x, self.weight.data, None if self.bias is None else self.bias.data)
        self._x = x if self.training else None
        return out

    def backward(self, grad_output):
        gx, gw, gb = F.linear_backward(grad_output, self._saved(self._x), self.weight.data)
        self.weight.grad += gw
        if self.bias is not None:
            self.bias.grad += gb
        return gx

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None})"


class _MaxPool(Module):
    _fwd = staticmethod(F.max_pool2d)
    _bwd = staticmethod(F.max_pool2d_backward)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices=False, ceil_mode=False):
        self.kwargs = dict(kernel_size=kernel_size, stride=stride, padding=padding,
                           dilation=dilation, ceil_mode=ceil_mode)
        self.return_indices = return_indices
        self._saved_fwd = None

    def forward(self, x):
        out, idx = self._fwd(x, return_indices=True, **self.kwargs)
        self._saved_fwd = (x, idx) if self.training else None
        return (out, idx) if self.return_indices else out

    def backward(self, grad_output):
        x, idx = self._saved(self._saved_fwd)
        return self._bwd(grad_output, x, indices=idx, **self.kwargs)


class MaxPool2d(_MaxPool):
    """Max pooling layer, as ``torch.nn.MaxPool2d``; backward uses the
    argmax saved by forward. See :func:`convcore.max_pool2d`.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.MaxPool2d(2)(np.zeros((1, 6, 28, 28))).shape
    (1, 6, 14, 14)
    """


class MaxPool1d(_MaxPool):
    """Max pooling over ``(N, C, L)``, as ``torch.nn.MaxPool1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.MaxPool1d(3)(np.zeros((1, 2, 9))).shape
    (1, 2, 3)
    """

    _fwd = staticmethod(F.max_pool1d)
    _bwd = staticmethod(F.max_pool1d_backward)


class _AvgPool(Module):
    _fwd = staticmethod(F.avg_pool2d)
    _bwd = staticmethod(F.avg_pool2d_backward)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        self.kwargs = dict(kernel_size=kernel_size, stride=stride, padding=padding,
                           ceil_mode=ceil_mode, count_include_pad=count_include_pad)
        self._shape = None

    def forward(self, x):
        out = self._fwd(x, **self.kwargs)
        self._shape = np.shape(x) if self.training else None
        return out

    def backward(self, grad_output):
        return self._bwd(grad_output, self._saved(self._shape), **self.kwargs)


class AvgPool2d(_AvgPool):
    """Average pooling layer, as ``torch.nn.AvgPool2d``. See
    :func:`convcore.avg_pool2d`.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.AvgPool2d(2)(np.ones((1, 1, 4, 4)))[0, 0]
    array([[1., 1.],
           [1., 1.]])
    """


class AvgPool1d(_AvgPool):
    """Average pooling over ``(N, C, L)``, as ``torch.nn.AvgPool1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.AvgPool1d(2)(np.ones((1, 1, 6))).shape
    (1, 1, 3)
    """

    _fwd = staticmethod(F.avg_pool1d)
    _bwd = staticmethod(F.avg_pool1d_backward)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, as ``torch.nn.AdaptiveAvgPool2d``
    (``output_size=1`` is global average pooling).

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.AdaptiveAvgPool2d(1)(np.ones((2, 5, 7, 7))).shape
    (2, 5, 1, 1)
    """

    def __init__(self, output_size):
        self.output_size = output_size
        self._shape = None

    def forward(self, x):
        out = F.adaptive_avg_pool2d(x, self.output_size)
        self._shape = np.shape(x) if self.training else None
        return out

    def backward(self, grad_output):
        return F.adaptive_avg_pool2d_backward(grad_output, self._saved(self._shape))


class ReLU(Module):
    """``max(x, 0)``, as ``torch.nn.ReLU``.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.ReLU()(np.array([-1.0, 2.0]))
    array([0., 2.])
    """

    def __init__(self):
        self._x = None

    def forward(self, x):
        self._x = x if self.training else None
        return F.relu(x)

    def backward(self, grad_output):
        return F.relu_backward(grad_output, self._saved(self._x))


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x``, as ``torch.nn.LeakyReLU``.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.LeakyReLU(0.1)(np.array([-1.0, 2.0]))
    array([-0.1,  2. ])
    """

    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope
        self._x = None

    def forward(self, x):
        out = F.leaky_relu(x, self.negative_slope)
        self._x = x if self.training else None
        return out

    def backward(self, grad_output):
        return F.leaky_relu_backward(grad_output, self._saved(self._x), self.negative_slope)


class Sigmoid(Module):
    """Logistic function, as ``torch.nn.Sigmoid``; backward uses the output.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.Sigmoid()(np.zeros(2))
    array([0.5, 0.5])
    """

    def __init__(self):
        self._y = None

    def forward(self, x):
        y = F.sigmoid(x)
        self._y = y if self.training else None
        return y

    def backward(self, grad_output):
        return F.sigmoid_backward(grad_output, self._saved(self._y))


class Tanh(Module):
    """Hyperbolic tangent, as ``torch.nn.Tanh``; backward uses the output.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.Tanh()(np.zeros(2))
    array([0., 0.])
    """

    def __init__(self):
        self._y = None

    def forward(self, x):
        y = F.tanh(x)
        self._y = y if self.training else None
        return y

    def backward(self, grad_output):
        return F.tanh_backward(grad_output, self._saved(self._y))


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> nn.Flatten()(np.zeros((2, 16, 5, 5))).shape
    (2, 400)
    """

    def __init__(self, start_dim=1, end_dim=-1):
        self.start_dim, self.end_dim = start_dim, end_dim
        self._shape = None

    def forward(self, x):
        x = np.asarray(x)
        nd = max(x.ndim, 1)
        dims = []
        for name, d in (("start_dim", self.start_dim), ("end_dim", self.end_dim)):
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not -nd <= d < nd:
                raise ValueError(f"Flatten: {name} must be an int in [{-nd}, {nd}), "
                                 f"got {d!r} for input shape {x.shape}")
            dims.append(int(d) % nd)
        s, e = dims
        if s > e:
            raise ValueError(f"Flatten: start_dim ({self.start_dim}) comes after "
                             f"end_dim ({self.end_dim}) for input shape {x.shape}")
        self._shape = x.shape if self.training else None
        shape = x.shape or (1,)
        return x.reshape(shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])

    def backward(self, grad_output):
        return np.reshape(grad_output, self._saved(self._shape))


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits ``(N, classes)`` against integer
    targets ``(N,)``, as ``torch.nn.CrossEntropyLoss``.

    ``forward(logits, target)`` returns the loss; ``backward(grad_output=1.0)``
    returns its gradient with respect to the logits.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn
    >>> loss_fn = nn.CrossEntropyLoss()
    >>> round(float(loss_fn(np.zeros((4, 10)), np.arange(4))), 4)
    2.3026
    >>> loss_fn.backward().shape
    (4, 10)
    """

    def __init__(self, reduction="mean"):
        self.reduction = reduction
        self._saved_fwd = None

    def forward(self, logits, target):
        loss = F.cross_entropy(logits, target, reduction=self.reduction)
        self._saved_fwd = (logits, target)
        return loss

    def backward(self, grad_output=1.0):
        logits, target = self._saved(self._saved_fwd)
        g = F.cross_entropy_backward(logits, target, reduction=self.reduction)
        if np.ndim(grad_output) == 0 and grad_output == 1.0:
            return g
        go = np.asarray(grad_output, dtype=g.dtype)
        return g * (go[:, None] if go.ndim == 1 else go)
