"""Threads: OpenMP on, thread-count control, results that do not depend on
the thread count (bit for bit), and the GIL released around the kernels."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import convcore
from convcore import _openmp

# thread counts mean nothing in a serial build (CONVCORE_NO_OPENMP=1): the
# tests about them say so instead of failing; test_openmp_enabled still fails
# there, on purpose, since a normal build must have OpenMP
needs_openmp = pytest.mark.skipif(
    not _openmp.openmp_enabled(),
    reason="serial build (no OpenMP): every call runs on one thread")

DTYPES = [np.float32, np.float64]
# compared with 1 thread: 2 and 3 split work unevenly; 8 gives most drivers
# more threads than tasks along some axis
THREAD_COUNTS = (2, 3, 8)

# Shapes that make every driver cut its work into several tasks.
SPLIT_CASES = [
    # fwd: N*G*pixel tiles; bwd_data: N*G*channel blocks
    ("n2_c8_40x40", (2, 8, 40, 40), (16, 8, 3, 3), dict(padding=1)),
    # a single image: all the splitting is within it
    ("n1_stride2", (1, 8, 40, 40), (16, 8, 3, 3), dict(padding=1, stride=2)),
    ("groups2", (2, 8, 33, 31), (12, 4, 3, 3), dict(padding=1, groups=2)),
    # depthwise drivers (tasks per plane / per output channel)
    ("depthwise_m2", (2, 8, 40, 40), (16, 1, 3, 3), dict(padding=1, groups=8)),
    # K = 25 k-rows only: the weight gradient splits over pixel chunks
    ("lenet_conv1", (16, 1, 28, 28), (6, 1, 5, 5), {}),
    ("conv1d", (4, 6, 700), (10, 6, 5), dict(padding=2)),
]


def _run_all(x, w, go, kw):
    if x.ndim == 3:
        fwd, bwd, gin, gwt = (convcore.conv1d, convcore.conv1d_backward,
                              convcore.conv1d_grad_input, convcore.conv1d_grad_weight)
    else:
        fwd, bwd, gin, gwt = (convcore.conv2d, convcore.conv2d_backward,
                              convcore.conv2d_grad_input, convcore.conv2d_grad_weight)
    return [fwd(x, w, **kw), gin(go, w, x.shape, **kw), gwt(go, x, w.shape, **kw),
            *bwd(go, x, w, **kw)]


@pytest.mark.parametrize("case", SPLIT_CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_bitwise_identical_across_thread_counts(kernel_set, restore_threads, dtype, case):
    name, x_shape, w_shape, kw = case
    rng = np.random.default_rng(len(name))
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    convcore.set_num_threads(1)
    fwd = convcore.conv2d if len(x_shape) == 4 else convcore.conv1d
    go = rng.standard_normal(fwd(x, w, **kw).shape).astype(dtype)
    serial = _run_all(x, w, go, kw)
    for n in THREAD_COUNTS:
        convcore.set_num_threads(n)
        assert convcore.get_num_threads() == (n if _openmp.openmp_enabled() else 1)
        for what, a, b in zip(["fwd", "grad_input", "grad_weight", "bwd.gx",
                               "bwd.gw", "bwd.gb"], serial, _run_all(x, w, go, kw)):
            assert np.array_equal(a, b), f"{what} differs between 1 and {n} threads"


# every other op with a parallel driver: pooling forward and backward (with
# and without indices, 1-D, adaptive), activations, linear, softmax, loss
def _other_ops(x, x1, z, t, dtype):
    rng = np.random.default_rng(7)
    cc = convcore
    mp, mi = cc.max_pool2d(x, 3, 2, 1, return_indices=True)
    mp1, mi1 = cc.max_pool1d(x1, 3, 2, 1, return_indices=True)
    ap, ap1 = cc.avg_pool2d(x, 3, 2, 1), cc.avg_pool1d(x1, 4, 3, 1)
    aa = cc.adaptive_avg_pool2d(x, (5, 7))
    gmp, gap, gaa = (rng.standard_normal(a.shape).astype(dtype) for a in (mp, ap, aa))
    gmp1, gap1 = (rng.standard_normal(a.shape).astype(dtype) for a in (mp1, ap1))
    wl = rng.standard_normal((33, z.shape[1])).astype(dtype)
    gl = rng.standard_normal((z.shape[0], 33)).astype(dtype)
    s, th = cc.sigmoid(x), cc.tanh(x)
    return {
        "max_pool2d": mp, "max_pool2d.indices": mi,
        "max_pool2d 2x2": cc.max_pool2d(x, 2),
        "max_pool2d_backward(indices)": cc.max_pool2d_backward(gmp, x, 3, 2, 1, indices=mi),
        "max_pool2d_backward": cc.max_pool2d_backward(gmp, x, 3, 2, 1),
        "max_pool1d": mp1, "max_pool1d.indices": mi1,
        "max_pool1d_backward": cc.max_pool1d_backward(gmp1, x1, 3, 2, 1, indices=mi1),
        "avg_pool2d": ap, "avg_pool2d 2x2": cc.avg_pool2d(x, 2),
        "avg_pool2d_backward": cc.avg_pool2d_backward(gap, x.shape, 3, 2, 1),
        "avg_pool1d": ap1,
        "avg_pool1d_backward": cc.avg_pool1d_backward(gap1, x1.shape, 4, 3, 1),
        "adaptive_avg_pool2d": aa,
        "adaptive_avg_pool2d_backward": cc.adaptive_avg_pool2d_backward(gaa, x.shape),
        "relu": cc.relu(x), "relu_backward": cc.relu_backward(s, x),
        "leaky_relu": cc.leaky_relu(x), "leaky_relu_backward": cc.leaky_relu_backward(s, x),
        "sigmoid": s, "sigmoid_backward": cc.sigmoid_backward(x, s),
        "tanh": th, "tanh_backward": cc.tanh_backward(x, th),
        "linear": cc.linear(z, wl), **{f"linear_backward.{i}": a for i, a in
                                       enumerate(cc.linear_backward(gl, z, wl))},
        "softmax": cc.softmax(z), "log_softmax": cc.log_softmax(z),
        "cross_entropy": cc.cross_entropy(z, t),
        "cross_entropy_backward": cc.cross_entropy_backward(z, t),
    }


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_pooling_and_other_ops_bitwise_identical_across_thread_counts(restore_threads, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 8, 41, 37)).astype(dtype)
    x1 = rng.standard_normal((3, 8, 301)).astype(dtype)
    z = rng.standard_normal((67, 129)).astype(dtype)
    t = rng.integers(0, 129, 67)
    convcore.set_num_threads(1)
    serial = _other_ops(x, x1, z, t, dtype)
    for n in THREAD_COUNTS:
        convcore.set_num_threads(n)
        for what, got in _other_ops(x, x1, z, t, dtype).items():
            assert np.array_equal(serial[what], got), f"{what} differs between 1 and {n} threads"


def test_openmp_enabled():
    assert _openmp.openmp_enabled(), "normal build should have OpenMP on"
    assert convcore.get_num_threads() >= 1


@needs_openmp
def test_get_num_threads_follows_set_num_threads(restore_threads):
    for n in (1, 2, 3, 7, 1):
        convcore.set_num_threads(n)
        assert convcore.get_num_threads() == n
    convcore.set_num_threads(None)
    assert convcore.get_num_threads() >= 1


@needs_openmp
@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-1, ValueError),
                                     (2.5, TypeError), (True, TypeError),
                                     (False, TypeError), ("2", TypeError)])
def test_set_num_threads_bad_values(restore_threads, bad, exc):
    convcore.set_num_threads(2)
    with pytest.raises(exc, match="set_num_threads: n must be"):
        convcore.set_num_threads(bad)
    assert convcore.get_num_threads() == 2  # unchanged by the failed call


@needs_openmp
def test_set_num_threads_accepts_numpy_int(restore_threads):
    # every other int argument of convcore goes through operator.index and
    # takes NumPy integers; set_num_threads checks isinstance(n, int)
    convcore.set_num_threads(np.int64(2))
    assert convcore.get_num_threads() == 2


@needs_openmp
def test_set_num_threads_none_goes_back_to_openmp_default(tmp_path):
    # set_num_threads(n) also calls omp_set_num_threads(n); None must undo
    # that, as its docstring promises ("back to following OpenMP:
    # OMP_NUM_THREADS, else the usable cores").
    code = ("import convcore; d = convcore.get_num_threads(); "
            "convcore.set_num_threads(d + 3); convcore.set_num_threads(None); "
            "print(d, convcore.get_num_threads())")
    env = dict(os.environ, OMP_NUM_THREADS="2")
    # the child imports the same convcore as these tests (installed or in place)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(convcore.__file__)))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=True)
    default, after = map(int, out.stdout.split())
    assert default == 2
    assert after == default, (
        f"after set_num_threads({default + 3}) then set_num_threads(None), "
        f"get_num_threads() is {after}, not the OpenMP default {default}")


@needs_openmp
def test_threadpoolctl_sees_and_limits_openmp(restore_threads):
    threadpoolctl = pytest.importorskip(
        "threadpoolctl", reason="threadpoolctl not installed (pip install threadpoolctl)")
    libs = threadpoolctl.threadpool_info()
    assert any(lib["user_api"] == "openmp" for lib in libs), libs
    convcore.set_num_threads(None)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert convcore.get_num_threads() == 1


# The getters above only read the setting back; this counts the threads a
# call really ran on. libgomp starts a team's threads at its first parallel
# region and keeps them, so in a fresh process the number of OS threads
# after a call that can split n ways is the number before + (n - 1).
THREADS_CHILD = r"""
import os, sys
import numpy as np
import convcore
from convcore import _openmp
import threadpoolctl

