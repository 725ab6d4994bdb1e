"""The benchmark report: run the workload, check, time, tabulate.

:func:`run` measures and returns a JSON-ready document; :func:`format_report`
turns it into the tables ``python -m convcore.bench`` prints; :func:`plot`
draws them (matplotlib). See ``convcore/bench/__main__.py`` for the options.
"""
import datetime
import math
import os
import platform
import sys
import time
import zlib

import numpy as np

import convcore
from convcore import _config, _conv
from convcore.bench import contenders as cont
from convcore.bench import peak as peak_mod
from convcore.bench import workload
from convcore._progress import Progress
from convcore.bench.timing import geomean, interleaved, samples_for, summary, time_call

SCHEMA = "convcore.bench/1"

# op table -> (family, pass)
OPS = {
    "conv2d_fwd": ("conv2d", "fwd"),
    "conv2d_bwd_data": ("conv2d", "bwd_data"),
    "conv2d_bwd_weights": ("conv2d", "bwd_weights"),
    "pool2d_fwd": ("pool2d", "fwd"),
    "pool2d_bwd": ("pool2d", "bwd"),
    "activation_fwd": ("activation", "fwd"),
}
FAMILIES = ("conv2d", "pool2d", "activation")

# Samples per contender and row: as many as fit in `budget` seconds, within
# [lo, hi]. Quick mode keeps the whole report under two minutes on 2 cores.
MODES = {
    "quick": dict(budget=0.15, lo=3, hi=9),
    "full": dict(budget=1.0, lo=5, hi=30),
}

# A result is wrong when max|got - want| exceeds this fraction of max|want|:
# far above rounding (float32 sums of ~10^5 terms), far below any real bug.
TOLERANCE = {"float32": 1e-3, "float64": 1e-9}


def expand_ops(spec):
    """Op tables named by `spec` (comma-separated op or family names), in
    report order.

    Examples
    --------
    >>> expand_ops("pool2d,conv2d_fwd")
    ['conv2d_fwd', 'pool2d_fwd', 'pool2d_bwd']
    """
    wanted = set()
    for tok in (t.strip() for t in spec.split(",")):
        if not tok:
            continue
        if tok in OPS:
            wanted.add(tok)
        elif tok in FAMILIES:
            wanted.update(op for op, (fam, _) in OPS.items() if fam == tok)
        else:
            raise ValueError(f"--ops: unknown op {tok!r}; expected names from "
                             f"{', '.join(FAMILIES + tuple(OPS))}")
    return [op for op in OPS if op in wanted]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or "unknown"


def environment(threads, dtype, blas):
    """Where the numbers come from: machine, build, versions, settings."""
    cfg = _config.config()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count()
    return {
        "cpu": _cpu_model(), "machine": platform.machine(),
        "system": platform.platform(), "usable_cores": cores,
        "python": platform.python_version(), "numpy": np.__version__,
        "convcore": cfg["version"], "openmp": cfg["openmp"],
        "cpu_features": cfg["cpu_features"], "kernel_set": cfg["kernel_set"],
        "threads": threads, "dtype": dtype, "blas_threads": blas,
        "versions": cont.versions(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE",
                                           "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT",
                                           "CONVCORE_DISABLE_ISA")
                if k in os.environ},
    }


def _seed(name):
    return zlib.crc32(name.encode())  # the same inputs whatever else runs


def cases(op, selected):
    """The cases of `selected` (from ``workload.select``) that op table
    `op` runs on."""
    layers, pools, acts = selected
    fam = OPS[op][0]
    return {"conv2d": layers, "pool2d": pools, "activation": acts}[fam]


def reference_runs(case, policy):
    """Whether the loop reference runs on `case` under `policy` ('small',
    'all', 'none')."""
    if policy == "all":
        return True
    if policy == "none":
        return False
    # the pooling reference loops over output positions with whole-batch
    # vector operations: a fraction of a second on every workload layer
    return (case.name in workload.SMALL or isinstance(case, workload.Pool)
            or case.name.startswith("tiny_"))


