"""The named layer workload: real layer shapes from classic and modern CNNs.

Each entry: N, C, H (= W), OC, K, stride, pad, dil, groups.
"""
from collections import namedtuple

Layer = namedtuple("Layer", "name N C H OC K stride pad dil groups")

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

SMALL = ("lenet_c1", "lenet_c3", "cifar_3x3_c32", "mobilenet_dw_3x3_112")
PASSES = ("fwd", "bwd_data", "bwd_weights")


def out_size(layer):
    return (layer.H + 2 * layer.pad - layer.dil * (layer.K - 1) - 1) // layer.stride + 1


def flops(layer):
    """Multiply-adds x 2 of one pass (all three passes cost the same)."""
    o = out_size(layer)
    return 2 * layer.N * layer.OC * o * o * (layer.C // layer.groups) * layer.K * layer.K


def make_inputs(layer, dtype, rng):
    import numpy as np

    o = out_size(layer)
    x = rng.standard_normal((layer.N, layer.C, layer.H, layer.H)).astype(dtype)
    w = rng.standard_normal((layer.OC, layer.C // layer.groups, layer.K, layer.K)).astype(dtype)
    b = rng.standard_normal(layer.OC).astype(dtype)
    go = rng.standard_normal((layer.N, layer.OC, o, o)).astype(dtype)
    return x, w, b, go
