"""The fast convolution paths against the NumPy oracle (convcore.reference).

Every kernel set compiled in runs every case (see the ``kernel_set`` fixture
in conftest.py). Expected values always come from ``convcore.reference``,
computed in float64 from the very values handed to the fast path, and cached
so that the kernel-set axis of the grid costs nothing on the oracle side.
"""

import numpy as np
import pytest

import convcore
from convcore import _conv
from helpers import rng as _rng
from helpers import assert_matches as _assert_matches, tol
from convcore import reference as ref


def _tol(dtype, expected):
    return tol(dtype, expected, rtol32=1e-4, rtol64=1e-10)


def assert_matches(got, expected, dtype):
    _assert_matches(got, expected, dtype, rtol32=1e-4, rtol64=1e-10)


DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _names(nd):
    p = "conv2d" if nd == 2 else "conv1d"
    return p, p + "_backward", p + "_grad_input", p + "_grad_weight"


def call(mod, op, nd, x, w, b, go, kw):
    """Run op `op` of module `mod` (convcore or reference); a tuple back."""
    fwd, bwd, gin, gw = (getattr(mod, n) for n in _names(nd))
    if op == "fwd":
        return (fwd(x, w, **kw),)
    if op == "fwd_bias":
        return (fwd(x, w, b, **kw),)
    if op == "backward":
        return tuple(bwd(go, x, w, **kw))
    if op == "grad_input":
        return (gin(go, w, x.shape, **kw),)
    if op == "grad_weight":
        return (gw(go, x, w.shape, **kw),)
    raise AssertionError(op)


_DATA = {}
_REF = {}


def case_data(nd, name, x_shape, w_shape, kw, dtype):
    """Inputs of a case, in `dtype`; grad_output shaped by the oracle."""
    key = (nd, name, x_shape, w_shape, repr(kw), np.dtype(dtype).name)
    if key not in _DATA:
        rng = _rng(*key)
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(w_shape[0]).astype(dtype)
        out_shape = getattr(ref, _names(nd)[0])(
            np.zeros(x_shape), np.zeros(w_shape), **kw).shape
        go = rng.standard_normal(out_shape).astype(dtype)
        _DATA[key] = (x, w, b, go)
    return _DATA[key]


def reference(op, nd, name, data, kw, dtype):
    key = (op, nd, name, tuple(a.shape for a in data), repr(kw),
           np.dtype(dtype).name)
    if key not in _REF:
        x, w, b, go = (a.astype(np.float64) for a in data)
        _REF[key] = call(ref, op, nd, x, w, b, go, kw)
    return _REF[key]


def check_case(op, nd, name, x_shape, w_shape, kw, dtype):
    data = case_data(nd, name, x_shape, w_shape, kw, dtype)
    got = call(convcore, op, nd, *data, kw)
    expected = reference(op, nd, name, data, kw, dtype)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert_matches(g, e, dtype)


# ---------------------------------------------------------------------------
# the grid: 2-D
# ---------------------------------------------------------------------------

