"""pytest-benchmark suite: convcore vs PyTorch vs plain NumPy on workload.LAYERS.

    PYTHONPATH=/work/main pytest benchmarks/ [--cc-threads 1,2] [--cc-dtype float64]
        [--cc-all-reference] [-k "resnet_3x3_28 and fwd"] [--benchmark-json out.json]

One case per layer x pass (fwd, bwd_data, bwd_weights) x contender x thread
count, with ids like ``resnet_3x3_28-fwd-convcore-t1``. Contenders:

    convcore       convcore.conv2d / conv2d_grad_input / conv2d_grad_weight
    torch          torch.nn.functional.conv2d and aten.convolution_backward,
                   under torch.no_grad() (skipped when torch is not installed)
    numpy_im2col   vectorized plain NumPy written here: sliding_window_view
                   over the padded input + tensordot/einsum (col2im for bwd_data)
    numpy_loops    convcore.reference, the loop oracle (only on workload.SMALL
                   unless --cc-all-reference)

Cases of one layer, pass and thread count share ``benchmark.group``
(``<layer>-<pass>-t<threads>``), so pytest-benchmark's tables compare the
contenders side by side. ``extra_info`` holds ``gflops`` (workload.flops /
median) and, on convcore's cases, ``speedup_vs_<contender>`` (added in
conftest.py at the end of the run). Every call allocates its result, as the
libraries do. The NumPy contenders' results are checked against convcore's
after timing (outside the timed region).
"""
import functools
import zlib

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import convcore
from convcore import reference
from workload import LAYERS, PASSES, SMALL, Layer, flops, make_inputs, out_size

try:
    import torch
except ImportError:
    torch = None

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

CONTENDERS = ("convcore", "torch", "numpy_im2col", "numpy_loops")


# ---------------------------------------------------------------------------
# plain-NumPy im2col contender
# ---------------------------------------------------------------------------

def _windows(x, L):
    """Read-only view (N, C, OH, OW, K, K) of the padded input under each output."""
    p, span = L.pad, L.dil * (L.K - 1) + 1
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    v = sliding_window_view(xp, (span, span), axis=(2, 3))
    return v[:, :, ::L.stride, ::L.stride, ::L.dil, ::L.dil]


