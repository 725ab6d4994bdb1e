"""Optimizers over :class:`convcore.nn.Parameter` objects, with the update
rules of ``torch.optim``.

Examples
--------
>>> import numpy as np
>>> from convcore import nn, optim
>>> layer = nn.Linear(3, 1, rng=0)
>>> opt = optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
>>> _ = layer(np.ones((2, 3), np.float32)); _ = layer.backward(np.ones((2, 1), np.float32))
>>> opt.step(); opt.zero_grad()
"""
import math

import numpy as np

from convcore.nn import Parameter

__all__ = ["Adam", "Optimizer", "SGD"]


def _nonneg(cls, name, value):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{cls}: {name} must be a number, got {value!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"{cls}: {name} must be a finite number >= 0, got {value!r}")
    return v


class Optimizer:
    """Base: holds the parameters; ``step()`` updates them from their
    gradients, ``zero_grad()`` clears the gradients."""

    def __init__(self, params):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{type(self).__name__}: parameter {i} is a {type(p).__name__}; expected "
                    "convcore.nn.Parameter (from model.parameters())")
        self.state = [{} for _ in self.params]

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def step(self):
        for p, state in zip(self.params, self.state):
            with p.writable() as data:
                self._update(data, p.grad, state)

    def _update(self, data, grad, state):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and weight decay,
    as ``torch.optim.SGD``: ``g = grad + weight_decay * w``;
    ``buf = momentum * buf + g`` (``buf = g`` on the first step);
    ``w -= lr * buf`` (``lr * g`` without momentum).

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn, optim
    >>> p = nn.Parameter(np.ones(2)); p.grad[:] = [1.0, -2.0]
    >>> optim.SGD([p], lr=0.5).step(); p.data
    array([0.5, 2. ])
    """

    def __init__(self, params, lr, momentum=0, weight_decay=0):
        super().__init__(params)
        self.lr = _nonneg("SGD", "lr", lr)
        self.momentum = _nonneg("SGD", "momentum", momentum)
        self.weight_decay = _nonneg("SGD", "weight_decay", weight_decay)

    def _update(self, w, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * w
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=w.dtype, copy=True)
            else:
                buf *= self.momentum
                buf += g
            g = buf
        w -= (self.lr * g).astype(w.dtype, copy=False)


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``: moments
    ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``, then
    ``w -= lr * m_hat / (sqrt(v_hat) + eps)`` with bias-corrected
    ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``; weight decay adds
    ``weight_decay * w`` to the gradient (L2, not AdamW).

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import nn, optim
    >>> p = nn.Parameter(np.zeros(2)); p.grad[:] = [1.0, -1.0]
    >>> optim.Adam([p], lr=0.1).step(); p.data.round(6)
    array([-0.1,  0.1])
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(params)
        self.lr = _nonneg("Adam", "lr", lr)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"Adam: betas must be a pair of numbers, got {betas!r}") from None
        b1, b2 = _nonneg("Adam", "betas[0]", b1), _nonneg("Adam", "betas[1]", b2)
        if b1 >= 1 or b2 >= 1:
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas!r}")
        self.betas = (b1, b2)
        self.eps = _nonneg("Adam", "eps", eps)
        self.weight_decay = _nonneg("Adam", "weight_decay", weight_decay)

    def _update(self, w, g, state):
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * w
        if not state:
            state.update(step=0, m=np.zeros_like(w), v=np.zeros_like(w))
        state["step"] += 1
        t, m, v = state["step"], state["m"], state["v"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * np.square(g)
        denom = np.sqrt(v / (1 - b2 ** t))
        denom += self.eps
        w -= ((self.lr / (1 - b1 ** t)) * m / denom).astype(w.dtype, copy=False)
