"""Layers (convcore.nn): each against the functional op it wraps, a small
network end to end against finite differences, state, modes and summary."""
import numpy as np
import pytest

import convcore
from convcore import nn, optim, reference
from helpers import rng


def _x(shape, key, dtype=np.float64):
    return rng("nn", key, shape).standard_normal(shape).astype(dtype)


# -- each layer = its functional op ------------------------------------------
CASES = [
    ("conv2d", lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), rng=1),
     (2, 4, 9, 8)),
    ("conv2d_groups", lambda: nn.Conv2d(4, 8, 3, padding="same", groups=2, rng=2), (1, 4, 7, 7)),
    ("depthwise", lambda: nn.Conv2d(3, 3, 3, groups=3, bias=False, rng=3), (2, 3, 6, 6)),
    ("conv1d", lambda: nn.Conv1d(2, 3, 5, stride=2, padding=2, rng=4), (3, 2, 17)),
    ("linear", lambda: nn.Linear(7, 5, rng=5), (4, 7)),
    ("maxpool2d", lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (2, 3, 9, 8)),
    ("maxpool1d", lambda: nn.MaxPool1d(2), (2, 3, 9)),
    ("avgpool2d", lambda: nn.AvgPool2d((2, 3), padding=1, count_include_pad=False), (2, 3, 7, 8)),
    ("avgpool1d", lambda: nn.AvgPool1d(3, 2), (2, 3, 11)),
    ("adaptive", lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    ("relu", lambda: nn.ReLU(), (3, 4, 5)),
    ("leaky", lambda: nn.LeakyReLU(0.2), (3, 4)),
    ("sigmoid", lambda: nn.Sigmoid(), (3, 4)),
    ("tanh", lambda: nn.Tanh(), (5,)),
    ("flatten", lambda: nn.Flatten(), (2, 3, 4, 5)),
    ("flatten_mid", lambda: nn.Flatten(1, 2), (2, 3, 4, 5)),
]


def _functional(name, layer, x):
    """(forward, grad_input) of the layer's op through convcore's functional
    API, written out independently of nn.py."""
    g = _x(np.shape(layer.forward(x)), (name, "go"))
    if name.startswith("conv"):
        fwd = convcore.conv1d if isinstance(layer, nn.Conv1d) else convcore.conv2d
        bwd = convcore.conv1d_backward if isinstance(layer, nn.Conv1d) else convcore.conv2d_backward
        args = (layer.stride, layer.padding, layer.dilation, layer.groups)
        b = None if layer.bias is None else layer.bias.data
        return fwd(x, layer.weight.data, b, *args), g, bwd(g, x, layer.weight.data, *args)[0]
    if name == "depthwise":
        args = (1, 0, 1, 3)
        return (convcore.conv2d(x, layer.weight.data, None, *args), g,
                convcore.conv2d_backward(g, x, layer.weight.data, *args)[0])
    if name == "linear":
        return (convcore.linear(x, layer.weight.data, layer.bias.data), g,
                convcore.linear_backward(g, x, layer.weight.data)[0])
    if name.startswith("maxpool"):
        f, b = ((convcore.max_pool2d, convcore.max_pool2d_backward) if name == "maxpool2d"
                else (convcore.max_pool1d, convcore.max_pool1d_backward))
        return f(x, **layer.kwargs), g, b(g, x, **layer.kwargs)
    if name.startswith("avgpool"):
        f, b = ((convcore.avg_pool2d, convcore.avg_pool2d_backward) if name == "avgpool2d"
                else (convcore.avg_pool1d, convcore.avg_pool1d_backward))
        return f(x, **layer.kwargs), g, b(g, x.shape, **layer.kwargs)
    if name == "adaptive":
        return (convcore.adaptive_avg_pool2d(x, (3, 2)), g,
                convcore.adaptive_avg_pool2d_backward(g, x.shape))
    if name == "relu":
        return convcore.relu(x), g, convcore.relu_backward(g, x)
    if name == "leaky":
        return convcore.leaky_relu(x, 0.2), g, convcore.leaky_relu_backward(g, x, 0.2)
    if name == "sigmoid":
        y = convcore.sigmoid(x)
        return y, g, convcore.sigmoid_backward(g, y)
    if name == "tanh":
        y = convcore.tanh(x)
        return y, g, convcore.tanh_backward(g, y)
    if name == "flatten":
        return x.reshape(2, -1), g, g.reshape(x.shape)
    if name == "flatten_mid":
        return x.reshape(2, 12, 5), g, g.reshape(x.shape)
    raise AssertionError(name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_functional(name, make, shape, dtype):
    layer = make()
    x = _x(shape, name, dtype)
    y_ref, g, gx_ref = _functional(name, layer, x)
    y = layer(x)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(layer.backward(g), gx_ref)


def test_conv_parameter_gradients_accumulate():
    layer = nn.Conv2d(3, 4, 3, padding=1, rng=0, dtype=np.float64)
    x, g = _x((2, 3, 5, 5), "acc"), _x((2, 4, 5, 5), "acc_g")
    _, gw, gb = reference.conv2d_backward(g, x, layer.weight.data, padding=1)
    layer(x)
    layer.backward(g)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * gw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, 2 * gb, rtol=1e-12, atol=1e-12)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


