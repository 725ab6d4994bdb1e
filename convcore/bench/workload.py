"""The benchmark workload: named layer shapes from real CNNs.

One definition for the report (``python -m convcore.bench``) and the
pytest-benchmark suite (``benchmarks/``).

* ``LAYERS``: convolution layers, ``Layer(name, N, C, H (= W), OC, K,
  stride, pad, dil, groups)``; passes ``fwd``, ``bwd_data``, ``bwd_weights``.
* ``POOLS``: pooling layers, ``Pool(name, kind, N, C, H (= W), K, stride,
  pad)``; passes ``fwd``, ``bwd``.
* ``ACTS``: activations over one feature-map shape, ``Act(name, fn, N, C,
  H (= W))`` with ``fn`` the function's name; pass ``fwd``.

Named sets select among them: ``quick`` (the report's default, a few
minutes' worth cut to under two on 2 cores), ``all``, and ``tiny`` (a few
small shapes, for the smoke test).

Examples
--------
>>> from convcore.bench import workload
>>> L = workload.layer("resnet_3x3_28")
>>> workload.out_size(L), workload.flops(L)
(28, 1849688064)
"""
from collections import namedtuple

import numpy as np

Layer = namedtuple("Layer", "name N C H OC K stride pad dil groups")
Pool = namedtuple("Pool", "name kind N C H K stride pad")
Act = namedtuple("Act", "name fn N C H")

LAYERS = [
    Layer("lenet_c1", 64, 1, 32, 6, 5, 1, 0, 1, 1),
    Layer("lenet_c3", 64, 6, 14, 16, 5, 1, 0, 1, 1),
    Layer("cifar_3x3_c32", 64, 3, 32, 32, 3, 1, 1, 1, 1),
    Layer("cifar_3x3_c64", 64, 32, 32, 64, 3, 1, 1, 1, 1),
    Layer("resnet_stem_7x7s2", 8, 3, 224, 64, 7, 2, 3, 1, 1),
    Layer("resnet_3x3_56", 8, 64, 56, 64, 3, 1, 1, 1, 1),
    Layer("resnet_3x3s2_56", 8, 64, 56, 128, 3, 2, 1, 1, 1),
    Layer("resnet_3x3_28", 8, 128, 28, 128, 3, 1, 1, 1, 1),
    Layer("resnet_3x3_14", 8, 256, 14, 256, 3, 1, 1, 1, 1),
    Layer("resnet_3x3_7", 8, 512, 7, 512, 3, 1, 1, 1, 1),
    Layer("resnet50_1x1_56", 8, 256, 56, 64, 1, 1, 0, 1, 1),
    Layer("vgg_3x3_56_c256", 1, 256, 56, 256, 3, 1, 1, 1, 1),
    Layer("mobilenet_dw_3x3_112", 8, 32, 112, 32, 3, 1, 1, 1, 32),
    Layer("dilated_3x3_d2_28", 8, 128, 28, 128, 3, 1, 2, 2, 1),
    Layer("batch1_3x3_56", 1, 64, 56, 64, 3, 1, 1, 1, 1),
]
PASSES = ("fwd", "bwd_data", "bwd_weights")

# Layers the loop reference (convcore.reference) runs on by default: it
# takes well under a second a call on these, and seconds on the rest (the
# depthwise layer loops over its 32 groups).
SMALL = ("lenet_c1", "lenet_c3", "cifar_3x3_c32", "batch1_3x3_56")

POOLS = [
    Pool("resnet_maxpool_3x3s2", "max", 8, 64, 112, 3, 2, 1),
    Pool("vgg_maxpool_2x2", "max", 8, 256, 56, 2, 2, 0),
    Pool("lenet_avgpool_2x2", "avg", 64, 6, 28, 2, 2, 0),
    Pool("avgpool_3x3s1", "avg", 8, 128, 28, 3, 1, 1),
]
POOL_PASSES = ("fwd", "bwd")

ACT_SHAPE = (8, 64, 56, 56)
ACTS = [Act(a, a, *ACT_SHAPE[:3]) for a in ("relu", "leaky_relu", "sigmoid", "tanh")]

# Tiny shapes for the smoke test: ragged tiles, stride, dilation, groups.
TINY_LAYERS = [
    Layer("tiny_3x3", 2, 3, 10, 5, 3, 1, 1, 1, 1),
    Layer("tiny_dw_s2_d2", 2, 4, 11, 4, 3, 2, 2, 2, 4),
]
TINY_POOLS = [
    Pool("tiny_maxpool_3x3s2", "max", 2, 3, 11, 3, 2, 1),
    Pool("tiny_avgpool_2x2", "avg", 2, 3, 10, 2, 2, 0),
]
TINY_ACTS = [Act("tiny_relu", "relu", 2, 3, 10)]