def build_row(op, case, dtype, threads, ref_policy="small"):
    """Inputs and contender calls of one (op, layer) row.

    Parameters
    ----------
    op : str
        A key of ``OPS``.
    case : workload.Layer, workload.Pool or workload.Act
    dtype : {'float32', 'float64'}
    threads : int
        onnxruntime's thread count.
    ref_policy : {'small', 'all', 'none'}
        Where the loop reference runs.

    Returns
    -------
    (calls, work, work_unit)
        ``contenders`` calls (dict, ``CONTENDERS`` order; the inputs live
        as long as the calls), flops or bytes of one call, and
        ``'flop'`` or ``'byte'``.

    Examples
    --------
    >>> calls, work, unit = build_row("conv2d_fwd", workload.layer("tiny_3x3"), "float32", 1)
    >>> calls["convcore"]().shape, unit
    ((2, 5, 10, 10), 'flop')
    """
    fam, pass_ = OPS[op]
    rng = np.random.default_rng(_seed(case.name))
    with_ref = reference_runs(case, ref_policy)
    if fam == "conv2d":
        x, w, b, go = workload.make_inputs(case, dtype, rng)
        calls = cont.conv2d(case, pass_, x, w, b, go, threads, with_ref)
        return calls, workload.flops(case), "flop"
    if fam == "pool2d":
        x = rng.standard_normal((case.N, case.C, case.H, case.H)).astype(dtype)
        o = workload.pool_out_size(case)
        go = rng.standard_normal((case.N, case.C, o, o)).astype(dtype)
        idx = None
        if case.kind == "max":
            idx = convcore.max_pool2d(x, case.K, case.stride, case.pad,
                                      return_indices=True)[1]
        calls = cont.pool2d(case, pass_, x, go, idx, threads, with_ref)
        return calls, workload.pool_bytes(case, pass_, dtype), "byte"
    x = rng.standard_normal((case.N, case.C, case.H, case.H)).astype(dtype)
    return cont.activation(case, x, threads), workload.act_bytes(case, dtype), "byte"


def _rel_err(got, want):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return math.inf
    if want.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(want))), 1e-30)
    return float(np.max(np.abs(got.astype(np.float64) - want))) / scale


def _first_call(fn):
    """(result, seconds) of the first call, or (exception, None)."""
    try:
        t0 = time.perf_counter()
        r = fn()
        return np.asarray(r), time.perf_counter() - t0
    except Exception as e:  # reported in the row, never fatal to the report
        return e, None


