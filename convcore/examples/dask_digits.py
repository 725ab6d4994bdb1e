"""Train LeNet-5 on one machine, then classify a large image set on a Dask
cluster with :func:`convcore.dask.predict`.

The model is trained as in :mod:`convcore.examples.lenet` (scikit-learn's
digits upsampled to 32x32, random shifts). The set to classify is made from
the held-out digits only: each image is a random held-out digit shifted by
up to 2 pixels, its contrast scaled by 0.8-1.2 and Gaussian noise (sd 0.1
of the ink's range) added. It is generated lazily, chunk by chunk, on the
workers (each chunk seeded by its index, so the set is the same on every
run and never sits whole in one process), classified on a LocalCluster with
Dask's progress bar, and scored.

Run ``python -m convcore.examples.dask_digits --help``; needs
``pip install "convcore[dask,examples]"``.
"""
import argparse
import importlib.util
import sys
import time

import numpy as np

import convcore
from convcore.examples import lenet
from convcore.preprocessing import ChannelStandardizer

__all__ = ["main", "make_chunk", "make_images", "run"]


def make_chunk(src_x, src_y, seed, index, n, max_shift=2, noise=0.1):
    """Chunk `index` of the synthetic set: `n` images ``(n, 1, 32, 32)``
    float32 in the ink range of `src_x` (not standardised) and their labels,
    the same for the same (`seed`, `index`).

    Examples
    --------
    >>> import numpy as np
    >>> from convcore.examples.dask_digits import make_chunk
    >>> src = np.zeros((3, 1, 32, 32), np.float32); src[:, :, 8:24, 12:20] = 1
    >>> x, y = make_chunk(src, np.array([4, 5, 6]), seed=0, index=7, n=5)
    >>> x.shape, x.dtype, set(y.tolist()) <= {4, 5, 6}
    ((5, 1, 32, 32), dtype('float32'), True)
    >>> bool((make_chunk(src, np.array([4, 5, 6]), 0, 7, 5)[0] == x).all())
    True
    """
    rng = np.random.default_rng([seed, index])
    pick = rng.integers(0, len(src_x), n)  # first draw: the labels alone are cheap
    x = lenet.random_shift(src_x[pick], rng, max_shift)
    contrast = rng.uniform(0.8, 1.2, (n, 1, 1, 1)).astype(np.float32)
    x = x * contrast + rng.normal(0.0, noise, x.shape).astype(np.float32)
    return x.astype(np.float32), src_y[pick]


def _images(src_x, src_y, seed, index, n, scaler):
    return scaler.transform(make_chunk(src_x, src_y, seed, index, n)[0])


def make_images(src_x, src_y, n_images, chunk, seed, scaler):
    """The synthetic set as a lazy dask array ``(n_images, 1, 32, 32)``
    (standardised with `scaler`), chunked by `chunk`, and its labels as a
    NumPy array (computed here from each chunk's first random draw).

    Examples
    --------
    >>> import numpy as np
    >>> from convcore.examples.dask_digits import make_images
    >>> from convcore.preprocessing import ChannelStandardizer
    >>> src = np.random.default_rng(0).random((10, 1, 32, 32), np.float32)
    >>> x, y = make_images(src, np.arange(10), 2500, 1000, 0, ChannelStandardizer().fit(src))
    >>> x.shape, x.chunks[0], y.shape
    ((2500, 1, 32, 32), (1000, 1000, 500), (2500,))
    """
    import dask
    import dask.array as da

    src = dask.delayed((src_x, src_y), pure=True, traverse=False)
    blocks, labels = [], []
    for i, i0 in enumerate(range(0, n_images, chunk)):
        n = min(chunk, n_images - i0)
        part = dask.delayed(_images, pure=True)(src[0], src[1], seed, i, n, scaler)
        blocks.append(da.from_delayed(part, (n, 1, 32, 32), np.float32))
        rng = np.random.default_rng([seed, i])
        labels.append(src_y[rng.integers(0, len(src_x), n)])
    return da.concatenate(blocks), np.concatenate(labels)


def run(argv=None):
    """Parse arguments, train, classify on a LocalCluster, report; returns a
    dict of the figures (accuracy, seconds, images/s)."""
    p = argparse.ArgumentParser(
        prog="python -m convcore.examples.dask_digits",
        description="Train LeNet-5 on scikit-learn's digits, then classify a large "
                    "augmented set of held-out digits on a local Dask cluster.")
    p.add_argument("--images", type=int, default=200_000, help="images to classify")
    p.add_argument("--workers", type=int, default=2, help="worker processes")
    p.add_argument("--threads-per-worker", type=int, default=1)
    p.add_argument("--epochs", type=int, default=15, help="training epochs")
    p.add_argument("--batch-size", type=int, default=2000,
                   help="images per task (chunk size) when classifying")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dashboard", default=":8787",
                   help="dashboard address (':0' picks a free port)")
    args = p.parse_args(argv)
    if min(args.images, args.workers, args.threads_per_worker, args.epochs,
           args.batch_size) < 1:
        p.error("--images, --workers, --threads-per-worker, --epochs and --batch-size "
                "must be >= 1")
    try:
        import convcore.dask as ccd
        from dask.distributed import Client, LocalCluster, progress
    except ImportError as e:
        p.exit(2, f"{e}\n")

    # 1. train on this machine
    x_tr, y_tr, x_te, y_te = lenet.load_digits_32(seed=args.seed)
    scaler = ChannelStandardizer().fit(x_tr)
    model = lenet.lenet5(rng=args.seed)
    print(f"training LeNet-5 on {len(x_tr)} digits, {args.epochs} epochs, "
          f"{convcore.get_num_threads()} thread(s)")
    t0 = time.perf_counter()
    hist = lenet.train(model, scaler.transform(x_tr), y_tr, epochs=args.epochs,
                       seed=args.seed, x_test=scaler.transform(x_te), y_test=y_te)
    print(f"trained in {time.perf_counter() - t0:.1f} s; held-out accuracy "
          f"{100 * hist[-1]['test_acc']:.2f}% on {len(x_te)} digits")

    # 2. classify the large set on a cluster
    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                      processes=True, dashboard_address=args.dashboard) as cluster, \
            Client(cluster) as client:
        note = "" if importlib.util.find_spec("bokeh") else \
            "  (not served: pip install 'bokeh>=3.1' to see it)"
        print(f"dashboard: {client.dashboard_link}{note}")
        images, labels = make_images(x_te, y_te, args.images, args.batch_size,
                                     args.seed, scaler)
        pred = ccd.predict(model, images, client=client).argmax(axis=1)
        print(f"classifying {args.images:,} generated images ({images.numblocks[0]} "
              f"tasks) on {args.workers} worker(s) x {args.threads_per_worker} "
              f"thread(s)")
        t0 = time.perf_counter()
        pred = client.persist(pred)
        progress(pred)
        pred = client.compute(pred).result()
        seconds = time.perf_counter() - t0
        shares = sorted(set(client.run(convcore.get_num_threads).values()))
    print(f"convcore threads in each worker: {', '.join(map(str, shares))}")
    acc = float((pred == labels).mean())
    print(f"\naccuracy {100 * acc:.2f}% on {args.images:,} images in {seconds:.1f} s: "
          f"{args.images / seconds:,.0f} images/s (generation included)")
    return dict(accuracy=acc, seconds=seconds, images_per_s=args.images / seconds,
                test_acc=hist[-1]["test_acc"])


def main(argv=None):
    """Entry point of ``python -m convcore.examples.dask_digits``."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