# -- a network end to end against finite differences ---------------------------
def _small_net():
    r = np.random.default_rng(7)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, rng=r, dtype=np.float64), nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, (2, 3), stride=1, groups=1, rng=r, dtype=np.float64),
        nn.LeakyReLU(0.1),
        nn.Sigmoid(), nn.AvgPool2d((2, 1)), nn.Flatten(),
        nn.Linear(4 * 1 * 1, 5, rng=r, dtype=np.float64),
    )


def test_sequential_gradients_by_finite_differences():
    net = _small_net()
    loss_fn = nn.CrossEntropyLoss()
    x = _x((3, 2, 6, 7), "fd")
    y = np.array([0, 3, 4])

    def loss():
        return float(loss_fn(net(x), y))

    loss()
    gx = net.backward(loss_fn.backward())
    eps = 1e-6
    for (name, p) in net.named_parameters():
        analytic = p.grad.copy()
        numeric = np.zeros_like(analytic)
        base = p.data.copy()
        for i in np.ndindex(base.shape):
            for sign in (1, -1):
                v = base.copy()
                v[i] += sign * eps
                p.assign(v)
                numeric[i] += sign * loss() / (2 * eps)
        p.assign(base)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8, err_msg=name)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        keep = x[i]
        x[i] = keep + eps
        up = loss()
        x[i] = keep - eps
        numeric[i] = (up - loss()) / (2 * eps)
        x[i] = keep
    np.testing.assert_allclose(gx, numeric, rtol=1e-5, atol=1e-8)


# -- parameters, packed weights, state -----------------------------------------
def test_parameter_is_read_only_between_updates():
    layer = nn.Conv2d(1, 2, 3, rng=0)
    with pytest.raises(ValueError, match="read-only"):
        layer.weight.data[0] = 0
    w, g = layer.weight  # iterates as a (data, grad) pair
    assert w is layer.weight.data and g is layer.weight.grad
    with pytest.raises(ValueError, match="expected"):
        layer.weight.assign(np.zeros((2, 1, 3, 4)))


@pytest.mark.parametrize("opt", ["sgd", "adam", "assign"])
def test_packed_weights_follow_every_update(opt):
    """A conv packs its weight once per version: after each kind of update
    forward and backward use the new weight, not a stale packed copy."""
    layer = nn.Conv2d(3, 5, 3, padding=1, rng=0, dtype=np.float64)
    x, g = _x((2, 3, 6, 6), "pk"), _x((2, 5, 6, 6), "pk_g")
    for step in range(3):
        y = layer(x)
        np.testing.assert_allclose(
            y, reference.conv2d(x, layer.weight.data, layer.bias.data, padding=1),
            rtol=1e-12, atol=1e-12)
        gx = layer.backward(g)
        np.testing.assert_allclose(
            gx, reference.conv2d_backward(g, x, layer.weight.data, padding=1)[0],
            rtol=1e-12, atol=1e-12)
        if opt == "sgd":
            optim.SGD(layer.parameters(), lr=0.1).step()
        elif opt == "adam":
            optim.Adam(layer.parameters(), lr=0.1).step()
        else:
            layer.weight.assign(layer.weight.data * -2.0)
        layer.zero_grad()
    assert layer.weight.version == 3


