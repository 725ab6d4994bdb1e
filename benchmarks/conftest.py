"""Options and reporting of the pytest-benchmark suite (test_bench_ops.py).

Options:
    --cc-threads 1,all      thread counts to run each case with (default
                            1,all: one thread and every usable core)
    --cc-dtype float32,float64
                            dtypes of the inputs (default float32)
    --cc-all-reference      time the loop reference on every layer, not only
                            on workload.SMALL and the pooling layers (slow)

After the run, each convcore case gets ``speedup_vs_<contender>`` (that
contender's median / convcore's median, same op, layer, threads and dtype,
measured in the same run) in its ``extra_info``, so the saved JSON holds them,
and a short speed-up table is printed below pytest-benchmark's tables.
"""
import pytest


def pytest_addoption(parser):
    g = parser.getgroup("convcore benchmarks")
    g.addoption("--cc-threads", default="1,all",
                help="comma-separated thread counts, 'all' for every usable core "
                     "(default 1,all); set with convcore.set_num_threads, "
                     "torch.set_num_threads, onnxruntime's session options and, "
                     "when threadpoolctl is installed, the BLAS pool of NumPy")
    g.addoption("--cc-dtype", default="float32",
                help="comma-separated dtypes of the inputs: float32, float64 "
                     "(default float32)")
    g.addoption("--cc-all-reference", action="store_true", default=False,
                help="run the loop reference on every layer, not only on "
                     "workload.SMALL and the pooling layers")


def pytest_report_header(config):
    try:
        import convcore
        from convcore import _conv
        from convcore.bench import contenders
    except ImportError as e:  # pragma: no cover - reported by collection anyway
        return f"convcore: not importable ({e})"
    v = contenders.versions()
    return (f"convcore {convcore.__version__}: kernel set {_conv.get_kernel_set()}, "
            f"default {convcore.get_num_threads()} threads; torch {v['torch'] or 'not installed'}, "
            f"onnxruntime {v['onnxruntime'] or 'not installed'}; "
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
    return (info["op"], info["layer"], info["threads"], info["dtype"])


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
    tr.write_line(f"{'case':44s} {'rate':>14s} " + " ".join(f"{o:>12s}" for o in others))
    for m in rows:
        info = m.extra_info
        case = f"{info['layer']}-{info['pass']}-t{info['threads']}-{info['dtype']}"
        rate = f"{info.get('rate', float('nan')):.1f} {info.get('rate_unit', '')}"
        cells = " ".join(f"{info[f'speedup_vs_{o}']:12.2f}" if f"speedup_vs_{o}" in info
                         else f"{'-':>12s}" for o in others)
        tr.write_line(f"{case:44s} {rate:>14s} {cells}")
