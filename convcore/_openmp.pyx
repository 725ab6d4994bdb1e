"""Thread-count control shared by every convcore kernel."""
import operator
import os

# 0: follow OpenMP (OMP_NUM_THREADS, threadpoolctl limits, usable cores)
cdef int _user_threads = 0

# Least single-thread work (estimated nanoseconds) that earns a thread:
# waking a team and joining it costs microseconds, and far more when the
# host has taken a core away, so small calls (a LeNet layer, a ReLU over a
# few thousand values) run on one thread.
cdef double _min_thread_ns = 20000.0

# Fork safety. GNU libgomp's thread pool does not survive fork(): in a child
# forked after the parent ran a parallel region on more than one thread, the
# next such region waits forever for threads that were not copied. The pool
# belongs to the process's one libgomp, which other libraries share (PyTorch
# ships a libgomp.so.1 too; the first one loaded serves both), so convcore
# cannot tell whether it is alive: every forked child runs convcore serially
# (get_num_threads() says 1, whatever set_num_threads asks). Children started
# with spawn or forkserver are fresh processes and use threads as usual.
cdef bint _fork_serial = False


cdef int effective_num_threads() noexcept nogil:
    if not CC_HAVE_OPENMP or _fork_serial:
        return 1
    if _user_threads > 0:
        return _user_threads
    return omp_get_max_threads()


cdef int task_threads(Py_ssize_t tasks, double work_ns) noexcept nogil:
    """Threads for a call of `tasks` independent tasks estimated to take
    `work_ns` on one thread: the effective count, never more than the tasks
    nor than the work pays for, at least 1."""
    cdef Py_ssize_t n = effective_num_threads()
    if tasks < n:
        n = tasks
    if _min_thread_ns > 0 and work_ns < n * _min_thread_ns:
        n = <Py_ssize_t>(work_ns / _min_thread_ns)
    return <int>(n if n > 0 else 1)


def _after_fork_in_child():
    global _fork_serial
    _fork_serial = True


if CC_HAVE_OPENMP and hasattr(os, "register_at_fork"):
    # POSIX: os.fork, multiprocessing's 'fork' start method
    os.register_at_fork(after_in_child=_after_fork_in_child)


def fork_serial():
    """True in a process created by fork from one that had imported convcore
    (an OpenMP build): OpenMP's threads may not have survived the fork, so
    convcore runs serially here (see set_num_threads)."""
    return bool(_fork_serial)


def _set_min_thread_work(ns):
    """Testing hook: least estimated work (ns) per thread; 0 lets every call
    with enough tasks use all threads. Returns the previous value."""
    global _min_thread_ns
    previous = _min_thread_ns
    _min_thread_ns = float(ns)
    return previous


def set_num_threads(n):
    """Set the number of threads convcore kernels use, for the whole process.

    Parameters
    ----------
    n : int or None
        Threads per kernel call, >= 1. ``None`` goes back to following
        OpenMP: ``OMP_NUM_THREADS``, else the usable cores, and limits set
        with threadpoolctl (which act on OpenMP in the calling thread).

    Notes
    -----
    In a child process created by ``fork`` (``os.fork``, multiprocessing's
    ``'fork'`` start method, the default on Linux before Python 3.14),
    convcore stays on one thread whatever ``n`` is: GNU OpenMP's thread pool
    does not survive a fork, and a threaded call there would hang when the
    parent had used it (convcore, or any library sharing its libgomp, such as
    PyTorch). Children started with ``'spawn'`` or ``'forkserver'`` use
    threads as usual.

    Examples
    --------
    >>> import convcore
    >>> convcore.set_num_threads(1)
    >>> convcore.get_num_threads()
    1
    >>> convcore.set_num_threads(None)
    """
    global _user_threads
    if n is None:
        _user_threads = 0
        return
    try:
        if isinstance(n, bool):
            raise TypeError
        n = operator.index(n)
    except TypeError:
        raise TypeError(
            f"set_num_threads: n must be an int >= 1 or None, got {n!r}") from None
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    # convcore's own setting: OpenMP's (and other libraries') is left alone
    _user_threads = n


def get_num_threads():
    """Number of threads the next kernel call started from this thread uses.

    Examples
    --------
    >>> import convcore
    >>> convcore.get_num_threads() >= 1
    True
    """
    return effective_num_threads()


def openmp_enabled():
    """True when this build runs kernels with OpenMP threads."""
    return bool(CC_HAVE_OPENMP)