def test_initialisation_is_pytorch_default_and_seeded():
    a = nn.Conv2d(6, 16, 5, rng=np.random.default_rng(3))
    b = nn.Conv2d(6, 16, 5, rng=3)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    bound = 1 / np.sqrt(6 * 25)
    for p in (a.weight.data, a.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
    # U(-b, b): standard deviation b / sqrt(3) (2400 draws: within 5%)
    assert abs(a.weight.data.std() / (bound / np.sqrt(3)) - 1) < 0.05
    lin = nn.Linear(400, 120, rng=0, dtype=np.float64)
    assert lin.weight.shape == (120, 400) and lin.weight.dtype == np.float64
    assert np.abs(lin.weight.data).max() <= 1 / 20
    assert nn.Linear(3, 2, bias=False).bias is None


def test_state_dict_round_trip(tmp_path):
    net = _small_net()
    state = net.state_dict()
    assert list(state) == [n for n, _ in net.named_parameters()]
    assert "0.weight" in state and "8.bias" in state
    other = _small_net()
    for p in other.parameters():
        p.assign(np.zeros(p.shape))
    other.load_state_dict(state)
    x = _x((2, 2, 6, 7), "sd")
    np.testing.assert_array_equal(other(x), net(x))
    net.save(tmp_path / "w.npz")
    third = _small_net()
    for p in third.parameters():
        p.assign(np.ones(p.shape))
    np.testing.assert_array_equal(third.load(tmp_path / "w.npz")(x), net(x))
    state["0.weight"] = np.zeros((1, 1))
    with pytest.raises(ValueError, match="0.weight"):
        other.load_state_dict(state)
    del state["0.weight"]
    with pytest.raises(KeyError, match="missing"):
        other.load_state_dict(state)


def test_eval_mode_keeps_nothing_and_backward_says_why():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2))
    x = _x((1, 1, 8, 8), "ev", np.float32)
    y_train = net(x)
    net.eval()
    assert not net.training and not net[0].training
    np.testing.assert_array_equal(net(x), y_train)
    assert net[0]._x is None and net[2]._saved_fwd is None
    with pytest.raises(RuntimeError, match="training mode"):
        net.backward(np.ones_like(y_train))
    net.train()
    net(x)
    assert net.backward(np.ones_like(y_train)).shape == x.shape


def test_summary_shows_shapes_and_weight_sharing(capsys):
    from convcore.examples.lenet import lenet5

    text = lenet5(rng=0).summary((1, 32, 32))
    assert capsys.readouterr().out.strip() == text.strip()
    lines = text.splitlines()
    conv1 = next(line for line in lines if line.startswith("0 (Conv2d)"))
    # 6*1*5*5 + 6 = 156 shared parameters; a dense layer from 1*32*32 inputs
    # to 6*28*28 outputs needs 1024*4704 + 4704
    assert "(6, 28, 28)" in conv1 and "156" in conv1 and f"{1024 * 4704 + 4704:,}" in conv1
    assert "(16, 5, 5)" in text and "(10,)" in text
    assert lines[-1].split()[:2] == ["total", "61,706"]


def test_constructor_errors_name_the_argument():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="in_channels"):
        nn.Conv2d(0, 4, 3)
    with pytest.raises(ValueError, match="stride"):
        nn.Conv2d(3, 4, 3, stride=0)
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(TypeError, match="rng"):
        nn.Linear(3, 4, rng="seed")
    with pytest.raises(TypeError, match="Module"):
        nn.Sequential(nn.ReLU(), np.zeros(3))
    with pytest.raises(ValueError, match="end_dim"):
        nn.Flatten(2, 1)(np.zeros((2, 3, 4)))


def test_cross_entropy_loss_layer():
    logits, target = _x((4, 6), "ce"), np.array([0, 5, 2, 2])
    for reduction in ("mean", "sum", "none"):
        fn = nn.CrossEntropyLoss(reduction)
        np.testing.assert_allclose(fn(logits, target),
                                   reference.cross_entropy(logits, target, reduction),
                                   rtol=1e-12)
        expected = convcore.cross_entropy_backward(logits, target, reduction)
        if reduction == "none":
            w = np.arange(4.0)
            np.testing.assert_allclose(fn.backward(w), expected * w[:, None], rtol=1e-12)
        else:
            np.testing.assert_allclose(fn.backward(3.0), 3 * expected, rtol=1e-12)
