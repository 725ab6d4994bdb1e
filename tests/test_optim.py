"""Optimizers against hand-computed updates (and PyTorch when installed);
preprocessing against its definitions."""
import numpy as np
import pytest

from convcore import nn, optim
from convcore.preprocessing import ChannelStandardizer, ZCAWhitener
from helpers import rng

GRADS = [np.array([0.5, -1.0, 2.0]), np.array([-0.25, 0.0, 1.0]), np.array([1.0, 1.0, -3.0])]
W0 = np.array([1.0, -2.0, 0.5])


def _run(make, grads=GRADS):
    p = nn.Parameter(W0)
    opt = make([p])
    seen = []
    for g in grads:
        opt.zero_grad()
        p.grad += g
        opt.step()
        seen.append(p.data.copy())
    return seen


def test_sgd_plain():
    w = W0.copy()
    for got, g in zip(_run(lambda ps: optim.SGD(ps, lr=0.1)), GRADS):
        w = w - 0.1 * g
        np.testing.assert_allclose(got, w, rtol=1e-15)


def test_sgd_momentum_weight_decay():
    lr, mu, wd = 0.1, 0.9, 0.01
    w, buf = W0.copy(), None
    for got, g in zip(_run(lambda ps: optim.SGD(ps, lr, momentum=mu, weight_decay=wd)), GRADS):
        d = g + wd * w
        buf = d if buf is None else mu * buf + d
        w = w - lr * buf
        np.testing.assert_allclose(got, w, rtol=1e-15)


def test_adam():
    lr, b1, b2, eps, wd = 0.01, 0.8, 0.99, 1e-6, 0.1
    w, m, v = W0.copy(), 0.0, 0.0
    got = _run(lambda ps: optim.Adam(ps, lr, (b1, b2), eps, weight_decay=wd))
    for t, (g, out) in enumerate(zip(GRADS, got), start=1):
        d = g + wd * w
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d * d
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        np.testing.assert_allclose(out, w, rtol=1e-14)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_matches_pytorch(kind):
    torch = pytest.importorskip("torch")
    t = torch.tensor(W0, requires_grad=True)
    if kind == "sgd":
        ours = _run(lambda ps: optim.SGD(ps, 0.05, momentum=0.7, weight_decay=0.02))
        opt = torch.optim.SGD([t], 0.05, momentum=0.7, weight_decay=0.02)
    else:
        ours = _run(lambda ps: optim.Adam(ps, 0.05, weight_decay=0.02))
        opt = torch.optim.Adam([t], 0.05, weight_decay=0.02)
    for g, out in zip(GRADS, ours):
        opt.zero_grad()
        t.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(out, t.detach().numpy(), rtol=1e-12)


def test_float32_parameters_stay_float32():
    p = nn.Parameter(np.ones(4, np.float32))
    p.grad[:] = 1
    optim.Adam([p]).step()
    optim.SGD([p], lr=0.1, momentum=0.5).step()
    assert p.data.dtype == np.float32 and p.version == 2


def test_optimizer_errors():
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="Parameter"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([nn.Parameter(np.zeros(1))], lr=-1)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([nn.Parameter(np.zeros(1))], betas=(0.9, 1.0))


# -- preprocessing --------------------------------------------------------------
def test_channel_standardizer_fits_train_and_applies_to_new():
    r = rng("std")
    train = r.normal([1.0, -3.0, 10.0], [2.0, 0.5, 4.0], (200, 6, 5, 3)).transpose(0, 3, 1, 2)
    s = ChannelStandardizer().fit(train)
    z = s.transform(train)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, rtol=1e-7)
    new = r.standard_normal((4, 3, 6, 5)).astype(np.float32)
    out = s.transform(new)
    assert out.dtype == np.float32
    np.testing.assert_allclose(
        out, (new - s.mean_[:, None, None]) / s.std_[:, None, None], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="fit saw"):
        s.transform(np.zeros((1, 3, 5, 5)))
    with pytest.raises(RuntimeError, match="fit"):
        ChannelStandardizer().transform(new)


def test_zca_whitens_and_keeps_images_close():
    r = rng("zca")
    mix = r.standard_normal((12, 12)) * 0.3 + np.eye(12)
    x = (r.standard_normal((4000, 12)) @ mix).reshape(4000, 3, 2, 2)
    zca = ZCAWhitener(eps=1e-10).fit(x)
    flat = zca.transform(x).reshape(4000, -1)
    np.testing.assert_allclose(np.cov(flat, rowvar=False, bias=True), np.eye(12), atol=1e-6)
    # ZCA's W is symmetric: the whitening that rotates the data least
    np.testing.assert_allclose(zca.components_, zca.components_.T, atol=1e-10)
    one = zca.transform(x[:1])
    np.testing.assert_allclose(one, zca.transform(x)[:1], rtol=1e-10)
    with pytest.raises(ValueError, match="at least 2"):
        ZCAWhitener().fit(x[:1])
