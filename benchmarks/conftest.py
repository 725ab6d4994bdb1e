"""Options and reporting of the pytest-benchmark suite (test_bench_conv.py).

Options:
    --cc-threads 1,2        thread counts to run each case with (default 1)
    --cc-dtype float64      dtype of the inputs (default float32)
    --cc-all-reference      time the loop reference (numpy_loops) on every
                            layer, not only on workload.SMALL (slow)

After the run, each convcore case gets ``speedup_vs_<contender>`` (that
contender's median / convcore's median, same layer, pass, threads and dtype,
measured in the same run) in its ``extra_info``, so the saved JSON holds them,
and a short speed-up table is printed below pytest-benchmark's tables.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # workload.py


def pytest_addoption(parser):
    g = parser.getgroup("convcore benchmarks")
    g.addoption("--cc-threads", default="1",
                help="comma-separated thread counts, e.g. 1,2 (default 1); "
                     "set with convcore.set_num_threads, torch.set_num_threads "
                     "and, when threadpoolctl is installed, the BLAS pool of "
                     "the NumPy contenders")
    g.addoption("--cc-dtype", default="float32", choices=["float32", "float64"],
                help="dtype of the benchmark inputs (default float32)")
    g.addoption("--cc-all-reference", action="store_true", default=False,
                help="run the loop reference (numpy_loops) on every layer, "
                     "not only on workload.SMALL")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cc_check: correctness check of a benchmark contender; runs even "
                   "under --benchmark-only")


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own hook has marked items
def pytest_collection_modifyitems(config, items):
    """--benchmark-only skips every test without the benchmark fixture; keep the
    contenders' correctness checks (marked cc_check) running anyway."""
    for item in items:
        if item.get_closest_marker("cc_check") is not None:
            item.own_markers[:] = [
                m for m in item.own_markers
                if not (m.name == "skip" and "--benchmark-only" in str(m.kwargs.get("reason", "")))]


def pytest_report_header(config):
    try:
        import convcore
        from convcore import _conv
    except ImportError as e:  # pragma: no cover - reported by collection anyway
        return f"convcore: not importable ({e})"
    try:
        import torch
        tv = f"torch {torch.__version__}"
    except ImportError:
        tv = "torch not installed (torch cases skipped)"
    return (f"convcore {convcore.__version__}: kernel set {_conv.get_kernel_set()}, "
            f"default {convcore.get_num_threads()} threads; {tv}; "
            f"--cc-threads {config.getoption('--cc-threads')} "
            f"--cc-dtype {config.getoption('--cc-dtype')}")


def _measured(config):
    """pytest-benchmark's records of this run that carry timings."""
    bs = getattr(config, "_benchmarksession", None)
    if bs is None or bs.disabled:
        return []
    return [m for m in bs.benchmarks
            if getattr(m, "stats", None) is not None and m.stats.rounds
            and "contender" in m.extra_info]


def _case_key(info):
    return (info["layer"], info["pass"], info["threads"], info["dtype"])


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark writes its JSON
def pytest_sessionfinish(session, exitstatus):
    by_case = {}
    for m in _measured(session.config):
        by_case.setdefault(_case_key(m.extra_info), {})[m.extra_info["contender"]] = m
    for contenders in by_case.values():
        cc = contenders.get("convcore")
        if cc is None:
            continue
        for name, m in contenders.items():
            if name != "convcore":
                cc.extra_info[f"speedup_vs_{name}"] = round(m.stats.median / cc.stats.median, 3)


def pytest_terminal_summary(terminalreporter, config):
    rows = [m for m in _measured(config) if m.extra_info["contender"] == "convcore"
            and any(k.startswith("speedup_vs_") for k in m.extra_info)]
    if not rows:
        return
    others = sorted({k[len("speedup_vs_"):] for m in rows for k in m.extra_info
                     if k.startswith("speedup_vs_")})
    tr = terminalreporter
    tr.write_sep("-", "convcore speed-up (other median / convcore median; > 1: convcore faster)")
    tr.write_line(f"{'case':40s} {'GFLOP/s':>8s} " + " ".join(f"{o:>12s}" for o in others))
    for m in rows:
        info = m.extra_info
        case = f"{info['layer']}-{info['pass']}-t{info['threads']}"
        cells = " ".join(f"{info[f'speedup_vs_{o}']:12.2f}" if f"speedup_vs_{o}" in info
                         else f"{'-':>12s}" for o in others)
        tr.write_line(f"{case:40s} {info.get('gflops', float('nan')):8.1f} {cells}")