_openmp._set_min_thread_work(0)
x = np.ones((4, 16, 32, 32), np.float32)
w = np.ones((16, 16, 3, 3), np.float32)
count = lambda: len(os.listdir("/proc/self/task"))
base = count()
seen = []
how = sys.argv[1]
for n in (1, 3, 5):
    if how == "set_num_threads":
        convcore.set_num_threads(n)
        convcore.conv2d(x, w, padding=1)
    else:
        with threadpoolctl.threadpool_limits(n, user_api="openmp"):
            convcore.conv2d(x, w, padding=1)
    seen.append(count() - base)
print(*seen)
"""


@needs_openmp
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts /proc/self/task")
@pytest.mark.parametrize("how", ["set_num_threads", "threadpoolctl"])
def test_thread_limits_take_effect_in_the_kernels(how):
    pytest.importorskip("threadpoolctl", reason="threadpoolctl not installed")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(convcore.__file__)))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    # a default of 8 threads, so a limit of 1, 3 or 5 is a real limit
    env["OMP_NUM_THREADS"] = "8"
    out = subprocess.run([sys.executable, "-c", THREADS_CHILD, how], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # extra OS threads after calls limited to 1, then 3, then 5 threads
    assert out.stdout.split() == ["0", "2", "4"], out.stdout


# ---------------------------------------------------------------------------
# the GIL
# ---------------------------------------------------------------------------

def _layer_data(seed, n_calls):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    xs = [rng.standard_normal((2, 32, 32, 32)).astype(np.float32) for _ in range(n_calls)]
    return w, xs


def test_two_python_threads_get_exact_results(restore_threads):
    """Two Python threads convolving different data at once both get the
    serial results (whether the calls overlap is the probe test's job)."""
    convcore.set_num_threads(1)
    n_calls = 20
    data = [_layer_data(seed, n_calls) for seed in (1, 2)]
    serial = [[convcore.conv2d(x, w, padding=1) for x in xs] for w, xs in data]
    results = [[None] * n_calls for _ in data]
    errors = []
    barrier = threading.Barrier(len(data))

    def work(i):
        try:
            w, xs = data[i]
            barrier.wait()
            for j, x in enumerate(xs):
                results[i][j] = convcore.conv2d(x, w, padding=1)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(data))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for i in range(len(data)):
        for j in range(n_calls):
            assert np.array_equal(results[i][j], serial[i][j]), (i, j)


