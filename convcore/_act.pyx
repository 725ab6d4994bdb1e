"""Elementwise activation drivers: flat contiguous arrays, cut into chunks
that threads claim; each element is computed on its own, so the bits never
depend on the thread count. The tanh forward uses NumPy's SIMD tanh
(convcore.functional); everything else runs here."""
from cython cimport floating
from cython.parallel cimport prange

from convcore._conv cimport kernels_f32, kernels_f64
from convcore._openmp cimport task_threads

# elements per task: large enough to stream, small enough to balance
cdef enum:
    CHUNK = 1 << 15

# which op a call runs
cdef enum:
    RELU = 0
    LEAKY = 1
    LEAKY_BWD = 2
    SIGMOID_BWD = 3
    TANH_BWD = 4
    SIGMOID = 5


cdef void _run(int op, Py_ssize_t n, const floating *a, const floating *b,
               floating alpha, floating *y) noexcept nogil:
    if floating is float:
        if op == RELU:
            kernels_f32().relu(n, a, y)
        elif op == LEAKY:
            kernels_f32().leaky_relu(n, a, alpha, y)
        elif op == LEAKY_BWD:
            kernels_f32().leaky_relu_bwd(n, a, b, alpha, y)
        elif op == SIGMOID_BWD:
            kernels_f32().sigmoid_bwd(n, a, b, y)
        elif op == SIGMOID:
            kernels_f32().sigmoid(n, a, y)
        else:
            kernels_f32().tanh_bwd(n, a, b, y)
    else:
        if op == RELU:
            kernels_f64().relu(n, a, y)
        elif op == LEAKY:
            kernels_f64().leaky_relu(n, a, alpha, y)
        elif op == LEAKY_BWD:
            kernels_f64().leaky_relu_bwd(n, a, b, alpha, y)
        elif op == SIGMOID_BWD:
            kernels_f64().sigmoid_bwd(n, a, b, y)
        elif op == SIGMOID:
            kernels_f64().sigmoid(n, a, y)
        else:
            kernels_f64().tanh_bwd(n, a, b, y)


cdef void _elementwise(int op, const floating[::1] a, const floating[::1] b,
                       floating alpha, floating[::1] y):
    cdef Py_ssize_t n = y.shape[0], nch = (n + CHUNK - 1) // CHUNK, c, lo
    if n == 0:
        return
    cdef int nt = task_threads(nch, n * 0.5)  # ~0.5 ns per value, one thread
    cdef const floating *pa = &a[0]
    cdef const floating *pb = &b[0]
    cdef floating *py = &y[0]
    for c in prange(nch, nogil=True, num_threads=nt, schedule='dynamic'):
        lo = c * CHUNK
        _run(op, min(CHUNK, n - lo), pa + lo, pb + lo, alpha, py + lo)


def relu(const floating[::1] x, floating[::1] y):
    """y = max(x, 0), NaN kept."""
    _elementwise(RELU, x, x, 0, y)  # b unused


def leaky_relu(const floating[::1] x, double slope, floating[::1] y):
    """y = x if x > 0 else slope * x."""
    _elementwise(LEAKY, x, x, <floating>slope, y)  # b unused


def leaky_relu_bwd(const floating[::1] g, const floating[::1] x, double slope,
                   floating[::1] dx):
    """dx = g if x > 0 else slope * g (ReLU: slope 0)."""
    _elementwise(LEAKY_BWD, g, x, <floating>slope, dx)


def sigmoid(const floating[::1] x, floating[::1] y):
    """y = 1 / (1 + exp(-x)), from exp(-|x|) (no overflow)."""
    _elementwise(SIGMOID, x, x, 0, y)  # b unused


def sigmoid_bwd(const floating[::1] g, const floating[::1] y, floating[::1] dx):
    """dx = g * y * (1 - y), y the sigmoid's output."""
    _elementwise(SIGMOID_BWD, g, y, 0, dx)


def tanh_bwd(const floating[::1] g, const floating[::1] y, floating[::1] dx):
    """dx = g * (1 - y*y), y the tanh's output."""
    _elementwise(TANH_BWD, g, y, 0, dx)