# (id, input shape, weight shape, kwargs). Tile facts this grid aims at: gemm
# tiles are 14x32 (avx512f f32), 14x16 (avx512f f64), 6x16 / 6x8 (avx2),
# 4x4 (scalar); the dot tiles of bwd_weights 4x6, 3x3, 2x2.
CASES_2D = [
    ("basic", (2, 3, 7, 9), (5, 3, 3, 3), {}),
    ("odd_sizes", (1, 5, 11, 13), (7, 5, 3, 3), dict(padding=1)),
    ("rect_3x5", (2, 4, 9, 10), (6, 4, 3, 5), dict(padding=(1, 2))),
    ("rect_1x7", (1, 3, 6, 12), (4, 3, 1, 7), {}),
    ("rect_7x1_pad", (1, 3, 9, 5), (4, 3, 7, 1), dict(padding=(3, 0))),
    ("stride_gt_kernel", (2, 3, 13, 13), (5, 3, 2, 2), dict(stride=3)),
    ("stride_2_3", (1, 4, 11, 14), (6, 4, 3, 3), dict(stride=(2, 3), padding=1)),
    ("stride_prime", (1, 3, 17, 16), (4, 3, 3, 2), dict(stride=(5, 7))),
    ("pad_2_1", (1, 3, 7, 8), (4, 3, 3, 3), dict(padding=(2, 1))),
    ("pad_gt_kernel", (1, 2, 4, 5), (3, 2, 2, 2), dict(padding=3)),
    ("dilation_2", (1, 3, 12, 12), (5, 3, 3, 3), dict(dilation=2, padding=2)),
    ("dilation_1_3", (2, 3, 9, 14), (4, 3, 3, 3), dict(dilation=(1, 3), padding=(1, 0))),
    ("dil_stride", (1, 2, 15, 15), (3, 2, 3, 3), dict(dilation=2, stride=2, padding=1)),
    ("groups_2", (2, 6, 8, 9), (10, 3, 3, 3), dict(groups=2, padding=1)),
    ("groups_3", (1, 9, 7, 7), (6, 3, 3, 2), dict(groups=3, stride=2)),
    ("groups_2_ocg15", (1, 4, 6, 6), (30, 2, 3, 3), dict(groups=2)),
    ("groups_2_cg1", (1, 2, 6, 7), (6, 1, 3, 3), dict(groups=2, padding=1)),
    ("depthwise_m1", (2, 5, 9, 10), (5, 1, 3, 3), dict(groups=5, padding=1)),
    ("depthwise_m2", (2, 4, 8, 11), (8, 1, 3, 3), dict(groups=4, stride=2, padding=1)),
    ("depthwise_m2_dil", (1, 3, 12, 12), (6, 1, 3, 5),
     dict(groups=3, dilation=(2, 1), padding=(2, 3), stride=(1, 2))),
    ("depthwise_pad_gt_kernel", (1, 2, 4, 5), (4, 1, 2, 3), dict(groups=2, padding=3)),
    ("depthwise_stride_gt_kernel", (1, 3, 10, 10), (3, 1, 2, 2), dict(groups=3, stride=3)),
    # the taps path: stride-1 widths, whole vector blocks plus a tail, and
    # the input gradient as a flipped-kernel convolution summing mult planes
    ("depthwise_m2_s1_dil", (2, 3, 11, 13), (6, 1, 3, 3),
     dict(groups=3, dilation=2, padding=(1, 3))),
    ("depthwise_sh2", (1, 4, 11, 12), (4, 1, 3, 3), dict(groups=4, stride=(2, 1), padding=1)),
    ("depthwise_wide_rows", (1, 2, 5, 75), (2, 1, 3, 5), dict(groups=2, padding=(0, 2))),
    ("depthwise_m3_same_even", (1, 2, 6, 37), (6, 1, 4, 2), dict(groups=2, padding="same")),
    # more taps than one in-place taps call takes (81; 2 x 81 summed for
    # the input gradient): the whole padded plane
    ("depthwise_m2_9x9", (1, 3, 20, 21), (6, 1, 9, 9), dict(groups=3, padding=4)),
    ("conv_1x1", (2, 7, 6, 5), (9, 7, 1, 1), {}),
    ("conv_1x1_stride2", (1, 6, 9, 9), (4, 6, 1, 1), dict(stride=2)),
    # whole 8x32 tiles written straight into the input gradient, plus tails
    ("conv_1x1_full_tiles", (16, 20, 9, 8), (12, 20, 1, 1), {}),
    ("batch_1", (1, 3, 6, 6), (4, 3, 3, 3), dict(padding=1)),
    ("unbatched", (3, 8, 9), (4, 3, 3, 3), dict(padding=1)),
    ("unbatched_depthwise", (4, 8, 9), (8, 1, 3, 3), dict(groups=4)),
    ("unbatched_groups", (4, 7, 6), (6, 2, 2, 3), dict(groups=2, stride=2)),
    ("same_odd", (1, 3, 8, 9), (4, 3, 3, 3), dict(padding="same")),
    ("same_even", (2, 3, 8, 9), (4, 3, 4, 2), dict(padding="same")),
    ("same_dilation", (1, 3, 10, 9), (4, 3, 3, 4), dict(padding="same", dilation=(2, 3))),
    ("same_depthwise_even", (1, 4, 7, 8), (4, 1, 2, 4), dict(padding="same", groups=4)),
    ("valid", (1, 3, 8, 9), (4, 3, 3, 3), dict(padding="valid")),
    ("out_1x1", (2, 3, 5, 5), (4, 3, 5, 5), {}),
    ("out_1x1_padded", (1, 2, 3, 3), (3, 2, 5, 5), dict(padding=1)),
    ("out_1x1_depthwise", (1, 3, 4, 4), (3, 1, 4, 4), dict(groups=3)),
    ("out_1x1_stride", (1, 2, 4, 4), (3, 2, 3, 3), dict(stride=5)),
    ("oc14_p35", (1, 4, 9, 7), (14, 4, 3, 3), {}),
    ("oc28_p80", (2, 3, 8, 10), (28, 3, 3, 3), dict(padding=1)),
    ("oc15_p36", (1, 3, 6, 6), (15, 3, 1, 1), {}),
    ("oc13_p48", (1, 3, 10, 8), (13, 3, 3, 3), {}),
    ("oc29_p33", (1, 3, 3, 15), (29, 3, 1, 3), {}),
    ("oc14_p32", (1, 2, 4, 8), (14, 2, 1, 1), {}),
    ("oc1", (2, 3, 7, 7), (1, 3, 3, 3), {}),
    ("c1", (2, 1, 9, 9), (6, 1, 5, 5), dict(padding=2)),
]

OPS = ["fwd", "fwd_bias", "backward", "grad_input", "grad_weight"]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in CASES_2D])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", OPS)
def test_conv2d_grid(kernel_set, op, dtype, case):
    name, x_shape, w_shape, kw = case
    check_case(op, 2, name, x_shape, w_shape, kw, dtype)


