"""Pooling and activation workload: convcore vs PyTorch CPU, side by side.

    python benchmarks/cnn_ops_vs_torch.py [--threads 1] [--repeat 15]

Per case and pass: median ms of each, GB/s of input + output traffic (the
limit of these memory-bound ops) and the ratio (PyTorch time / convcore time).
Calls alternate between the contenders; every call allocates its output.
"""
import argparse
import statistics
import sys
import time

import numpy as np

import convcore

POOLS = [  # name, kind, N, C, H, kernel, stride, pad
    ("resnet_maxpool_3x3s2", "max", 8, 64, 112, 3, 2, 1),
    ("vgg_maxpool_2x2", "max", 8, 256, 56, 2, 2, 0),
    ("lenet_avgpool_2x2", "avg", 64, 6, 28, 2, 2, 0),
    ("avgpool_3x3s1", "avg", 8, 128, 28, 3, 1, 1),
]
ACT_SHAPE = (8, 64, 56, 56)
ACTS = ["relu", "leaky_relu", "sigmoid", "tanh"]


def cases(torch):
    tf = torch.nn.functional if torch else None
    rng = np.random.default_rng(0)
    for name, kind, N, C, H, k, s, p in POOLS:
        x = rng.standard_normal((N, C, H, H)).astype(np.float32)
        tx = torch.from_numpy(x) if torch else None
        if kind == "max":
            y, idx = convcore.max_pool2d(x, k, s, p, return_indices=True)
            g = np.ones_like(y)
            yield (name, "fwd", x.nbytes + y.nbytes, lambda: convcore.max_pool2d(x, k, s, p),
                   torch and (lambda: tf.max_pool2d(tx, k, s, p)))
            tg, tidx = (torch.from_numpy(g), torch.from_numpy(idx)) if torch else (None, None)
            yield (name, "bwd", g.nbytes + idx.nbytes + x.nbytes,
                   lambda: convcore.max_pool2d_backward(g, x, k, s, p, indices=idx),
                   torch and (lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                       tg, tx, [k, k], [s, s], [p, p], [1, 1], False, tidx)))
        else:
            y = convcore.avg_pool2d(x, k, s, p)
            g = np.ones_like(y)
            tg = torch.from_numpy(g) if torch else None
            yield (name, "fwd", x.nbytes + y.nbytes, lambda: convcore.avg_pool2d(x, k, s, p),
                   torch and (lambda: tf.avg_pool2d(tx, k, s, p)))
            yield (name, "bwd", g.nbytes + x.nbytes,
                   lambda: convcore.avg_pool2d_backward(g, x.shape, k, s, p),
                   torch and (lambda: torch.ops.aten.avg_pool2d_backward(
                       tg, tx, [k, k], [s, s], [p, p], False, True, None)))
    x = rng.standard_normal(ACT_SHAPE).astype(np.float32)
    tx = torch.from_numpy(x) if torch else None
    for a in ACTS:
        yield (f"{a} {ACT_SHAPE}", "fwd", 2 * x.nbytes, lambda a=a: getattr(convcore, a)(x),
               torch and (lambda a=a: getattr(torch, a, None)(tx) if a != "leaky_relu" else tf.leaky_relu(tx)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(args.threads)
        torch.set_grad_enabled(False)
    except ImportError:
        torch = None
        print("PyTorch not installed: convcore column only", file=sys.stderr)
    convcore.set_num_threads(args.threads)
    print(f"convcore {convcore.__version__}, {args.threads} thread(s), float32"
          + (f"; torch {torch.__version__}" if torch else ""))
    print(f"{'case':32s} {'pass':4s} {'convcore ms':>11s} {'GB/s':>6s} {'torch ms':>9s} "
          f"{'GB/s':>6s} {'ratio':>6s}")
    for name, p, nbytes, f, tf in cases(torch):
        fns = [f] + ([tf] if tf else [])
        for fn in fns:
            fn(), fn()
        samples = [[] for _ in fns]
        for _ in range(args.repeat):
            for i, fn in enumerate(fns):
                t0 = time.perf_counter()
                fn()
                samples[i].append(time.perf_counter() - t0)
        med = [statistics.median(s) for s in samples]
        line = f"{name:32s} {p:4s} {med[0]*1e3:11.3f} {nbytes/med[0]/1e9:6.1f}"
        if tf:
            line += f" {med[1]*1e3:9.3f} {nbytes/med[1]/1e9:6.1f} {med[1]/med[0]:6.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