# --quick: one layer of each kind that behaves differently (few input
# channels, a 3x3 body layer, a 1x1 bottleneck, a strided layer, depthwise)
QUICK = ("lenet_c3", "cifar_3x3_c32", "resnet_3x3_28", "resnet50_1x1_56",
         "resnet_3x3s2_56", "mobilenet_dw_3x3_112",
         "resnet_maxpool_3x3s2", "avgpool_3x3s1", "relu", "sigmoid")

SETS = {
    "all": tuple(x.name for x in LAYERS + POOLS + ACTS),
    "quick": QUICK,
    "tiny": tuple(x.name for x in TINY_LAYERS + TINY_POOLS + TINY_ACTS),
}


def layer(name):
    """The conv layer, pool or activation case called `name`.

    Examples
    --------
    >>> layer("lenet_c1").OC
    6
    """
    for x in LAYERS + POOLS + ACTS + TINY_LAYERS + TINY_POOLS + TINY_ACTS:
        if x.name == name:
            return x
    raise ValueError(f"layer: unknown name {name!r}; expected one of "
                     f"{', '.join(SETS['all'] + SETS['tiny'])}")


def select(names):
    """Cases named in `names` (case names or set names), in workload order.

    Parameters
    ----------
    names : iterable of str
        Names of layers, pools, activations, or of the sets ``all``,
        ``quick``, ``tiny``.

    Returns
    -------
    (layers, pools, acts) : three lists

    Examples
    --------
    >>> layers, pools, acts = select(["tiny"])
    >>> [L.name for L in layers]
    ['tiny_3x3', 'tiny_dw_s2_d2']
    """
    wanted = set()
    for n in names:
        if n in SETS:
            wanted.update(SETS[n])
        else:
            wanted.add(layer(n).name)  # raises on an unknown name
    pick = lambda xs: [x for x in xs if x.name in wanted]  # noqa: E731
    return (pick(LAYERS + TINY_LAYERS), pick(POOLS + TINY_POOLS),
            pick(ACTS + TINY_ACTS))


def out_size(L):
    """Output height (= width) of conv layer `L`."""
    return (L.H + 2 * L.pad - L.dil * (L.K - 1) - 1) // L.stride + 1


def flops(L):
    """Multiply-adds x 2 of one pass of conv layer `L` (all three passes
    cost the same)."""
    o = out_size(L)
    return 2 * L.N * L.OC * o * o * (L.C // L.groups) * L.K * L.K


def make_inputs(L, dtype, rng):
    """Random ``(x, w, b, grad_output)`` of conv layer `L`.

    Examples
    --------
    >>> x, w, b, go = make_inputs(layer("tiny_3x3"), "float32", np.random.default_rng(0))
    >>> x.shape, w.shape, go.shape
    ((2, 3, 10, 10), (5, 3, 3, 3), (2, 5, 10, 10))
    """
    o = out_size(L)
    x = rng.standard_normal((L.N, L.C, L.H, L.H)).astype(dtype)
    w = rng.standard_normal((L.OC, L.C // L.groups, L.K, L.K)).astype(dtype)
    b = rng.standard_normal(L.OC).astype(dtype)
    go = rng.standard_normal((L.N, L.OC, o, o)).astype(dtype)
    return x, w, b, go


def pool_out_size(P):
    """Output height (= width) of pooling layer `P`."""
    return (P.H + 2 * P.pad - P.K) // P.stride + 1


def pool_bytes(P, pass_, dtype):
    """Bytes a pass of pooling layer `P` must move at least: its inputs
    and outputs (max pooling's backward also reads the int64 indices).

    Examples
    --------
    >>> pool_bytes(layer("tiny_avgpool_2x2"), "fwd", "float32")
    3000
    """
    item = np.dtype(dtype).itemsize
    n_in = P.N * P.C * P.H * P.H
    n_out = P.N * P.C * pool_out_size(P) ** 2
    if pass_ == "fwd":
        return (n_in + n_out) * item
    idx = n_out * 8 if P.kind == "max" else 0
    return (n_out + n_in) * item + idx


def act_bytes(A, dtype):
    """Bytes an activation moves: its input and its output."""
    return 2 * A.N * A.C * A.H * A.H * np.dtype(dtype).itemsize