# the weight gradient's two kernels on the whole grid and on shapes that
# reach the gemm kernel's edges: chunks (256 pixels) across images and
# within one, several k blocks, columns and rows padded to the tile, and
# layers the rule gives the gemm kernel (1x1 and >= 128 output channels)
WGRAD_CASES = [
    ("pw_chunks_cross_images", (5, 40, 7, 9), (70, 40, 1, 1), {}),
    ("pw_groups_chunks", (2, 8, 20, 20), (12, 4, 1, 1), dict(groups=2)),
    ("kblocks_pad1", (2, 70, 10, 10), (9, 70, 3, 3), dict(padding=1)),
    ("pw_default_gemm", (2, 130, 9, 11), (131, 130, 1, 1), {}),
    ("oc130_stride2", (1, 16, 12, 12), (130, 16, 3, 3), dict(stride=2, padding=1)),
    ("oc128_dilated_kblocks", (2, 40, 13, 13), (128, 40, 3, 3), dict(dilation=2, padding=2)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in CASES_2D + WGRAD_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("gemm", [False, True], ids=["dot", "gemm"])
def test_conv2d_grad_weight_kernels(kernel_set, wgrad, gemm, dtype, case):
    name, x_shape, w_shape, kw = case
    wgrad(gemm)
    check_case("grad_weight", 2, name, x_shape, w_shape, kw, dtype)


# the forward's implicit GEMM on the whole grid and on shapes that reach
# its edges: several K slices (K > 128), several row blocks, computed rows
# much wider than the output, a phase copy past the input on every side
FWD_CASES = [
    ("kslices_stride2", (2, 40, 11, 12), (20, 40, 3, 4), dict(stride=2, padding=1)),
    ("row_blocks", (1, 3, 70, 90), (40, 3, 3, 3), dict(padding=1)),
    ("stem_like", (2, 3, 30, 29), (16, 3, 7, 7), dict(stride=2, padding=3)),
    ("wide_kernel_rows", (3, 2, 5, 40), (5, 2, 2, 9), dict(dilation=(1, 3), padding=(0, 5))),
    ("stride3_dil2", (2, 4, 20, 19), (6, 4, 3, 3), dict(stride=3, dilation=2, padding=4)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in CASES_2D + FWD_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv2d_fwd_implicit_matches_packed_bitwise(kernel_set, fwd_implicit, dtype, case):
    """Read in place or packed, the forward runs the same ukernel sums in
    the same order: the same bits; and both match the oracle."""
    name, x_shape, w_shape, kw = case
    data = case_data(2, name, x_shape, w_shape, kw, dtype)
    got = {}
    for implicit in (False, True):
        fwd_implicit(implicit)
        got[implicit] = call(convcore, "fwd_bias", 2, *data, kw)[0]
    assert np.array_equal(got[True], got[False])
    assert_matches(got[True], reference("fwd_bias", 2, name, data, kw, dtype)[0], dtype)


# pixel rows: in place (no padding, stride 1) and from phase copies, the
# half-width kernel (few channels) and several full-width channel blocks,
# a short last block of images, groups, several K slices, one channel
PIX_CASES = [
    ("lenet_c3_like", (5, 6, 14, 14), (16, 6, 5, 5), {}),
    ("pix_stride_pad", (3, 4, 13, 11), (12, 4, 3, 3), dict(stride=2, padding=1)),
    ("pix_groups", (3, 8, 9, 9), (20, 4, 3, 3), dict(groups=2, padding=1)),
    ("pix_dilated_inplace", (2, 3, 15, 15), (9, 3, 3, 3), dict(dilation=2)),
    ("pix_blocks", (2, 5, 10, 10), (70, 5, 3, 3), dict(padding=2)),
    ("pix_kslices", (3, 40, 8, 8), (16, 40, 2, 2), {}),
    ("pix_one_channel", (4, 3, 9, 9), (1, 3, 4, 4), {}),
    ("pix_chunks", (2, 2, 70, 70), (40, 2, 3, 3), dict(stride=2)),
    # "same" with even kernels: no padding on top/left, some on bottom/right
    ("pix_same_even", (2, 3, 6, 7), (16, 3, 2, 2), dict(padding="same")),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0])
                                  for c in CASES_2D + FWD_CASES + PIX_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv2d_fwd_pixels_matches_packed_bitwise(kernel_set, fwd_pixels, fwd_implicit,
                                                  dtype, case):
    """Pixel rows run the same sums in the same order as the packed path,
    transposed: the same bits, wherever they apply; and the oracle."""
    name, x_shape, w_shape, kw = case
    data = case_data(2, name, x_shape, w_shape, kw, dtype)
    fwd_implicit(False)
    got = {}
    for pixels in (False, True):
        fwd_pixels(pixels)
        got[pixels] = call(convcore, "fwd_bias", 2, *data, kw)[0]
    assert np.array_equal(got[True], got[False])
    assert_matches(got[True], reference("fwd_bias", 2, name, data, kw, dtype)[0], dtype)


def _same_bits_on_1_to_3_threads(call):
    """call() on 1, 2 and 3 threads (under restore_threads): the same bits
    each time; returns the result."""
    got = []
    for n in (1, 2, 3):
        convcore.set_num_threads(n)
        got.append(call())
    assert all(np.array_equal(g, got[0]) for g in got[1:])
    return got[0]


def test_conv2d_fwd_pixels_threads_bitwise(restore_threads):
    """The blocks of images depend on the threads, the sums do not."""
    r = _rng("fwd-pixels")
    x = r.standard_normal((13, 6, 14, 14)).astype(np.float32)
    w = r.standard_normal((16, 6, 5, 5)).astype(np.float32)
    b = r.standard_normal(16).astype(np.float32)
    for nt in (1, 2, 3):
        assert _conv.fwd_path(x.shape, w.shape, threads=nt) == "pixels"
    out = _same_bits_on_1_to_3_threads(lambda: convcore.conv2d(x, w, b))
    np.testing.assert_allclose(out, ref.conv2d(x, w, b), rtol=1e-4, atol=1e-4)


def test_conv2d_fwd_implicit_rule():
    """The rule: strided layers by pixel rows; else the implicit GEMM where
    the computed rows waste at most 1/8 (CIFAR's first layer), not LeNet's
    5x5 on 14x14 (10 of 14 columns kept: pixel rows), never 1x1 (its
    columns are input rows: packed), never with fewer than two images per
    thread."""
    def rule(x_shape, w_shape, **kw):
        return _conv.fwd_path(x_shape, w_shape, **kw)
    assert rule((64, 3, 32, 32), (32, 3, 3, 3), padding=1, threads=1) == "implicit"
    # strided layers: pixel rows (ResNet's stem and its stride-2 3x3)
    assert rule((8, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3, threads=2) == "pixels"
    assert rule((8, 64, 56, 56), (128, 64, 3, 3), stride=2, padding=1, threads=2) == "pixels"
    # pixel rows: at most NR output channels (NR = 32 on AVX-512, 16 on
    # AVX2), where the implicit GEMM does not take it, two images a thread
    nr = int(_conv.kernel_info()["float32"]["pixels"].split(",")[0].split("x")[1])
    assert rule((64, 6, 14, 14), (16, 6, 5, 5), threads=1) == "pixels"
    assert rule((64, 6, 14, 14), (nr, 6, 5, 5), threads=2) == "pixels"
    assert rule((64, 6, 14, 14), (nr + 1, 6, 5, 5), threads=1) == "packed"
    assert rule((3, 6, 14, 14), (16, 6, 5, 5), threads=2) == "packed"
    assert rule((8, 64, 56, 56), (64, 64, 1, 1), threads=1) == "packed"
    assert rule((3, 3, 32, 32), (32, 3, 3, 3), padding=1, threads=2) == "packed"
    # a phase copy over IMPLICIT_BYTES
    assert rule((8, 256, 200, 200), (8, 256, 3, 3), stride=2, threads=1) == "packed"


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0])
                                  for c in CASES_2D + FWD_CASES + WGRAD_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv2d_grad_weight_implicit(kernel_set, wgrad_implicit, dtype, case):
    """The weight gradient with its columns read in place, wherever it
    applies (1x1 layers keep their own path), against the oracle."""
    name, x_shape, w_shape, kw = case
    wgrad_implicit(True)
    check_case("grad_weight", 2, name, x_shape, w_shape, kw, dtype)


def test_conv2d_grad_weight_implicit_bits_and_rule(restore_threads, wgrad_implicit):
    """Images go to fixed slots summed in order: the same bits on 1, 2 and
    3 threads, with more images than slots (11 > 8) and groups; and the
    rule takes it at 128 output channels a group, not at 64."""
    r = _rng("wgrad-implicit")
    x = r.standard_normal((11, 8, 13, 24)).astype(np.float32)
    go = r.standard_normal((11, 256, 7, 12)).astype(np.float32)
    kw = dict(stride=2, padding=1, groups=2)
    got = [_same_bits_on_1_to_3_threads(
        lambda: convcore.conv2d_grad_weight(go, x, (256, 4, 3, 3), **kw))]
    wgrad_implicit(True)
    assert np.array_equal(convcore.conv2d_grad_weight(go, x, (256, 4, 3, 3), **kw), got[0])
    wgrad_implicit(False)
    assert not np.array_equal(convcore.conv2d_grad_weight(go, x, (256, 4, 3, 3), **kw), got[0])
    wgrad_implicit(None)
    few = convcore.conv2d_grad_weight(go[:, :128], x, (128, 4, 3, 3), **kw)
    wgrad_implicit(False)
    assert np.array_equal(convcore.conv2d_grad_weight(go[:, :128], x, (128, 4, 3, 3), **kw), few)


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0])
                                  for c in CASES_2D + FWD_CASES + PIX_CASES + WGRAD_CASES])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_conv2d_grad_weight_pixels(kernel_set, wgrad_pixels, dtype, case):
    """The weight gradient by pixel rows, wherever they apply (at most NR
    output channels a group; other layers keep their paths), against the
    oracle."""
    name, x_shape, w_shape, kw = case
    wgrad_pixels(True)
    check_case("grad_weight", 2, name, x_shape, w_shape, kw, dtype)


