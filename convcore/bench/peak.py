"""The machine's measured limits, for the report's "% of peak" column.

Measured, not taken from a data sheet: a data sheet's peak assumes a clock,
FMA pipes and a memory the machine (a VM, a shared host, a laptop on
battery) may not give. The probes are the kernel set's own
(``convcore/_csrc/ukernels.inc.c``), built and chosen like the convolution
kernels, and run on the benchmark's thread count.
"""
import time

import numpy as np

from convcore import _conv, _peak


def fma_peak(threads, dtype="float32", seconds=0.05, repeats=5):
    """FMA throughput of `threads` threads running the kernel set's probe.

    Parameters
    ----------
    threads : int
        Probes run at once, one per thread.
    dtype : {'float32', 'float64'}
    seconds : float
        Length of one timed run (the iteration count is calibrated to it).
    repeats : int
        Timed runs; the best is the peak (the probe cannot run faster than
        the machine, only slower when disturbed).

    Returns
    -------
    dict
        ``gflops`` (the best run), ``samples`` (GFLOP/s of every run),
        ``chains``, ``lanes``, ``iters``, ``kernel_set``.

    Examples
    --------
    >>> p = fma_peak(1, seconds=0.005, repeats=2)
    >>> p["gflops"] > 0
    True
    """
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"fma_peak: threads must be an int >= 1, got {threads!r}")
    chains, lanes = _peak.fma_shape(dtype)
    out = np.zeros(threads, dtype=dtype)
    flops_per_iter = 2 * chains * lanes
    iters = 1 << 14
    while True:  # calibrate: double until one run takes a tenth of `seconds`
        t0 = time.perf_counter()
        _peak.fma_probe(out, iters)
        dt = time.perf_counter() - t0
        if dt >= seconds / 10 or iters >= 1 << 40:
            break
        iters *= 2
    iters = max(1, int(iters * seconds / max(dt, 1e-9)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _peak.fma_probe(out, iters)
        dt = time.perf_counter() - t0
        samples.append(threads * iters * flops_per_iter / dt / 1e9)
    return {"gflops": max(samples), "samples": samples, "chains": chains,
            "lanes": lanes, "iters": iters, "kernel_set": _conv.get_kernel_set()}


def memory_peak(threads, nbytes=128 << 20, repeats=8):
    """Read and copy bandwidth of `threads` threads over a buffer well past
    the last-level cache.

    Parameters
    ----------
    threads : int
    nbytes : int
        Size of the buffer read (the copy moves half of it into a second
        buffer of that half's size).
    repeats : int
        Timed passes of each; the best is the peak.

    Returns
    -------
    dict
        ``read_gbps`` (bytes read per second), ``copy_gbps`` (bytes read +
        bytes written per second, the traffic a pooling pass is counted
        by), ``gbps`` (the larger: the limit quoted), their ``*_samples``
        and ``nbytes``.

    Examples
    --------
    >>> m = memory_peak(1, nbytes=1 << 20, repeats=2)
    >>> m["gbps"] >= m["copy_gbps"] > 0
    True
    """
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"memory_peak: threads must be an int >= 1, got {threads!r}")
    n = max(int(nbytes) // 4, 64)
    x = np.ones(n, dtype=np.float32)  # written once: every page is mapped
    half = x[: n // 2]
    y = np.zeros_like(half)
    out = np.zeros(threads, dtype=np.float32)
    _peak.stream_sum(x, out)  # warm-up
    _peak.stream_copy(half, y, threads)
    read, copy = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _peak.stream_sum(x, out)
        read.append(x.nbytes / (time.perf_counter() - t0) / 1e9)
        t0 = time.perf_counter()
        _peak.stream_copy(half, y, threads)
        copy.append(2 * half.nbytes / (time.perf_counter() - t0) / 1e9)
    return {"read_gbps": max(read), "copy_gbps": max(copy),
            "gbps": max(max(read), max(copy)), "read_samples": read,
            "copy_samples": copy, "nbytes": x.nbytes}