def measure_row(op, case, dtype, threads, mode, ref_policy, repeat=None,
                on_sample=None):
    """Check, warm up and time every contender on one row.

    Each contender's first call is its correctness check (against the
    oracle) and a warm-up; quick ones get a second warm-up; then all are
    timed by :func:`timing.interleaved`.

    Parameters
    ----------
    op, case, dtype, threads, ref_policy
        As in :func:`build_row`.
    mode : {'quick', 'full'}
        Samples per contender (``MODES``), unless `repeat` is given.
    repeat : int, optional
    on_sample : callable, optional
        Called after each timed sample.

    Returns
    -------
    dict
        The row of the JSON document (see :func:`run`).

    Examples
    --------
    >>> row = measure_row("pool2d_fwd", workload.layer("tiny_avgpool_2x2"), "float64", 1,
    ...                   "quick", "small", repeat=1)
    >>> row["contenders"]["convcore"]["status"], row["checked_against"]
    ('ok', 'reference')
    """
    fam, pass_ = OPS[op]
    calls, work, work_unit = build_row(op, case, dtype, threads, ref_policy)
    row = {"op": op, "family": fam, "pass": pass_, "layer": case.name,
           "shape": case._asdict(), "work": work, "work_unit": work_unit,
           "rate_unit": "GFLOP/s" if work_unit == "flop" else "GB/s",
           "checked_against": None, "contenders": {}, "speedup": {}, "noisy": []}
    if fam == "conv2d":  # Winograd's rate counts the direct FLOPs: effective
        row["algorithm"] = _conv.conv_algorithm(
            pass_, case.C, case.OC, case.K, case.K, case.stride, case.stride,
            case.pad, case.pad, case.dil, case.dil, case.groups)
    res = row["contenders"]
    first, estimate = {}, {}
    for name in cont.CONTENDERS:
        c = calls[name]
        if isinstance(c, cont.Missing):
            res[name] = {"status": "n/a", "reason": c.why}
            continue
        out, dt = _first_call(c)
        if dt is None:
            res[name] = {"status": "error", "reason": f"{type(out).__name__}: {out}"[:200]}
            continue
        first[name], estimate[name] = out, dt
        res[name] = {"status": "ok"}
    # the oracle: the loop reference where it ran, else the NumPy baseline
    # (which the tests check against the oracle)
    truth = next((n for n in ("reference", "numpy") if n in first), None)
    row["checked_against"] = truth
    tol = TOLERANCE[str(np.dtype(dtype))]
    for name in list(first):
        if truth is None or name == truth:
            continue
        err = _rel_err(first[name], first[truth])
        res[name]["rel_err"] = err
        if not err <= tol:
            res[name] = {"status": "error", "rel_err": err,
                         "reason": f"wrong result: rel. error {err:.1e} vs {truth} "
                                   f"(tolerance {tol:.0e})"}
            del first[name], estimate[name]
    first.clear()  # outputs go before timing: no one runs with less free memory
    fns = {n: calls[n] for n in estimate}
    for n, fn in fns.items():  # a second warm-up for the quick ones
        if estimate[n] < 0.5:
            estimate[n] = min(estimate[n], time_call(fn))
    m = MODES[mode]
    counts = {n: repeat or samples_for(estimate[n], m["budget"], m["lo"], m["hi"])
              for n in fns}
    samples = interleaved(fns, counts, on_sample)
    for n, s in samples.items():
        st = summary(s)
        res[n].update(samples=s, **st, rate=work / st["median"] / 1e9)
    cc = res["convcore"]
    if cc["status"] == "ok":
        for n in cont.COMPARATORS:
            if res[n]["status"] == "ok":
                row["speedup"][n] = res[n]["median"] / cc["median"]
    return row