def test_conv2d_grad_weight_pixels_bits_and_rule(restore_threads, wgrad_pixels):
    """Images go to fixed slots summed in order: the same bits on 1, 2 and
    3 threads, with more images than slots (11 > 8), padding and groups;
    and the rule takes LeNet's second layer and a stem-like 7x7 stride-2
    layer (64 channels, several chunks of pixels and channel blocks), not
    LeNet's first (6 channels, K = 25)."""
    r = _rng("wgrad-pixels")
    x = r.standard_normal((11, 12, 13, 13)).astype(np.float32)
    go = r.standard_normal((11, 32, 7, 7)).astype(np.float32)
    kw = dict(stride=2, padding=1, groups=2)
    got = [_same_bits_on_1_to_3_threads(
        lambda: convcore.conv2d_grad_weight(go, x, (32, 6, 3, 3), **kw))]
    wgrad_pixels(True)
    assert np.array_equal(convcore.conv2d_grad_weight(go, x, (32, 6, 3, 3), **kw), got[0])
    wgrad_pixels(False)
    other = convcore.conv2d_grad_weight(go, x, (32, 6, 3, 3), **kw)
    assert not np.array_equal(other, got[0])
    assert_matches(got[0], other.astype(np.float64), np.float32)
    wgrad_pixels(None)
    for x_shape, w_shape, kw, pixels in (
            ((64, 6, 14, 14), (16, 6, 5, 5), {}, True),
            ((2, 3, 70, 70), (64, 3, 7, 7), dict(stride=2, padding=3), True),
            ((64, 1, 32, 32), (6, 1, 5, 5), {}, False)):
        xs = r.standard_normal(x_shape).astype(np.float32)
        ys = ref.conv2d(xs, r.standard_normal(w_shape), None, **kw)
        gs = r.standard_normal(ys.shape).astype(np.float32)
        a = convcore.conv2d_grad_weight(gs, xs, w_shape, **kw)
        wgrad_pixels(pixels)
        assert np.array_equal(convcore.conv2d_grad_weight(gs, xs, w_shape, **kw), a)
        wgrad_pixels(not pixels)
        assert not np.array_equal(convcore.conv2d_grad_weight(gs, xs, w_shape, **kw), a)
        wgrad_pixels(None)


