"""Train LeNet-5 on scikit-learn's handwritten digits.

The 1,797 real 8x8 scans bundled with scikit-learn (no download) are
upsampled to 32x32, standardised with statistics of the training split, and
a LeNet-5 (conv 6@5x5 -> max-pool -> conv 16@5x5 -> max-pool -> fc 120 ->
fc 84 -> fc 10, ReLU between) is trained with Adam on randomly shifted
copies of the training images, reporting epoch, loss, accuracy and
images/s, then evaluated on a held-out split.

Run ``python -m convcore.examples.lenet --help`` (or ``convcore-lenet``);
needs ``pip install ".[examples]"`` for scikit-learn.
"""
import argparse
import math
import sys
import time

import numpy as np

import convcore
from convcore import nn, optim
from convcore._progress import Progress
from convcore.preprocessing import ChannelStandardizer

__all__ = ["evaluate", "lenet5", "load_digits_32", "main", "random_shift", "run", "train"]


def lenet5(rng=None, dtype=np.float32):
    """LeNet-5 for 1x32x32 images and 10 classes.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore.examples.lenet import lenet5
    >>> lenet5(rng=0)(np.zeros((2, 1, 32, 32), np.float32)).shape
    (2, 10)
    """
    rng = np.random.default_rng(rng)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, rng=rng, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, rng=rng, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120, rng=rng, dtype=dtype), nn.ReLU(),
        nn.Linear(120, 84, rng=rng, dtype=dtype), nn.ReLU(),
        nn.Linear(84, 10, rng=rng, dtype=dtype),
    )


def _upsample_matrix(n_in, n_out):
    """Bilinear interpolation (align_corners=False) as an (n_out, n_in) matrix."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def load_digits_32(test_size=0.2, seed=0):
    """scikit-learn's digits as float32 ``(N, 1, 32, 32)`` images in [0, 1]
    and int64 labels, split into train and test (stratified, seeded).

    Returns ``(x_train, y_train, x_test, y_test)``.
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError("the LeNet example needs scikit-learn: pip install "
                          "'convcore[examples]' (or pip install scikit-learn)") from None
    digits = load_digits()
    up = _upsample_matrix(8, 32)
    images = np.einsum("ih,nhw,jw->nij", up, digits.images / 16.0, up)
    x = images[:, None].astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size,
                                              random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te


def evaluate(model, x, y, batch_size=256):
    """Accuracy of `model` on images `x` with labels `y` (inference mode)."""
    mode = model.training
    model.eval()
    try:
        correct = 0
        for i in range(0, len(x), batch_size):
            correct += int((model(x[i:i + batch_size]).argmax(axis=1) == y[i:i + batch_size]).sum())
    finally:
        model.train(mode)
    return correct / max(len(x), 1)


def random_shift(x, rng, max_shift):
    """Each image of `x` (N, C, H, W) moved by a random whole number of
    pixels in [-max_shift, max_shift] along H and W, filled with its
    background (the minimum of the batch)."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    m = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)), constant_values=x.min())
    dy, dx = rng.integers(0, 2 * m + 1, n), rng.integers(0, 2 * m + 1, n)
    return np.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def train(model, x, y, epochs=30, batch_size=64, lr=2e-3, seed=0, x_test=None,
          y_test=None, max_shift=2, out=sys.stderr):
    """Train `model` with Adam and cross-entropy, the learning rate following
    a cosine from `lr` down over the epochs, each batch shifted at random by
    up to `max_shift` pixels (see random_shift), printing a progress line per
    batch to `out` (None: silent). Returns a list of per-epoch dicts (loss,
    train accuracy, test accuracy if given, images/s)."""
    rng = np.random.default_rng(seed)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = []
    steps = -(-len(x) // batch_size)
    for epoch in range(1, epochs + 1):
        opt.lr = lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))
        order = rng.permutation(len(x))
        seen = correct = 0
        loss_sum = 0.0
        t0 = time.perf_counter()
        bar = Progress(steps, stream=out, force=True, width=24) if out is not None else None
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            logits = model(random_shift(x[idx], rng, max_shift))
            loss = loss_fn(logits, y[idx])
            opt.zero_grad()
            model.backward(loss_fn.backward())
            opt.step()
            seen += len(idx)
            loss_sum += float(loss) * len(idx)
            correct += int((logits.argmax(axis=1) == y[idx]).sum())
            if bar is not None:
                status = (f"epoch {epoch}/{epochs}  loss {loss_sum / seen:.4f}  "
                          f"acc {100 * correct / seen:5.1f}%  "
                          f"{seen / (time.perf_counter() - t0):,.0f} img/s")
                bar.step(status)
        rec = dict(epoch=epoch, loss=loss_sum / seen, train_acc=correct / seen,
                   images_per_s=seen / (time.perf_counter() - t0))
        if x_test is not None:
            rec["test_acc"] = evaluate(model, x_test, y_test)
        if bar is not None:
            if x_test is not None:
                bar.draw(f"{status}  test acc {100 * rec['test_acc']:5.1f}%")
            bar.close(keep=True)
        history.append(rec)
    return history


def run(argv=None):
    """Parse command-line arguments, train, report; returns the test accuracy."""
    p = argparse.ArgumentParser(
        prog="python -m convcore.examples.lenet",
        description="Train LeNet-5 with convcore on scikit-learn's 8x8 handwritten "
                    "digits upsampled to 32x32, and report held-out accuracy.")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    p.add_argument("--shift", type=int, default=2,
                   help="random shift of training images, in pixels (0: none)")
    p.add_argument("--threads", type=int, default=None,
                   help="convcore threads (default: all cores)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the split, the initialisation and the batch order")
    p.add_argument("--save", default="lenet5_digits.npz",
                   help="where to write the trained weights ('' to skip)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.shift < 0:
        p.error("--epochs and --batch-size must be >= 1, --shift >= 0")
    if args.threads is not None:
        convcore.set_num_threads(args.threads)
    out = None if args.quiet else sys.stderr

    x_tr, y_tr, x_te, y_te = load_digits_32(seed=args.seed)
    scaler = ChannelStandardizer().fit(x_tr)
    x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)
    model = lenet5(rng=args.seed)
    print(f"LeNet-5 on digits: {len(x_tr)} training, {len(x_te)} test images, "
          f"{convcore.get_num_threads()} thread(s)", file=sys.stdout)
    t0 = time.perf_counter()
    history = train(model, x_tr, y_tr, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, seed=args.seed, x_test=x_te, y_test=y_te,
                    max_shift=args.shift, out=out)
    elapsed = time.perf_counter() - t0
    acc = history[-1]["test_acc"]
    print(f"test accuracy {100 * acc:.2f}% after {args.epochs} epochs "
          f"({elapsed:.1f} s training)")
    if args.save:
        model.save(args.save)
        print(f"weights saved to {args.save}")
    return acc


def main(argv=None):
    """Entry point of ``python -m convcore.examples.lenet`` / ``convcore-lenet``."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