def run(ops, selected, threads, dtype="float32", mode="quick", ref_policy="small",
        repeat=None, noise=0.5, progress=None):
    """Measure the report: peaks, then every (op, layer) row.

    Parameters
    ----------
    ops : list of str
        Op tables (keys of ``OPS``), e.g. from :func:`expand_ops`.
    selected : (layers, pools, acts)
        From ``workload.select``.
    threads : int
        Threads for convcore, PyTorch, onnxruntime, the peak probes and,
        when threadpoolctl is installed, NumPy's BLAS.
    dtype : {'float32', 'float64'}
    mode : {'quick', 'full'}
        Samples per row (``MODES``).
    ref_policy : {'small', 'all', 'none'}
        Where the loop reference runs.
    repeat : int, optional
        Exactly this many samples of every contender (instead of ``MODES``).
    noise : float
        A contender whose max/min exceeds ``1 + noise`` marks the row noisy.
    progress : Progress, optional

    Returns
    -------
    dict
        ``schema``, ``created``, ``options``, ``environment``, ``peak``
        (``fma``, ``memory``), ``results`` (rows: ``op``, ``layer``,
        ``work``, ``rate_unit``, ``checked_against``, ``contenders`` with
        each one's ``status``, ``samples``, ``median``, ``rate``,
        ``pct_peak``..., ``speedup``, ``noisy``), ``geomeans``, ``errors``.

    Examples
    --------
    >>> doc = run(["activation_fwd"], workload.select(["tiny"]), 1, repeat=1)  # doctest: +SKIP
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"run: dtype must be 'float32' or 'float64', got {dtype!r}")
    if mode not in MODES:
        raise ValueError(f"run: mode must be one of {sorted(MODES)}, got {mode!r}")
    torch = cont.optional("torch")
    tpc = cont.optional("threadpoolctl")
    old_cc = convcore.get_num_threads()
    convcore.set_num_threads(threads)
    old_torch = None
    if torch is not None:
        old_torch = (torch.get_num_threads(), torch.is_grad_enabled())
        torch.set_num_threads(threads)
        torch.set_grad_enabled(False)
    limiter = tpc.threadpool_limits(limits=threads, user_api="blas") if tpc else None
    try:
        blas = threads if tpc else "not limited (threadpoolctl not installed)"
        doc = {"schema": SCHEMA,
               "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                   timespec="seconds"),
               "argv": sys.argv[1:],
               "options": {"ops": ops, "threads": threads, "dtype": dtype, "mode": mode,
                           "reference": ref_policy, "repeat": repeat, "noise": noise,
                           "tolerance": TOLERANCE[dtype]},
               "environment": environment(threads, dtype, blas)}
        # probed before and after the rows, the better of the two kept: a
        # peak probe can only be slowed down by a busy machine, never sped up
        before = (peak_mod.fma_peak(threads, dtype), peak_mod.memory_peak(threads))
        rows = []
        todo = [(op, c) for op in ops for c in cases(op, selected)]
        if progress is not None:
            progress.total = max(len(todo), 1)
        for op, case in todo:
            if progress is not None:
                progress.draw(f"{op} {case.name}")
            row = measure_row(op, case, dtype, threads, mode, ref_policy, repeat)
            for n, r in row["contenders"].items():
                if r.get("spread", 1.0) > 1 + noise:
                    row["noisy"].append(n)
            rows.append(row)
            if progress is not None:
                progress.step(f"{op} {case.name}")
        after = (peak_mod.fma_peak(threads, dtype), peak_mod.memory_peak(threads))
        doc["peak"] = {
            "fma": max(before[0], after[0], key=lambda p: p["gflops"]),
            "memory": max(before[1], after[1], key=lambda p: p["gbps"]),
            "fma_before_after": [before[0]["gflops"], after[0]["gflops"]],
            "memory_before_after": [before[1]["gbps"], after[1]["gbps"]],
        }
        for row in rows:
            _rate_vs_peak(row, doc["peak"])
        doc["results"] = rows
        doc["geomeans"] = _geomeans(rows, ops)
        doc["errors"] = sum(r["contenders"]["convcore"]["status"] == "error" for r in rows)
        return doc
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        if old_torch is not None:
            torch.set_num_threads(old_torch[0])
            torch.set_grad_enabled(old_torch[1])
        convcore.set_num_threads(old_cc)
        if progress is not None:
            progress.close()


def _rate_vs_peak(row, peak):
    limit = peak["fma"]["gflops"] if row["rate_unit"] == "GFLOP/s" else peak["memory"]["gbps"]
    for r in row["contenders"].values():
        if "rate" in r:
            r["pct_peak"] = 100.0 * r["rate"] / limit


def _geomeans(rows, ops):
    out = {}
    for op in ops + ["all"]:
        sel = [r for r in rows if op == "all" or r["op"] == op]
        if not sel:
            continue
        g = {"rows": len(sel)}
        if op != "all":
            g["pct_peak"] = geomean([r["contenders"]["convcore"].get("pct_peak") for r in sel])
        for n in cont.COMPARATORS:
            g[f"speedup_vs_{n}"] = geomean([r["speedup"].get(n) for r in sel])
        out[op] = g
    return out


# ------------------------------------------------------------------ text --

def _cell_ratio(row, name):
    r = row["contenders"][name]
    if r["status"] == "n/a":
        return f"n/a ({r['reason']})"
    if r["status"] == "error":
        return "ERROR"
    if name in row["speedup"]:
        return f"{row['speedup'][name]:.2f}x"
    return "-"  # convcore itself failed: nothing to compare with


def _table(headers, lines):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *lines)]
    fmt = lambda cells: "  ".join(  # noqa: E731
        (str(c).ljust(w) if i == 0 or i == len(cells) - 1 else str(c).rjust(w))
        for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return [fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(ln) for ln in lines]


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def format_report(doc):
    """The report as text: header, one table per op, geometric means.

    Examples
    --------
    >>> text = format_report(doc)  # doctest: +SKIP
    """
    e, pk, opt = doc["environment"], doc["peak"], doc["options"]
    fma, mem = pk["fma"], pk["memory"]
    v = e["versions"]
    out = [
        f"convcore {e['convcore']} benchmark report ({opt['mode']} mode, {e['dtype']}, "
        f"{e['threads']} thread{'s' if e['threads'] != 1 else ''}), {doc['created']}",
        f"machine:     {e['cpu']} ({e['machine']}), {e['usable_cores']} usable cores; "
        f"{e['system']}",
        f"cpu features: {', '.join(e['cpu_features']) or 'none used'}; kernel set "
        f"{e['kernel_set']}; OpenMP {'on' if e['openmp'] else 'OFF (serial build)'}",
        f"peak (measured, {e['threads']} thread(s)): FMA {fma['gflops']:.1f} GFLOP/s "
        f"{e['dtype']} ({fma['chains']} chains x {fma['lanes']} lanes, kernel set "
        f"{fma['kernel_set']}); memory {mem['gbps']:.1f} GB/s (read {mem['read_gbps']:.1f}, "
        f"copy {mem['copy_gbps']:.1f} counting bytes read + written; main memory, so "
        "data that fits in cache can go faster)",
        f"versions:    Python {e['python']}, NumPy {e['numpy']} (BLAS threads: "
        f"{e['blas_threads']}), torch {v['torch'] or 'not installed'}, onnxruntime "
        f"{v['onnxruntime'] or 'not installed'}",
        "columns:     ms = median of interleaved calls after warm-up; % peak = rate / "
        "measured peak (FMA for conv2d, memory for the rest); Nx = the other's "
        "median / convcore's (> 1: convcore faster); numpy = im2col / window views, "
        "reference = convcore.reference loops",
    ]
    # only the FMA peak is a ceiling: data that fits in cache moves faster
    # than the main-memory bandwidth the memory probe measures, and Winograd
    # does fewer multiplications than the FLOPs its rate counts
    over = [r["layer"] for r in doc["results"] if r["rate_unit"] == "GFLOP/s"
            and r.get("algorithm") != "winograd"
            and r["contenders"]["convcore"].get("pct_peak", 0) > 100]
    fb, mb = pk["fma_before_after"], pk["memory_before_after"]
    if over or max(fb) > 1.3 * min(fb) or max(mb) > 1.3 * min(mb):
        out.append(f"WARNING:     the machine was busy: peak probes before/after the run gave "
                   f"FMA {fb[0]:.1f}/{fb[1]:.1f} GFLOP/s, memory {mb[0]:.1f}/{mb[1]:.1f} GB/s"
                   + (f"; {len(over)} row(s) above 100% of peak" if over else "")
                   + ". Rerun on an idle machine before quoting these numbers.")
    if e["env"]:
        out.append("environment: " + " ".join(f"{k}={val}" for k, val in e["env"].items()))
    for op in opt["ops"]:
        rows = [r for r in doc["results"] if r["op"] == op]
        if not rows:
            continue
        unit = rows[0]["rate_unit"]
        headers = ["layer", "ms", unit, "% peak"] + [f"vs {n}" for n in cont.COMPARATORS] + ["notes"]
        lines = []
        for r in rows:
            cc = r["contenders"]["convcore"]
            notes = []
            for n, c in r["contenders"].items():
                if c["status"] == "error":
                    notes.append(f"{n}: {c['reason']}")
            if r["noisy"]:
                notes.append("noisy: " + ", ".join(
                    f"{n} max/min {r['contenders'][n]['spread']:.2f}" for n in r["noisy"]))
            if r.get("algorithm") == "winograd":
                notes.append("winograd (effective GFLOP/s)")
            if r["rate_unit"] == "GB/s" and cc.get("pct_peak", 0) > 100:
                notes.append("above memory bandwidth: the data fits in cache")
            if r["checked_against"] is None:
                notes.append("unchecked (no oracle ran)")
            if cc["status"] == "ok":
                head = [f"{cc['median'] * 1e3:.3f}", f"{cc['rate']:.1f}", f"{cc['pct_peak']:.0f}%"]
            else:
                head = ["ERROR", "-", "-"]
            lines.append([r["layer"]] + head + [_cell_ratio(r, n) for n in cont.COMPARATORS]
                         + ["; ".join(notes)])
        g = doc["geomeans"][op]
        lines.append(["geomean", "", "", f"{_fmt(g['pct_peak'], '.0f')}%"]
                     + [(f"{g[f'speedup_vs_{n}']:.2f}x" if g[f"speedup_vs_{n}"] else "-")
                        for n in cont.COMPARATORS] + [""])
        out += ["", f"== {op} ({unit}) =="] + _table(headers, lines)
    g = doc["geomeans"].get("all")
    if g:
        out += ["", f"geometric mean over all {g['rows']} rows: " + ", ".join(
            (f"{g[f'speedup_vs_{n}']:.2f}x vs {n}" if g[f"speedup_vs_{n}"] else f"n/a vs {n}")
            for n in cont.COMPARATORS)]
    if doc["errors"]:
        out.append(f"ERRORS: convcore failed or was wrong on {doc['errors']} row(s); "
                   "see the notes")
    return "\n".join(out)


# ------------------------------------------------------------------ plot --

def plot(doc, path):
    """Bar charts per op: convcore's speed-up over each comparator per layer
    (log axis, a line at 1x) and its % of the measured peak.

    Raises
    ------
    ImportError
        When matplotlib is not installed (``pip install matplotlib``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = [op for op in doc["options"]["ops"] if any(r["op"] == op for r in doc["results"])]
    fig, axes = plt.subplots(len(ops), 2, figsize=(14, 3.2 * len(ops)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1]})
    for (ax, axp), op in zip(axes, ops):
        rows = [r for r in doc["results"] if r["op"] == op]
        names = [r["layer"] for r in rows]
        comps = [n for n in cont.COMPARATORS if any(n in r["speedup"] for r in rows)]
        width = 0.8 / max(len(comps), 1)
        for i, n in enumerate(comps):
            xs = [j + i * width for j, r in enumerate(rows) if n in r["speedup"]]
            ys = [r["speedup"][n] for r in rows if n in r["speedup"]]
            # one colour per comparator in every panel
            ax.bar(xs, ys, width, label=f"vs {n}",
                   color=f"C{cont.COMPARATORS.index(n)}")
        ax.axhline(1.0, color="black", linewidth=1)
        ax.set_yscale("log")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))])
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("speed-up (x, log)")
        ax.set_title(f"{op}: convcore speed-up (> 1: convcore faster)", fontsize=9)
        if comps:
            ax.legend(fontsize=7)
        pct = [r["contenders"]["convcore"].get("pct_peak", 0.0) for r in rows]
        axp.barh(names, pct, color="tab:gray")
        axp.set_xlabel("% of measured peak")
        axp.tick_params(axis="y", labelsize=7)
        axp.invert_yaxis()
    e = doc["environment"]
    fig.suptitle(f"convcore {e['convcore']} on {e['cpu']}, {e['threads']} thread(s), "
                 f"{e['dtype']}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))  # room for the title
    fig.savefig(path, dpi=110)
    plt.close(fig)