@pytest.mark.parametrize("x_shape,w_shape,s,p,d,groups", [
    ((2, 5, 9, 8), (7, 5, 3, 3), 2, 1, 1, 1),        # direct, strided
    ((1, 3, 10, 11), (4, 3, 3, 3), 3, 0, 1, 1),      # direct, rows no window reaches
    ((2, 6, 7, 7), (5, 6, 1, 1), 1, 0, 1, 1),        # direct, 1x1
    ((1, 16, 10, 10), (16, 16, 3, 3), 1, 1, 1, 1),   # Winograd
    ((2, 4, 11, 12), (4, 1, 3, 3), 1, 1, 1, 4),      # depthwise taps
    ((1, 3, 10, 10), (6, 1, 3, 3), 2, 1, 1, 3),      # depthwise, strided
    ((1, 2, 4, 5), (4, 1, 2, 3), 1, 3, 1, 2),        # depthwise, padding past the kernel
])
def test_conv2d_bwd_data_overwrites_its_output(x_shape, w_shape, s, p, d, groups):
    """The driver writes every input-gradient pixel: an output full of NaN
    comes back equal to the oracle on every path."""
    r = _rng("bwd-data-overwrite")
    x = r.standard_normal(x_shape).astype(np.float32)
    w = r.standard_normal(w_shape).astype(np.float32)
    go = r.standard_normal(ref.conv2d(x, w, None, stride=s, padding=p, dilation=d,
                                      groups=groups).shape).astype(np.float32)
    gin = np.full(x_shape, np.nan, dtype=np.float32)
    _conv.conv2d_bwd_data(go, w, gin, s, s, p, p, d, d, groups)
    want = ref.conv2d_grad_input(go, w, x_shape, stride=s, padding=p, dilation=d,
                                 groups=groups)
    assert_matches(gin, want, np.float32)


def test_conv2d_grad_weight_rule(wgrad):
    """The default rule picks the gemm kernel where it measured faster,
    and both kernels give the same sums (to rounding) there."""
    x = _rng(7).standard_normal((2, 130, 9, 11)).astype(np.float32)
    go = _rng(8).standard_normal((2, 131, 9, 11)).astype(np.float32)
    got = convcore.conv2d_grad_weight(go, x, (131, 130, 1, 1))
    wgrad(True)
    assert np.array_equal(got, convcore.conv2d_grad_weight(go, x, (131, 130, 1, 1)))
    wgrad(False)
    dot = convcore.conv2d_grad_weight(go, x, (131, 130, 1, 1))
    assert not np.array_equal(got, dot)
    assert_matches(dot, got.astype(np.float64), np.float32)


# ---------------------------------------------------------------------------
# the grid: 1-D (served by the 2-D drivers with H = 1)
# ---------------------------------------------------------------------------

CASES_1D = [
    ("basic", (2, 3, 11), (5, 3, 3), {}),
    ("stride2_pad", (1, 4, 15), (6, 4, 5), dict(stride=2, padding=2)),
    ("dilation3", (2, 3, 20), (4, 3, 3), dict(dilation=3, padding=1)),
    ("groups3", (1, 6, 12), (9, 2, 3), dict(groups=3)),
    ("depthwise_m2", (2, 4, 13), (8, 1, 3), dict(groups=4, padding=1)),
    ("same_even", (1, 3, 10), (5, 3, 4), dict(padding="same")),
    ("same_dilation", (1, 3, 10), (5, 3, 3), dict(padding="same", dilation=2)),
    ("valid_out1", (1, 3, 7), (4, 3, 7), dict(padding="valid")),
    ("unbatched_tuple_args", (3, 12), (5, 3, 3), dict(padding=(1,), stride=(2,))),
    ("oc14_l35", (1, 2, 37), (14, 2, 3), {}),
    ("k1_stride3", (2, 5, 9), (3, 5, 1), dict(stride=3)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in CASES_1D])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", OPS)
def test_conv1d_grid(kernel_set, op, dtype, case):
    name, x_shape, w_shape, kw = case
    check_case(op, 1, name, x_shape, w_shape, kw, dtype)


# ---------------------------------------------------------------------------
# larger random shapes
# ---------------------------------------------------------------------------

