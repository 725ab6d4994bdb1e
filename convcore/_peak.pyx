"""Peak probes of the benchmark report: the FMA throughput and the memory
bandwidth this machine gives the kernel set in use.

Drivers only: convcore.bench.peak allocates the buffers, picks the iteration
counts, times the calls and turns them into GFLOP/s and GB/s. Each call runs
one probe per thread, all at once, so that the figure is what `threads`
threads get together (shared caches, memory controller and clock limits
included), which is what a kernel call with that many threads can use.
"""
from cython cimport floating
from cython.parallel cimport prange

from convcore._conv cimport kernels_f32, kernels_f64
from convcore._openmp import fork_serial


cdef int _team(Py_ssize_t t):
    """Threads for a probe's t slices: one in a forked child, where OpenMP's
    pool may not have survived the fork (as for the kernels)."""
    return 1 if fork_serial() else <int>t


def fma_shape(dtype):
    """(chains, lanes) of the FMA probe of the kernel set in use.

    One probe step does ``2 * chains * lanes`` floating-point operations.

    Parameters
    ----------
    dtype : {'float32', 'float64'}

    Examples
    --------
    >>> from convcore import _peak
    >>> chains, lanes = _peak.fma_shape("float32")
    >>> chains >= 1 and lanes >= 1
    True
    """
    if str(dtype) == "float32":
        return kernels_f32().fma_chains, kernels_f32().dvl
    if str(dtype) == "float64":
        return kernels_f64().fma_chains, kernels_f64().dvl
    raise ValueError(f"fma_shape: dtype must be 'float32' or 'float64', got {dtype!r}")


def fma_probe(floating[::1] out, Py_ssize_t iters):
    """Run the FMA probe `iters` steps on ``len(out)`` threads at once.

    Thread i writes its probe's checksum to ``out[i]`` (which keeps the
    compiler from dropping the loop).

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import _peak
    >>> out = np.zeros(1, np.float32)
    >>> _peak.fma_probe(out, 1000)
    >>> bool(np.isfinite(out[0]))
    True
    """
    cdef Py_ssize_t i, t = out.shape[0]
    cdef int nt = _team(t)
    # acc*m + a with |m| < 1 stays finite and away from denormals
    for i in prange(t, nogil=True, num_threads=nt, schedule="static", chunksize=1):
        if floating is float:
            out[i] = kernels_f32().fma_probe(iters, 0.999, 0.001)
        else:
            out[i] = kernels_f64().fma_probe(iters, 0.999, 0.001)


def stream_sum(const floating[::1] x, floating[::1] out):
    """Sum `x` in ``len(out)`` contiguous slices, one per thread at once.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import _peak
    >>> out = np.zeros(2)
    >>> _peak.stream_sum(np.ones(1000), out)
    >>> float(out.sum())
    1000.0
    """
    cdef Py_ssize_t i, lo, hi, t = out.shape[0], n = x.shape[0]
    cdef int nt = _team(t)
    for i in prange(t, nogil=True, num_threads=nt, schedule="static", chunksize=1):
        lo = i * n // t
        hi = (i + 1) * n // t
        if hi > lo:
            if floating is float:
                out[i] = kernels_f32().stream_sum(hi - lo, &x[lo])
            else:
                out[i] = kernels_f64().stream_sum(hi - lo, &x[lo])


def stream_copy(const floating[::1] x, floating[::1] y, int threads):
    """Copy `x` into `y` (same length) in `threads` slices at once.

    Examples
    --------
    >>> import numpy as np
    >>> from convcore import _peak
    >>> y = np.zeros(100)
    >>> _peak.stream_copy(np.arange(100.0), y, 2)
    >>> float(y[99])
    99.0
    """
    cdef Py_ssize_t i, lo, hi, n = x.shape[0]
    cdef int t = threads
    if y.shape[0] != n:
        raise ValueError(f"stream_copy: y must have the length of x ({n}), got {y.shape[0]}")
    if t < 1:
        raise ValueError(f"stream_copy: threads must be >= 1, got {t}")
    cdef int nt = _team(t)
    for i in prange(t, nogil=True, num_threads=nt, schedule="static", chunksize=1):
        lo = i * n // t
        hi = (i + 1) * n // t
        if hi > lo:
            if floating is float:
                kernels_f32().stream_copy(hi - lo, &x[lo], &y[lo])
            else:
                kernels_f64().stream_copy(hi - lo, &x[lo], &y[lo])