def _eight_thread_data(seed):
    rng = np.random.default_rng(100 + seed)
    dtype = (np.float32, np.float64)[seed % 2]
    x = rng.standard_normal((2, 16, 23 + seed, 21)).astype(dtype)
    w = rng.standard_normal((24, 16, 3, 3)).astype(dtype)
    go = rng.standard_normal(convcore.conv2d(x, w, padding=1).shape).astype(dtype)
    return x, w, go


def _eight_thread_calls(x, w, go):
    mp, mi = convcore.max_pool2d(x, 3, 2, 1, return_indices=True)
    ap = convcore.avg_pool2d(x, 2)
    return [convcore.conv2d(x, w, padding=1), *convcore.conv2d_backward(go, x, w, padding=1),
            mp, mi, ap, convcore.max_pool2d_backward(mp, x, 3, 2, 1, indices=mi),
            convcore.avg_pool2d_backward(ap, x.shape, 2)]


@pytest.mark.parametrize("omp_threads", [1, 2])
def test_eight_python_threads_get_exact_results(restore_threads, omp_threads):
    """8 Python threads, each on its own data (shapes and dtypes differ, so
    no two share a memoized call or a tile layout), running conv2d,
    conv2d_backward, max_pool2d and avg_pool2d (and pooling backward) at
    once, each call with `omp_threads` OpenMP threads of its own team: all
    get, bit for bit, what one thread computed beforehand."""
    convcore.set_num_threads(omp_threads)
    n_py, rounds = 8, 6
    data = [_eight_thread_data(i) for i in range(n_py)]
    serial = [_eight_thread_calls(*d) for d in data]
    mismatches, errors = [], []
    barrier = threading.Barrier(n_py)

    def work(i):
        try:
            barrier.wait()
            for r in range(rounds):
                for j, (a, b) in enumerate(zip(serial[i], _eight_thread_calls(*data[i]))):
                    if not np.array_equal(a, b):
                        mismatches.append((i, r, j))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_py)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish in 120 s"
    assert not errors, errors
    assert not mismatches, f"(python thread, round, result) differing from serial: {mismatches[:20]}"


