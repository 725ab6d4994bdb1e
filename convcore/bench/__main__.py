"""python -m convcore.bench: the benchmark report.

Runs the layer workload (convolution fwd/bwd_data/bwd_weights, pooling
fwd/bwd, activations) with convcore and every comparator installed, and
prints one table per op: median ms, GFLOP/s or GB/s, % of the machine's
measured peak, and convcore's speed-up over NumPy (im2col), the loop
reference, PyTorch and onnxruntime (forward only). Exit status 1 when a
convcore result was wrong or failed, 2 on bad options.

Examples
--------
    python -m convcore.bench                       # --quick: under 2 minutes
    python -m convcore.bench --full --json out.json --plot out.png
    python -m convcore.bench --ops conv2d_fwd --layers resnet_3x3_28 --threads 1
"""
import argparse
import json
import os
import sys

import convcore
from convcore.bench import report, workload
from convcore._progress import Progress


def _positive_int(what):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}: expected an integer >= 1, got {text!r}")
        if v < 1:
            raise argparse.ArgumentTypeError(f"{what}: expected an integer >= 1, got {v}")
        return v
    return parse


def _noise(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not v > 0:
        raise argparse.ArgumentTypeError(f"--noise: expected a number > 0, got {text!r}")
    return v


def parser():
    """The command line of ``python -m convcore.bench``."""
    ap = argparse.ArgumentParser(
        prog="python -m convcore.bench",
        description="convcore benchmark report: per-op tables of ms, GFLOP/s or GB/s, "
                    "%% of the measured peak, and speed-ups over NumPy, the loop reference, "
                    "PyTorch and onnxruntime (when installed).")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="a representative layer set, few samples: under 2 minutes on "
                           "2 cores (the default)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="every layer, more samples, the loop reference everywhere")
    ap.set_defaults(mode="quick")
    ap.add_argument("--ops", default=",".join(report.FAMILIES),
                    help="comma-separated op tables or families: "
                         + ", ".join(report.FAMILIES + tuple(report.OPS))
                         + " (default: all)")
    ap.add_argument("--layers", default=None,
                    help="comma-separated layer names, or sets: quick, all, tiny "
                         "(default: quick with --quick, all with --full)")
    ap.add_argument("--threads", type=_positive_int("--threads"), default=None,
                    help="threads for convcore, PyTorch, onnxruntime, NumPy's BLAS "
                         "(with threadpoolctl) and the peak probes (default: "
                         f"convcore's default, {convcore.get_num_threads()} here)")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--reference", choices=["small", "all", "none"], default=None,
                    help="where the loop reference runs (default: small layers; all "
                         "with --full)")
    ap.add_argument("--repeat", type=_positive_int("--repeat"), default=None,
                    help="exactly this many timed samples per contender and row "
                         "(default: as many as fit a per-row time budget)")
    ap.add_argument("--noise", type=_noise, default=0.5,
                    help="flag a row when a contender's max/min time exceeds 1 + NOISE "
                         "(default 0.5)")
    ap.add_argument("--json", metavar="PATH",
                    help="write every measurement (environment, versions, peak, "
                         "each sample) to PATH")
    ap.add_argument("--plot", metavar="PATH.png",
                    help="draw the tables as bar charts (needs matplotlib)")
    ap.add_argument("--no-progress", action="store_true",
                    help="no progress bar on stderr (it is off anyway when stderr is "
                         "not a terminal)")
    ap.add_argument("--list", action="store_true", help="list ops and layers, and exit")
    return ap


# An idle OpenBLAS worker (NumPy's BLAS) spins for 2^28 cycles, about 0.1 s,
# after each threaded call: the NumPy contender's workers then held a core
# through the next contender's call, and 2-thread rows measured one core
# (convcore's 2-thread resnet_3x3s2_56 forward: 5.2 ms alone, 9.6 ms right
# after a 2-thread NumPy matmul, 5.8 ms with the timeout at 2^4 cycles).
# OpenBLAS reads the timeout when NumPy loads it, before main() runs, so the
# command line re-executes itself once with it set (unless the user set it).
BLAS_TIMEOUT = "OPENBLAS_THREAD_TIMEOUT"


def main(argv=None):
    """Entry point of ``python -m convcore.bench`` and ``convcore-bench``."""
    if argv is None and BLAS_TIMEOUT not in os.environ:
        os.environ[BLAS_TIMEOUT] = "4"
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "convcore.bench"] + sys.argv[1:])
    ap = parser()
    args = ap.parse_args(argv)
    if args.list:
        print("ops:    " + ", ".join(report.OPS) + " (families: "
              + ", ".join(report.FAMILIES) + ")")
        for k, names in workload.SETS.items():
            print(f"{k + ':':7s} " + ", ".join(names))
        return 0
    try:
        ops = report.expand_ops(args.ops)
        names = args.layers.split(",") if args.layers else [
            "quick" if args.mode == "quick" else "all"]
        selected = workload.select(n.strip() for n in names if n.strip())
    except ValueError as e:
        msg = str(e)
        ap.error(msg if msg.startswith("--") else f"--layers: {msg}")
    if not ops or not any(report.cases(op, selected) for op in ops):
        ap.error("--ops/--layers: the selection has no (op, layer) pair to run")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            ap.error("--plot needs matplotlib, which is not installed: "
                     "pip install matplotlib (or pip install 'convcore[bench]')")
    threads = args.threads or convcore.get_num_threads()
    ref = args.reference or ("all" if args.mode == "full" else "small")
    progress = None if args.no_progress else Progress(1)
    doc = report.run(ops, selected, threads, args.dtype, args.mode, ref, args.repeat,
                     args.noise, progress)
    print(report.format_report(doc), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        print(f"\nmeasurements written to {args.json}")
    if args.plot:
        report.plot(doc, args.plot)
        print(f"plot written to {args.plot}")
    return 1 if doc["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
