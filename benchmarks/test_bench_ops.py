"""pytest-benchmark suite: convcore beside plain NumPy, the loop reference,
PyTorch and onnxruntime, on the workload of convcore.bench.workload.

    pytest benchmarks/ [--cc-threads 1,2] [--cc-dtype float32,float64]
        [--cc-all-reference] [-k "resnet_3x3_28 and fwd"] [--benchmark-json out.json]

One case per layer x pass x thread count x contender, ids like
``resnet_3x3_28-fwd-t1-f32-convcore``:

    conv2d   fwd, bwd_data, bwd_weights   on workload.LAYERS
    pool2d   fwd, bwd                     on workload.POOLS

Contenders (convcore.bench.contenders): ``convcore``; ``numpy`` (im2col /
window views, every layer); ``reference`` (convcore.reference's loops, on
workload.SMALL and the pooling layers unless --cc-all-reference);
``torch`` and ``onnxruntime`` (forward only) when installed, skipped with
the reason otherwise.

Cases of one layer, pass, thread count and dtype share ``benchmark.group``,
so pytest-benchmark's tables compare the contenders side by side.
``extra_info`` holds ``rate`` in ``rate_unit`` (GFLOP/s for conv2d, GB/s of
input + output for pooling) and, on convcore's cases,
``speedup_vs_<contender>`` (added by conftest.py at the end of the run).
Every call allocates its result, as the libraries do. Each contender's
result is checked against the oracle (the loop reference where it runs,
else the NumPy baseline) after timing, outside the timed region.
"""
import functools

import numpy as np
import pytest

import convcore
from convcore.bench import contenders as cont
from convcore.bench import report, workload

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

torch = cont.optional("torch")

FAMILIES = {"conv2d": (workload.LAYERS, workload.PASSES),
            "pool2d": (workload.POOLS, workload.POOL_PASSES)}


def _csv(config, option, parse, allowed=None):
    raw = str(config.getoption(option))
    try:
        vals = [parse(v.strip()) for v in raw.split(",") if v.strip()]
    except ValueError:
        raise pytest.UsageError(f"{option}: expected a comma-separated list, got {raw!r}")
    bad = [v for v in vals if allowed is not None and not allowed(v)]
    if not vals or bad:
        raise pytest.UsageError(f"{option}: bad value(s) {bad or raw!r}")
    return list(dict.fromkeys(vals))


def _thread_counts(config):
    all_cores = convcore.get_num_threads()
    return _csv(config, "--cc-threads",
                lambda v: all_cores if v == "all" else int(v), lambda t: t >= 1)


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    policy = "all" if config.getoption("--cc-all-reference") else "small"
    dtypes = _csv(config, "--cc-dtype", str, lambda d: d in ("float32", "float64"))
    params = []
    for fam, (layers, passes) in FAMILIES.items():
        for L in layers:
            for P in passes:
                for t in _thread_counts(config):
                    for dt in dtypes:
                        for C in cont.CONTENDERS:
                            if C == "onnxruntime" and P != "fwd":
                                continue  # no backward in onnxruntime
                            marks = []
                            if C == "reference" and not report.reference_runs(L, policy):
                                marks.append(pytest.mark.skip(
                                    reason=f"loop reference only on workload.SMALL and "
                                           f"pooling; --cc-all-reference to run it on {L.name}"))
                            params.append(pytest.param(
                                (f"{fam}_{P}", L, t, dt, C), marks=marks,
                                id=f"{L.name}-{P}-t{t}-{dt.replace('float', 'f')}-{C}"))
    metafunc.parametrize("case", params)


@functools.lru_cache(maxsize=1)  # cases run row by row: one row's inputs live
def _row(op, name, dtype, threads, policy):
    calls, work, unit = report.build_row(op, workload.layer(name), dtype, threads, policy)
    oracle = next(n for n in ("reference", "numpy")
                  if not isinstance(calls[n], cont.Missing))
    return calls, work, unit, oracle, np.asarray(calls[oracle]())


@pytest.fixture
def threads(case):
    """Set every pool the case may use to the case's thread count, and restore."""
    t = case[2]
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


def test_op(benchmark, case, threads, request):
    op, L, t, dtype, C = case
    policy = "all" if request.config.getoption("--cc-all-reference") else "small"
    calls, work, unit, oracle, want = _row(op, L.name, dtype, t, policy)
    fn = calls[C]
    if isinstance(fn, cont.Missing):
        pytest.skip(f"{C}: {fn.why}")
    fam, P = report.OPS[op]
    benchmark.group = f"{L.name}-{P}-t{t}-{dtype}"
    benchmark.extra_info.update(op=op, layer=L.name, contender=C, threads=t, dtype=dtype,
                                work=work, work_unit=unit)
    benchmark.extra_info["pass"] = P
    if torch is not None:
        with torch.no_grad():
            result = benchmark(fn)
    else:
        result = benchmark(fn)

    stats = getattr(benchmark, "stats", None)  # None under --benchmark-disable
    if stats is not None and stats.stats.rounds:
        benchmark.extra_info["rate"] = round(work / stats.stats.median / 1e9, 3)
        benchmark.extra_info["rate_unit"] = "GFLOP/s" if unit == "flop" else "GB/s"

    # untimed: the contender computed the right thing
    got = np.asarray(result)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = float(np.max(np.abs(got - want))) / max(float(np.max(np.abs(want))), 1e-30)
    assert err <= report.TOLERANCE[dtype], f"{C} vs {oracle}: rel. error {err:.2e}"