LARGE = [
    # many k-rows and OC not a multiple of any tile
    ("c64_oc70_20x20", 2, (1, 64, 20, 20), (70, 64, 3, 3), dict(padding=1)),
    # N*OH*OW = 3600 > 2048: bwd_weights runs several pixel chunks and splits
    ("wgrad_chunks", 2, (4, 3, 30, 30), (8, 3, 3, 3), dict(padding=1)),
    # several k blocks and pixel chunks at once, with stride and dilation
    ("wgrad_chunks_kblocks", 2, (3, 16, 29, 29), (10, 16, 3, 3),
     dict(padding=2, dilation=2)),
    ("groups4", 2, (2, 32, 17, 17), (48, 8, 3, 3), dict(groups=4, padding=1, stride=2)),
    ("depthwise", 2, (2, 16, 15, 17), (32, 1, 3, 3), dict(groups=16, padding=1)),
    ("conv1d_chunks", 1, (4, 16, 600), (20, 16, 5), dict(padding=2)),
    # small planes: bwd_data groups images per task (4 + 3, 6 + 5, 5 + 4)
    ("bwd_data_image_groups", 2, (7, 6, 12, 12), (10, 6, 3, 3), dict(padding=1)),
    ("bwd_data_image_groups_strided", 2, (11, 8, 13, 11), (12, 4, 3, 2),
     dict(groups=2, stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    ("conv1d_image_groups", 1, (9, 5, 100), (7, 5, 3), dict(padding=1)),
    # K = 1080 rows of W^T: bwd_data reads dout from packed panels
    ("bwd_data_panels", 2, (2, 120, 23, 25), (21, 120, 3, 3), dict(padding=1)),
    # 1x1 with W^T of 1024 rows: panels, tiles written straight into gin
    ("bwd_data_pointwise_panels", 2, (2, 1024, 5, 7), (40, 1024, 1, 1), {}),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in LARGE])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_large_shapes(kernel_set, dtype, case):
    name, nd, x_shape, w_shape, kw = case
    data = case_data(nd, name, x_shape, w_shape, kw, dtype)
    fwd_ref, = reference("fwd_bias", nd, name, data, kw, dtype)
    gx_ref, gw_ref, gb_ref = reference("backward", nd, name, data, kw, dtype)
    x, w, b, go = data
    fwd, bwd, gin, gwt = (getattr(convcore, n) for n in _names(nd))
    assert_matches(fwd(x, w, b, **kw), fwd_ref, dtype)
    gx, gw, gb = bwd(go, x, w, **kw)
    assert_matches(gx, gx_ref, dtype)
    assert_matches(gw, gw_ref, dtype)
    assert_matches(gb, gb_ref, dtype)
    assert_matches(gin(go, w, x.shape, **kw), gx_ref, dtype)
    assert_matches(gwt(go, x, w.shape, **kw), gw_ref, dtype)


# ---------------------------------------------------------------------------
# non-contiguous inputs
# ---------------------------------------------------------------------------

def _view(a, kind):
    """A view with the values of `a` and the layout `kind` (never C order)."""
    if kind == "transposed":
        if a.ndim < 2:
            v = np.ascontiguousarray(np.stack([a, a], axis=1)).T[0]
        else:
            v = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
    elif kind == "sliced":
        if a.ndim < 2:
            big = np.zeros(2 * a.shape[0] + 1, a.dtype)
            v = big[1::2]
        else:
            big = np.zeros(a.shape[:-2] + (2 * a.shape[-2], a.shape[-1] + 1), a.dtype)
            v = big[..., ::2, 1:]
        v[...] = a
    elif kind == "negative":
        v = a[..., ::-1].copy()[..., ::-1]
    elif kind == "fortran":
        v = np.asfortranarray(a)
        if a.ndim < 2:  # a 1-D array is both; use a strided view instead
            v = np.repeat(a, 3)[::3]
    else:
        raise AssertionError(kind)
    assert np.array_equal(v, a)
    assert not v.flags.c_contiguous or a.size <= 1
    return v


NONCONTIG_CASES = [
    ("groups_stride", 2, (2, 4, 9, 8), (6, 2, 3, 3), dict(groups=2, stride=(2, 1), padding=1)),
    ("depthwise", 2, (2, 3, 8, 8), (6, 1, 3, 3), dict(groups=3, padding=1)),
    ("conv1d", 1, (2, 3, 14), (5, 3, 3), dict(stride=2, padding=1)),
]
OP_ARGS = [("fwd_bias", "input"), ("fwd_bias", "weight"), ("fwd_bias", "bias"),
           ("backward", "grad_output"), ("backward", "input"), ("backward", "weight"),
           ("grad_input", "grad_output"), ("grad_input", "weight"),
           ("grad_weight", "grad_output"), ("grad_weight", "input")]


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in NONCONTIG_CASES])
@pytest.mark.parametrize("kind", ["transposed", "sliced", "negative", "fortran"])
@pytest.mark.parametrize("op_arg", OP_ARGS, ids=lambda oa: f"{oa[0]}-{oa[1]}")
def test_non_contiguous_inputs(case, kind, op_arg):
    name, nd, x_shape, w_shape, kw = case
    op, arg = op_arg
    data = case_data(nd, name, x_shape, w_shape, kw, np.float32)
    expected = call(convcore, op, nd, *data, kw)
    i = ["input", "weight", "bias", "grad_output"].index(arg)
    args = list(data)
    args[i] = _view(args[i], kind)
    got = call(convcore, op, nd, *args, kw)
    for j, (g, e) in enumerate(zip(got, expected)):
        assert g.flags.c_contiguous
        assert g.dtype == np.float32
        if op == "backward" and j == 2:
            # grad_bias: see test_grad_bias_does_not_depend_on_layout
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
        else:
            assert np.array_equal(g, e)


