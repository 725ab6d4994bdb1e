"""Convolution workload: convcore vs PyTorch CPU, side by side in one run.

    python benchmarks/conv_vs_torch.py [--threads 1] [--repeat 15] [--layers a,b]

Per layer and pass, prints convcore's median time and GFLOP/s, PyTorch's,
and the ratio (PyTorch time / convcore time: > 1 means convcore is faster).
Calls alternate between the contenders (machine drift hits both), every call
allocates its output (as both libraries do), medians over --repeat rounds.
"""
import argparse
import statistics
import sys
import time

import numpy as np

import convcore
from workload import LAYERS, PASSES, flops, make_inputs


def convcore_calls(L, x, w, b, go):
    a = dict(stride=L.stride, padding=L.pad, dilation=L.dil, groups=L.groups)
    return {
        "fwd": lambda: convcore.conv2d(x, w, b, **a),
        "bwd_data": lambda: convcore.conv2d_grad_input(go, w, x.shape, **a),
        "bwd_weights": lambda: convcore.conv2d_grad_weight(go, x, w.shape, **a),
    }


def torch_calls(L, x, w, b, go):
    import torch

    tx, tw, tb, tgo = (torch.from_numpy(a) for a in (x, w, b, go))
    s, p, d = [L.stride] * 2, [L.pad] * 2, [L.dil] * 2
    cb = torch.ops.aten.convolution_backward

    def bwd(mask):
        return lambda: cb(tgo, tx, tw, None, s, p, d, False, [0, 0], L.groups, mask)

    with torch.no_grad():
        return {
            "fwd": lambda: torch.nn.functional.conv2d(tx, tw, tb, s, p, d, L.groups),
            "bwd_data": bwd([True, False, False]),
            "bwd_weights": bwd([False, True, False]),
        }


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--layers", default="", help="comma-separated layer names")
    ap.add_argument("--passes", default=",".join(PASSES))
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("PyTorch not installed: convcore column only", file=sys.stderr)
    convcore.set_num_threads(args.threads)
    chosen = set(args.layers.split(",")) if args.layers else None
    passes = args.passes.split(",")
    rng = np.random.default_rng(0)
    print(f"convcore {convcore.__version__}, kernel set "
          f"{convcore._conv.get_kernel_set()}, {args.threads} thread(s), {args.dtype}"
          + (f"; torch {torch.__version__}" if torch else ""))
    print(f"{'layer':22s} {'pass':12s} {'convcore ms':>11s} {'GFLOP/s':>8s} "
          f"{'torch ms':>9s} {'GFLOP/s':>8s} {'ratio':>6s}")
    ratios = {p: [] for p in passes}
    with (torch.no_grad() if torch else _null()):
        for L in LAYERS:
            if chosen and L.name not in chosen:
                continue
            x, w, b, go = make_inputs(L, args.dtype, rng)
            cc = convcore_calls(L, x, w, b, go)
            tc = torch_calls(L, x, w, b, go) if torch else {}
            for p in passes:
                fns = [cc[p]] + ([tc[p]] if tc else [])
                for f in fns:  # warm-up
                    f(), f()
                samples = [[] for _ in fns]
                for _ in range(args.repeat):
                    for i, f in enumerate(fns):
                        samples[i].append(timed(f))
                med = [statistics.median(s) for s in samples]
                gf = [flops(L) / m / 1e9 for m in med]
                line = f"{L.name:22s} {p:12s} {med[0]*1e3:11.3f} {gf[0]:8.1f}"
                if tc:
                    ratio = med[1] / med[0]
                    ratios[p].append(ratio)
                    line += f" {med[1]*1e3:9.3f} {gf[1]:8.1f} {ratio:6.2f}"
                print(line, flush=True)
    for p in passes:
        if ratios[p]:
            gm = float(np.exp(np.mean(np.log(ratios[p]))))
            print(f"geomean ratio {p}: {gm:.2f} (min {min(ratios[p]):.2f})")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


if __name__ == "__main__":
    main()