def _ticks_inside_calls(fn, n_calls):
    """Run fn() n_calls times in a worker thread while this thread keeps
    recording time stamps; per call, how many stamps fall in the middle half
    of the call. A call that holds the GIL throughout gets none (this thread
    cannot run at all), however the switch interval interleaves the two
    threads around it."""
    spans = []
    done = threading.Event()

    def work():
        try:
            for _ in range(n_calls):
                t0 = time.perf_counter()
                fn()
                spans.append((t0, time.perf_counter()))
        finally:
            done.set()

    ticks = []
    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
    t.join()
    ticks = np.array(ticks)
    counts = []
    for a, b in spans:
        lo, hi = a + (b - a) / 4, b - (b - a) / 4
        counts.append(int(np.count_nonzero((ticks > lo) & (ticks < hi))))
    return counts


def test_gil_released_during_kernel(restore_threads):
    convcore.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 64, 40, 40))
    w = rng.standard_normal((64, 64, 3, 3))
    go = rng.standard_normal((4, 64, 40, 40))
    big = rng.standard_normal((8, 64, 112, 112)).astype(np.float32)
    pooled, idx = convcore.max_pool2d(big, 3, 2, 1, return_indices=True)
    calls = [lambda: convcore.conv2d(x, w, padding=1),
             lambda: convcore.conv2d_grad_input(go, w, x.shape, padding=1),
             lambda: convcore.conv2d_grad_weight(go, x, w.shape, padding=1),
             lambda: convcore.max_pool2d(big, 3, 2, 1),
             lambda: convcore.avg_pool2d(big, 3, 2, 1),
             lambda: convcore.max_pool2d_backward(pooled, big, 3, 2, 1, indices=idx),
             lambda: convcore.avg_pool2d_backward(pooled, big.shape, 3, 2, 1),
             lambda: convcore.relu(big)]
    for fn in calls:
        counts = _ticks_inside_calls(fn, 3)
        assert max(counts) > 0, f"GIL held during the kernel: {counts}"


def test_gil_probe_detects_a_gil_holding_call():
    # negative control of the probe above: list sorting never drops the GIL
    data = list(np.random.default_rng(0).integers(0, 10**9, 300_000).tolist())
    counts = _ticks_inside_calls(lambda: sorted(data), 2)
    assert max(counts) == 0, counts


@pytest.mark.parametrize("env,expected", [
    ({}, "GOMP_SPINCOUNT=1000 (convcore's default)"),
    ({"OMP_WAIT_POLICY": "passive"}, "OMP_WAIT_POLICY=passive (yours)"),
    ({"GOMP_SPINCOUNT": "300000"}, "GOMP_SPINCOUNT=300000 (yours)"),
])
def test_short_openmp_spin_is_set_for_libgomp_only_and_never_over_the_users(env, expected):
    # convcore asks libgomp for a short spin at the end of parallel regions
    # (long spins stall when the host takes a core away), but only while
    # libgomp loads: the environment afterwards is the user's own
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    code = ("import os, convcore; "
            "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY')); "
            "print(convcore._config.config()['omp_wait'])")
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env},
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == f"{env.get('GOMP_SPINCOUNT')} {env.get('OMP_WAIT_POLICY')}"
    assert out[1] == expected