@pytest.mark.parametrize("kind", ["transposed", "fortran"])
def test_grad_bias_does_not_depend_on_layout(kind):
    # Every other result of convcore is computed from a C-contiguous copy,
    # so its bits do not depend on the caller's memory layout; grad_bias is
    # go.sum() over the caller's array, whose summation order (and so its
    # float32 rounding) follows the strides of grad_output.
    name, nd, x_shape, w_shape, kw = NONCONTIG_CASES[0]
    x, w, b, go = case_data(nd, name, x_shape, w_shape, kw, np.float32)
    gb = convcore.conv2d_backward(go, x, w, **kw)[2]
    gb_view = convcore.conv2d_backward(_view(go, kind), x, w, **kw)[2]
    assert np.array_equal(gb_view, gb), (gb_view - gb)


def test_output_layout_and_dtype_all_ops():
    for nd, name, xs, ws, kw in [(2, "groups_stride", (2, 4, 9, 8), (6, 2, 3, 3),
                                  dict(groups=2, stride=(2, 1), padding=1)),
                                 (2, "unbatched", (3, 8, 9), (4, 3, 3, 3), dict(padding=1))]:
        for dt in DTYPES:
            data = case_data(nd, name, xs, ws, kw, dt)
            for op in OPS:
                for r in call(convcore, op, nd, *data, kw):
                    assert r.flags.c_contiguous
                    assert r.dtype == np.dtype(dt)


# ---------------------------------------------------------------------------
# dtype rules
# ---------------------------------------------------------------------------

def _small(dtype_x, dtype_w, dtype_b=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 6, 7)) * 3
    x = (np.abs(x) if np.dtype(dtype_x).kind == "u" else x).astype(dtype_x)
    w = (rng.standard_normal((4, 3, 3, 3)) * 3).astype(dtype_w)
    b = None if dtype_b is None else (rng.standard_normal(4) * 3).astype(dtype_b)
    go = (rng.standard_normal((2, 4, 4, 5)) * 3).astype(
        np.result_type(dtype_x, dtype_w) if dtype_b is None else dtype_b)
    return x, w, b, go


def _all_ops(x, w, b, go):
    out = [convcore.conv2d(x, w, b)]
    out += list(convcore.conv2d_backward(go, x, w))
    out += [convcore.conv2d_grad_input(go, w, x.shape),
            convcore.conv2d_grad_weight(go, x, w.shape)]
    return out


def test_dtype_float32_stays_float32():
    x, w, b, go = _small(np.float32, np.float32, np.float32)
    for r in _all_ops(x, w, b, go):
        assert r.dtype == np.float32


@pytest.mark.parametrize("which", ["input", "weight", "bias", "grad_output"])
def test_dtype_float64_anywhere_gives_float64(which):
    x, w, b, go = _small(np.float32, np.float32, np.float32)
    if which == "input":
        x = x.astype(np.float64)
    elif which == "weight":
        w = w.astype(np.float64)
    elif which == "bias":
        b = b.astype(np.float64)
    else:
        go = go.astype(np.float64)
    out = convcore.conv2d(x, w, b)
    assert out.dtype == np.dtype(np.float64 if which != "grad_output" else np.float32)
    expected = ref.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(out, expected, **_tol(out.dtype, expected))
    gx, gw, gb = convcore.conv2d_backward(go, x, w)
    if which in ("input", "weight", "grad_output"):
        for r in (gx, gw, gb):
            assert r.dtype == np.float64
        egx, egw, egb = ref.conv2d_backward(go.astype(np.float64), x.astype(np.float64),
                                            w.astype(np.float64))
        np.testing.assert_allclose(gx, egx, **_tol(np.float64, egx))
        np.testing.assert_allclose(gw, egw, **_tol(np.float64, egw))
        np.testing.assert_allclose(gb, egb, **_tol(np.float64, egb))


def test_dtype_float32_input_float64_weight():
    x, w, b, go = _small(np.float32, np.float64)
    out = convcore.conv2d(x, w)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, ref.conv2d(x.astype(np.float64), w), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("dtypes", [(np.float16, np.float16), (np.float16, np.float32),
                                    (np.float32, np.float16)], ids=str)
def test_dtype_float16_computed_as_float32(dtypes):
    x, w, b, go = _small(*dtypes, dtype_b=np.float16)
    for r in _all_ops(x, w, b, go):
        assert r.dtype == np.float32
    expected = ref.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    got = convcore.conv2d(x, w, b)
    np.testing.assert_allclose(got, expected, **_tol(np.float32, expected))


@pytest.mark.parametrize("dtypes", [(np.int64, np.int64), (np.int32, np.int8),
                                    (np.uint8, np.int16), (np.int32, np.float32),
                                    (np.int64, np.float64)], ids=str)
def test_dtype_integers_computed_as_float64(dtypes):
    x, w, b, go = _small(*dtypes, dtype_b=np.int64)
    for r in _all_ops(x, w, b, go):
        assert r.dtype == np.float64
    got = convcore.conv2d(x, w, b)
    expected = ref.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    if np.dtype(dtypes[1]).kind in "iu":
        np.testing.assert_array_equal(got, expected)  # small integers: exact
    else:
        np.testing.assert_allclose(got, expected, **_tol(np.float64, expected))


def test_dtype_small_int_with_float32_follows_result_type():
    # np.result_type(int8, float32) is float32, and so is the oracle's dtype
    x, w, b, go = _small(np.int8, np.float32)
    out = convcore.conv2d(x, w)
    assert out.dtype == ref.conv2d(x, w).dtype == np.result_type(np.int8, np.float32)