def im2col_fwd(x, w, b, L):
    win = _windows(x, L)
    N, C, OH, OW, K, _ = win.shape
    G = L.groups
    if G == 1:
        out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, OC)
        out = out.transpose(0, 3, 1, 2)
    else:
        wg = w.reshape(G, L.OC // G, C // G, K, K)
        win = win.reshape(N, G, C // G, OH, OW, K, K)
        out = np.einsum("ngchwij,gocij->ngohw", win, wg, optimize=True)
        out = out.reshape(N, L.OC, OH, OW)
    out = np.ascontiguousarray(out)
    if b is not None:
        out += b[:, None, None]
    return out


def im2col_bwd_weights(go, x, L):
    win = _windows(x, L)
    N, C, OH, OW, K, _ = win.shape
    G = L.groups
    if G == 1:
        return np.tensordot(go, win, axes=([0, 2, 3], [0, 2, 3]))  # (OC, C, K, K)
    gog = go.reshape(N, G, L.OC // G, OH, OW)
    win = win.reshape(N, G, C // G, OH, OW, K, K)
    gw = np.einsum("ngohw,ngchwij->gocij", gog, win, optimize=True)
    return gw.reshape(L.OC, C // G, K, K)


def im2col_bwd_data(go, w, x_shape, L):
    """col2im: columns = w^T . grad_output, scattered back with K*K strided adds."""
    N, C, H, W = x_shape
    K, s, d, p, G = L.K, L.stride, L.dil, L.pad, L.groups
    OH, OW = go.shape[2:]
    if G == 1:
        cols = np.tensordot(w, go, axes=([0], [1]))  # (C, K, K, N, OH, OW)
    else:
        wg = w.reshape(G, L.OC // G, C // G, K, K)
        gog = go.reshape(N, G, L.OC // G, OH, OW)
        cols = np.einsum("gocij,ngohw->gcijnhw", wg, gog, optimize=True)
        cols = cols.reshape(C, K, K, N, OH, OW)
    gxp = np.zeros((C, N, H + 2 * p, W + 2 * p), dtype=cols.dtype)
    for i in range(K):
        for j in range(K):
            h0, w0 = i * d, j * d
            gxp[:, :, h0:h0 + s * (OH - 1) + 1:s, w0:w0 + s * (OW - 1) + 1:s] += cols[:, i, j]
    return np.ascontiguousarray(gxp[:, :, p:p + H, p:p + W].transpose(1, 0, 2, 3))


# ---------------------------------------------------------------------------
# contenders: (layer, pass, inputs) -> zero-argument callable
# ---------------------------------------------------------------------------

def _convcore_call(L, P, x, w, b, go):
    a = dict(stride=L.stride, padding=L.pad, dilation=L.dil, groups=L.groups)
    return {
        "fwd": lambda: convcore.conv2d(x, w, b, **a),
        "bwd_data": lambda: convcore.conv2d_grad_input(go, w, x.shape, **a),
        "bwd_weights": lambda: convcore.conv2d_grad_weight(go, x, w.shape, **a),
    }[P]


def _reference_call(L, P, x, w, b, go):
    a = dict(stride=L.stride, padding=L.pad, dilation=L.dil, groups=L.groups)
    return {
        "fwd": lambda: reference.conv2d(x, w, b, **a),
        "bwd_data": lambda: reference.conv2d_grad_input(go, w, x.shape, **a),
        "bwd_weights": lambda: reference.conv2d_grad_weight(go, x, w.shape, **a),
    }[P]


def _im2col_call(L, P, x, w, b, go):
    return {
        "fwd": lambda: im2col_fwd(x, w, b, L),
        "bwd_data": lambda: im2col_bwd_data(go, w, x.shape, L),
        "bwd_weights": lambda: im2col_bwd_weights(go, x, L),
    }[P]


def _torch_call(L, P, x, w, b, go):
    tx, tw, tb, tgo = (torch.from_numpy(a) for a in (x, w, b, go))
    s, p, d = [L.stride] * 2, [L.pad] * 2, [L.dil] * 2
    cb = torch.ops.aten.convolution_backward
    return {
        "fwd": lambda: torch.nn.functional.conv2d(tx, tw, tb, s, p, d, L.groups),
        "bwd_data": lambda: cb(tgo, tx, tw, None, s, p, d, False, [0, 0], L.groups,
                               [True, False, False]),
        "bwd_weights": lambda: cb(tgo, tx, tw, None, s, p, d, False, [0, 0], L.groups,
                                  [False, True, False]),
    }[P]


CALLS = {
    "convcore": _convcore_call,
    "torch": _torch_call,
    "numpy_im2col": _im2col_call,
    "numpy_loops": _reference_call,
}


@functools.lru_cache(maxsize=1)  # cases run layer by layer: one layer's inputs live
def _inputs(name, dtype):
    L = next(L for L in LAYERS if L.name == name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # independent of run order
    return make_inputs(L, dtype, rng)


def _rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def _tol(dtype):
    return 1e-4 if np.dtype(dtype) == np.float32 else 1e-10


# ---------------------------------------------------------------------------
# parametrization
# ---------------------------------------------------------------------------

def _thread_counts(config):
    raw = config.getoption("--cc-threads")
    try:
        ts = [int(t) for t in str(raw).split(",") if t.strip()]
    except ValueError:
        raise pytest.UsageError(f"--cc-threads: expected e.g. 1,2, got {raw!r}")
    if not ts or min(ts) < 1:
        raise pytest.UsageError(f"--cc-threads: thread counts must be >= 1, got {raw!r}")
    return ts


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    all_reference = config.getoption("--cc-all-reference")
    params = []
    for L in LAYERS:
        for P in PASSES:
            for C in CONTENDERS:
                for t in _thread_counts(config):
                    marks = []
                    if C == "torch" and torch is None:
                        marks.append(pytest.mark.skip(reason="PyTorch not installed "
                                                             "(import torch failed)"))
                    if C == "numpy_loops" and L.name not in SMALL and not all_reference:
                        marks.append(pytest.mark.skip(
                            reason=f"loop reference only on workload.SMALL {SMALL}; "
                                   f"--cc-all-reference to run it on {L.name}"))
                    params.append(pytest.param((L, P, C, t), marks=marks,
                                               id=f"{L.name}-{P}-{C}-t{t}"))
    metafunc.parametrize("case", params)


@pytest.fixture
def threads(case):
    """Set every pool the case may use to the case's thread count, and restore."""
    t = case[3]
    convcore.set_num_threads(t)
    old_torch = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(t)
    limiter = threadpool_limits(limits=t, user_api="blas") if threadpool_limits else None
    try:
        yield t
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        if torch is not None:
            torch.set_num_threads(old_torch)
        convcore.set_num_threads(None)


# ---------------------------------------------------------------------------
# correctness of the hand-written contender (runs even under --benchmark-only)
# ---------------------------------------------------------------------------

_CHECK_LAYERS = [
    Layer("lenet_c1_n4", 4, 1, 32, 6, 5, 1, 0, 1, 1),        # lenet_c1, smaller batch
    Layer("strided_dilated_odd", 2, 4, 11, 6, 3, 2, 2, 2, 1),  # stride/dil, ragged edge
    Layer("grouped_s2", 2, 6, 9, 4, 3, 2, 1, 1, 2),
    Layer("depthwise", 2, 8, 10, 8, 3, 1, 1, 1, 8),
]


@pytest.mark.cc_check
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("L", _CHECK_LAYERS, ids=lambda L: L.name)
def test_numpy_im2col_matches_reference(L, dtype):
    x, w, b, go = make_inputs(L, dtype, np.random.default_rng(1))
    assert go.shape[2:] == (out_size(L), out_size(L))
    a = dict(stride=L.stride, padding=L.pad, dilation=L.dil, groups=L.groups)
    pairs = {
        "fwd": (im2col_fwd(x, w, b, L), reference.conv2d(x, w, b, **a)),
        "bwd_data": (im2col_bwd_data(go, w, x.shape, L),
                     reference.conv2d_grad_input(go, w, x.shape, **a)),
        "bwd_weights": (im2col_bwd_weights(go, x, L),
                        reference.conv2d_grad_weight(go, x, w.shape, **a)),
    }
    for P, (got, want) in pairs.items():
        assert got.shape == want.shape, P
        assert got.dtype == want.dtype, P
        assert got.flags.c_contiguous, P
        assert _rel_err(got, want) < _tol(dtype), (P, _rel_err(got, want))


# ---------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------

def test_conv(benchmark, case, threads, request):
    L, P, C, t = case
    dtype = request.config.getoption("--cc-dtype")
    x, w, b, go = _inputs(L.name, dtype)
    fn = CALLS[C](L, P, x, w, b, go)

    benchmark.group = f"{L.name}-{P}-t{t}"
    benchmark.extra_info.update(layer=L.name, contender=C, threads=t, dtype=dtype,
                                flops=flops(L))
    benchmark.extra_info["pass"] = P
    if C == "torch":
        with torch.no_grad():
            result = benchmark(fn)
    else:
        result = benchmark(fn)

    stats = getattr(benchmark, "stats", None)  # None under --benchmark-disable
    if stats is not None and stats.stats.rounds:
        benchmark.extra_info["gflops"] = round(flops(L) / stats.stats.median / 1e9, 3)

    if C.startswith("numpy_"):  # untimed: the NumPy contenders compute the right thing
        want = _convcore_call(L, P, x, w, b, go)()
        assert result.shape == want.shape and result.dtype == want.dtype
        # long float32 reductions (bwd_weights sums N*OH*OW terms): looser bound
        assert _rel_err(result, want) < 10 * _tol(dtype), _rel_err(result, want)
