"""Winograd F(4x4, 3x3): the 3x3 stride-1 forward, input gradient and
weight gradient (its tiles reduced by the dot or the gemm kernel), against
the NumPy oracle, with every kernel set; the automatic choice; and the
properties other code relies on (bits independent of threads, batch, crops
aligned to 4, packed caches)."""

import numpy as np
import pytest

import convcore
from convcore import _conv
from convcore import reference as ref
from helpers import rng as _rng
from test_conv import DTYPES, assert_matches, check_case


@pytest.fixture
def algorithm():
    """``algorithm(name)`` sets convcore's choice for the test; restored
    after it."""
    previous = convcore.get_conv_algorithm()
    try:
        yield convcore.set_conv_algorithm
    finally:
        convcore.set_conv_algorithm(previous)


# (id, input shape, weight shape, kwargs): every one 3x3, stride 1, so that
# "winograd" takes the forward, and the input gradient for padding <= 2 *
# dilation
CASES = [
    ("one_tile", (1, 1, 3, 3), (1, 1, 3, 3), {}),
    ("partial_tiles", (2, 3, 5, 7), (4, 3, 3, 3), dict(padding=1)),
    ("pad0_odd", (2, 5, 11, 6), (7, 5, 3, 3), {}),
    ("pad2", (3, 4, 8, 8), (6, 4, 3, 3), dict(padding=2)),
    ("pad3_direct_bwd", (1, 4, 4, 4), (3, 4, 3, 3), dict(padding=3)),
    ("pad_rect", (1, 3, 9, 10), (5, 3, 3, 3), dict(padding=(2, 0))),
    ("same", (2, 3, 10, 9), (4, 3, 3, 3), dict(padding="same")),
    ("out_1x1", (2, 3, 1, 1), (4, 3, 3, 3), dict(padding=1)),
    ("out_1x2", (1, 3, 3, 4), (2, 3, 3, 3), {}),
    # a tile row longer than two vectors of tiles, plus a tail
    ("wide_rows", (1, 2, 5, 75), (3, 2, 3, 3), dict(padding=1)),
    # tiles of a block spanning several images and tile rows
    ("many_images", (13, 3, 7, 6), (5, 3, 3, 3), dict(padding=1)),
    # output channels: not a multiple of any tile; one; the narrow tile
    ("oc13", (1, 3, 9, 8), (13, 3, 3, 3), dict(padding=1)),
    ("oc1", (2, 5, 7, 7), (1, 5, 3, 3), {}),
    ("oc4", (2, 5, 7, 7), (4, 5, 3, 3), dict(padding=1)),
    ("oc29_c17", (1, 17, 6, 9), (29, 17, 3, 3), dict(padding=1)),
    ("unbatched", (3, 8, 9), (4, 3, 3, 3), dict(padding=1)),
    # dilated: phase images of unequal sizes (odd H, W), padding a multiple
    # of the dilation or not (output phases reading shifted input phases,
    # padded by one more), per axis
    ("dil2_same", (2, 3, 10, 9), (4, 3, 3, 3), dict(padding=2, dilation=2)),
    ("dil2_pad1", (2, 3, 11, 12), (4, 3, 3, 3), dict(padding=1, dilation=2)),
    ("dil2_pad3", (1, 2, 9, 9), (3, 2, 3, 3), dict(padding=3, dilation=2)),
    ("dil_rect", (1, 3, 13, 17), (5, 3, 3, 3), dict(padding=(3, 0), dilation=(3, 2))),
    ("dil_1x3", (2, 3, 9, 14), (4, 3, 3, 3), dict(padding=(1, 4), dilation=(1, 3))),
    ("dil2_pad0", (1, 2, 14, 10), (3, 2, 3, 3), dict(dilation=2)),
    # some phases with no rows (H < dilation) or no outputs
    ("dil4_small", (2, 3, 3, 5), (2, 3, 3, 3), dict(padding=4, dilation=4)),
    ("dil3_out_2x1", (1, 2, 8, 7), (3, 2, 3, 3), dict(dilation=3)),
    # the input gradient through the direct path (2 * dilation - P < 0)
    ("dil2_pad5_direct_bwd", (1, 2, 5, 6), (3, 2, 3, 3), dict(padding=5, dilation=2)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["fwd", "fwd_bias", "grad_input", "backward",
                                "grad_weight_dot", "grad_weight_gemm"])
def test_winograd_grid(kernel_set, algorithm, wgrad, op, dtype, case):
    algorithm("winograd")
    if op.startswith("grad_weight"):
        wgrad(op.endswith("gemm"))
        op = "grad_weight"
    name, x_shape, w_shape, kw = case
    check_case(op, 2, name, x_shape, w_shape, kw, dtype)


# More filter blocks than one chunk (WINO_CHUNK_BYTES of transformed
# filters): a functional call transforms them chunk by chunk per task, a
# packed cache holds them all; both against the oracle, and bitwise alike.
BIG = [
    ("c256_oc130", (2, 256, 5, 6), (130, 256, 3, 3), dict(padding=1)),
    ("c300_oc40_pad0", (1, 300, 6, 7), (40, 300, 3, 3), {}),
    # weight gradient: two output-channel chunks of dU, two tile blocks
    ("c512_oc64_blocks", (2, 512, 28, 28), (64, 512, 3, 3), dict(padding=1)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in BIG])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_winograd_chunked_filters_and_packed_cache(kernel_set, algorithm, dtype, case):
    algorithm("auto")
    name, x_shape, w_shape, kw = case
    rng = _rng("wino-big", name)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    go = rng.standard_normal(ref.conv2d(x[:1, :, :, :], w, **kw).shape[1:])
    go = np.broadcast_to(go, (x_shape[0],) + go.shape).astype(dtype) * (
        1 + np.arange(x_shape[0], dtype=dtype)[:, None, None, None])
    assert _conv.conv_algorithm("fwd", x_shape[1], w_shape[0], 3, 3) == "winograd"
    y = convcore.conv2d(x, w, b, **kw)
    gx = convcore.conv2d_grad_input(go, w, x.shape, **kw)
    assert_matches(y, ref.conv2d(x.astype(np.float64), w.astype(np.float64),
                                 b.astype(np.float64), **kw), dtype)
    assert_matches(gx, ref.conv2d_grad_input(go.astype(np.float64), w.astype(np.float64),
                                             x.shape, **kw), dtype)
    gw = convcore.conv2d_grad_weight(go, x, w.shape, **kw)
    assert_matches(gw, ref.conv2d_grad_weight(go.astype(np.float64), x.astype(np.float64),
                                              w.shape, **kw), dtype)
    # the packed cache (what the layer objects keep per weight version)
    packed = {}
    for _ in range(2):  # filled, then reused
        yp = convcore.functional._forward("conv2d", 2, x, w, b, kw.get("stride", 1),
                                          kw.get("padding", 0), 1, 1, packed=packed)
        assert np.array_equal(yp, y)
    assert any(k[0] == "winograd" for k in packed)


def test_automatic_choice(algorithm):
    def algo(pass_, C, OC, KH=3, KW=3, s=1, p=1, d=1, groups=1):
        return _conv.conv_algorithm(pass_, C, OC, KH, KW, s, s, p, p, d, d, groups)

    algorithm("auto")
    assert algo("fwd", 16, 16) == algo("bwd_data", 16, 16) == "winograd"
    assert algo("fwd", 512, 512, p=0) == algo("bwd_data", 512, 512, p=2) == "winograd"
    assert algo("bwd_weights", 64, 64) == algo("bwd_weights", 64, 64, p=3) == "winograd"
    assert algo("bwd_weights", 64, 15) == algo("bwd_weights", 64, 64, s=2) == "direct"
    assert algo("fwd", 15, 64) == algo("bwd_data", 64, 15) == "direct"  # few in
    assert algo("fwd", 64, 15) == algo("bwd_data", 15, 64) == "direct"  # few out
    assert algo("fwd", 3, 32) == "direct"  # cifar's first layer
    assert algo("fwd", 64, 64, p=3) == "winograd"
    assert algo("bwd_data", 64, 64, p=3) == "direct"  # dout padded by 2 - P < 0
    # dilated: on phase images, whatever the padding
    for p in (0, 1, 2, 3, 4):
        assert algo("fwd", 64, 64, p=p, d=2) == algo("bwd_weights", 64, 64, p=p, d=2) == "winograd"
        assert algo("bwd_data", 64, 64, p=p, d=2) == "winograd"
    assert algo("bwd_data", 64, 64, p=5, d=2) == "direct"  # 2 * D - P < 0
    assert algo("fwd", 15, 64, p=2, d=2) == "direct"
    for kw in [dict(s=2), dict(s=2, d=2), dict(groups=2), dict(KH=5, KW=5), dict(KH=1, KW=1),
               dict(KH=3, KW=1), dict(KH=1, KW=3)]:
        assert algo("fwd", 64, 64, **kw) == algo("bwd_data", 64, 64, **kw) == "direct", kw
    algorithm("direct")
    assert algo("fwd", 64, 64) == algo("bwd_data", 64, 64) == "direct"
    algorithm("winograd")
    assert algo("fwd", 1, 1) == algo("bwd_data", 1, 1) == "winograd"
    assert algo("fwd", 64, 64, s=2) == "direct"
    with pytest.raises(ValueError, match="unknown pass"):
        algo("bwd", 4, 4)


def test_algorithm_argument_checked(algorithm):
    for bad in ["fast", "", None, 1]:
        with pytest.raises(ValueError, match="set_conv_algorithm: name must be one of"):
            convcore.set_conv_algorithm(bad)
    algorithm("Direct ")
    assert convcore.get_conv_algorithm() == "direct"


def test_direct_and_winograd_agree_to_float32_rounding(algorithm):
    """A workload-sized layer: both paths within 1e-4 of the float64 oracle,
    relative to the output's largest magnitude (Winograd's float32 error
    budget is 1e-3)."""
    rng = _rng("wino-accuracy")
    x = rng.standard_normal((2, 128, 14, 14)).astype(np.float32)
    w = rng.standard_normal((64, 128, 3, 3)).astype(np.float32)
    expected = ref.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1)
    scale = np.abs(expected).max()
    errs = {}
    for name in ["direct", "winograd"]:
        algorithm(name)
        errs[name] = np.abs(convcore.conv2d(x, w, padding=1) - expected).max() / scale
    print(errs)
    assert errs["winograd"] < 1e-4 and errs["direct"] < 1e-5


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("gemm", [False, True], ids=["wgrad_dot", "wgrad_gemm"])
def test_bits_do_not_depend_on_threads_batch_or_aligned_crops(restore_threads, wgrad,
                                                              algorithm, gemm, dtype):
    wgrad(gemm)
    algorithm("auto")
    rng = _rng("wino-bits", np.dtype(dtype).name)
    x = rng.standard_normal((5, 24, 17, 22)).astype(dtype)
    w = rng.standard_normal((20, 24, 3, 3)).astype(dtype)
    b = rng.standard_normal(20).astype(dtype)
    go = rng.standard_normal((5, 20, 17, 22)).astype(dtype)
    assert _conv.conv_algorithm("bwd_data", 24, 20, 3, 3, ph=1, pw=1) == "winograd"
    results = []
    for n in (1, 2, 3):
        convcore.set_num_threads(n)
        results.append((convcore.conv2d(x, w, b, padding=1),
                        convcore.conv2d_grad_input(go, w, x.shape, padding=1),
                        convcore.conv2d_grad_weight(go, x, w.shape, padding=1)))
    for r in results[1:]:
        assert all(np.array_equal(a, e) for a, e in zip(r, results[0]))
    y = results[0][0]
    # one image of the batch
    assert np.array_equal(convcore.conv2d(x[2:3], w, b, padding=1), y[2:3])
    # crops whose outputs start on the 4x4 tile grid and end on it or at the
    # array's edge (as convcore.dask cuts them), the halo and the zero
    # padding of the whole array rebuilt by hand
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    crop = convcore.conv2d(np.ascontiguousarray(xp[:, :, 8:8 + 9 + 2, 4:4 + 16 + 2]), w, b)
    assert np.array_equal(crop, y[:, :, 8:17, 4:20])
    crop = convcore.conv2d(np.ascontiguousarray(xp[:, :, 0:8 + 2, 12:12 + 10 + 2]), w, b)
    assert np.array_equal(crop, y[:, :, 0:8, 12:22])