def test_lists_accepted():
    x, w, b, go = _small(np.float64, np.float64, np.float64)
    np.testing.assert_array_equal(convcore.conv2d(x.tolist(), w.tolist(), b.tolist()),
                                  convcore.conv2d(x, w, b))
    for got, exp in zip(convcore.conv2d_backward(go.tolist(), x.tolist(), w.tolist()),
                        convcore.conv2d_backward(go, x, w)):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, exp)
    np.testing.assert_array_equal(
        convcore.conv2d_grad_input(go.tolist(), w.tolist(), list(x.shape)),
        convcore.conv2d_grad_input(go, w, x.shape))
    np.testing.assert_array_equal(
        convcore.conv2d_grad_weight(go.tolist(), x.tolist(), list(w.shape)),
        convcore.conv2d_grad_weight(go, x, w.shape))
    x1, w1 = x[:, :, 0], w[:, :, 0]
    np.testing.assert_array_equal(convcore.conv1d(x1.tolist(), w1.tolist(), list(b)),
                                  convcore.conv1d(x1, w1, b))
    # nested ints: float64
    assert convcore.conv1d([[[1, 2, 3, 4]]], [[[1, 1]]]).dtype == np.float64
    np.testing.assert_array_equal(convcore.conv1d([[[1, 2, 3, 4]]], [[[1, 1]]]),
                                  [[[3.0, 5.0, 7.0]]])


# ---------------------------------------------------------------------------
# gradients of the fast path by central differences (float64)
# ---------------------------------------------------------------------------

GRAD_CASES = [
    ("stride2_pad1", 2, (2, 3, 7, 8), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ("dilation_pad", 2, (1, 2, 9, 9), (3, 2, 3, 2), dict(dilation=(2, 3), padding=(2, 1))),
    ("groups2", 2, (1, 6, 6, 7), (4, 3, 3, 3), dict(groups=2, stride=(1, 2))),
    ("depthwise_m2", 2, (2, 3, 7, 7), (6, 1, 3, 3), dict(groups=3, padding=1, stride=2)),
    ("same_even", 2, (1, 2, 6, 6), (3, 2, 4, 4), dict(padding="same")),
    ("unbatched", 2, (3, 6, 6), (2, 3, 3, 3), {}),
    ("conv1d", 1, (2, 3, 11), (4, 3, 3), dict(stride=2, padding=1, dilation=2)),
    ("conv1d_depthwise", 1, (1, 4, 10), (8, 1, 3), dict(groups=4, padding="same")),
]


def _fd(loss, a, idx, h=1e-3):
    """Central differences of loss() w.r.t. the flat entries idx of a."""
    flat = a.reshape(-1)
    g = np.empty(len(idx))
    for j, i in enumerate(idx):
        old = flat[i]
        flat[i] = old + h
        lp = loss()
        flat[i] = old - h
        lm = loss()
        flat[i] = old
        g[j] = (lp - lm) / (2 * h)
    return g


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in GRAD_CASES])
def test_gradients_central_differences(kernel_set, case):
    name, nd, x_shape, w_shape, kw = case
    rng = _rng("fd", name)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    fwd, bwd, gin, gwt = (getattr(convcore, n) for n in _names(nd))
    r = rng.standard_normal(fwd(x, w, b, **kw).shape)

    def loss():
        return float(np.sum(fwd(x, w, b, **kw) * r))

    gx, gw, gb = bwd(r, x, w, **kw)
    for a, g in ((x, gx), (w, gw), (b, gb)):
        assert g.shape == a.shape
        n = a.size
        idx = np.arange(n) if n <= 64 else rng.choice(n, 64, replace=False)
        np.testing.assert_allclose(g.reshape(-1)[idx], _fd(loss, a, idx),
                                   rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(gin(r, w, x.shape, **kw), gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gwt(r, x, w.shape, **kw), gw, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# empty batch
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("nd,x_shape,w_shape,kw,out_shape", [
    (2, (0, 3, 5, 5), (4, 3, 3, 3), {}, (0, 4, 3, 3)),
    (2, (0, 4, 6, 5), (8, 2, 3, 3), dict(groups=2, padding=1, stride=2), (0, 8, 3, 3)),
    (2, (0, 3, 5, 5), (6, 1, 3, 3), dict(groups=3, padding="same"), (0, 6, 5, 5)),
    (1, (0, 3, 9), (4, 3, 3), dict(stride=2), (0, 4, 4)),
], ids=["plain", "groups", "depthwise", "conv1d"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_batch_zero(nd, x_shape, w_shape, kw, out_shape, dtype):
    x = np.zeros(x_shape, dtype)
    w = np.ones(w_shape, dtype)
    b = np.ones(w_shape[0], dtype)
    fwd, bwd, gin, gwt = (getattr(convcore, n) for n in _names(nd))
    for out in (fwd(x, w, **kw), fwd(x, w, b, **kw)):
        assert out.shape == out_shape and out.dtype == dtype
    go = np.zeros(out_shape, dtype)
    gx, gw, gb = bwd(go, x, w, **kw)
    assert gx.shape == x_shape and gx.dtype == dtype
    assert gw.shape == w_shape and gw.dtype == dtype and not gw.any()
    assert gb.shape == (w_shape[0],) and gb.dtype == dtype and not gb.any()
    g = gin(go, w, x_shape, **kw)
    assert g.shape == x_shape and g.dtype == dtype
    g = gwt(go, x, w_shape, **kw)
    assert g.shape == w_shape and g.dtype == dtype and not g.any()
