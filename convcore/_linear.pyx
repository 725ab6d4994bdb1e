"""Fully connected layers as one GEMM driver on the conv engine's gemm
micro-kernel: C[M, N] = A[M, K] . B[K, N] for A and B of any strides.

A is packed once per call into MR-row panels ([k][MR], rows past M zero); a
task is one NR-column tile of C and a block of MR-row tiles: it packs its B
panel ([k][NR], columns past N zero) and sweeps its rows. Every element of C
is one micro-kernel sum over k in increasing order, so the bits never depend
on the thread count or on how the work is cut.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.string cimport memcpy, memset

from convcore._conv cimport _use_narrow, kernels_f32, kernels_f64
from convcore._openmp cimport omp_get_thread_num, task_threads
from convcore._util cimport cdiv as _cdiv, imin as _imin

cdef void _pack_a(const floating[:, :] a, Py_ssize_t MR,
                  floating *dst) noexcept nogil:
    """a[M, K] -> [M/MR tile][k][MR], rows past M zero; reads run along
    a's smaller stride."""
    cdef Py_ssize_t M = a.shape[0], K = a.shape[1], t, m, l, mr
    cdef Py_ssize_t s0 = a.strides[0] // sizeof(floating)
    cdef Py_ssize_t s1 = a.strides[1] // sizeof(floating)
    cdef const floating *src
    for t in range(_cdiv(M, MR)):
        mr = _imin(MR, M - t * MR)
        if mr < MR:
            memset(dst, 0, K * MR * sizeof(floating))
        src = &a[t * MR, 0]
        if s1 <= s0:
            for m in range(mr):
                for l in range(K):
                    dst[l * MR + m] = src[m * s0 + l * s1]
        else:
            for l in range(K):
                for m in range(mr):
                    dst[l * MR + m] = src[m * s0 + l * s1]
        dst += K * MR


cdef void _pack_b(const floating[:, :] b, Py_ssize_t n0, Py_ssize_t NR,
                  floating *dst) noexcept nogil:
    """Columns n0 .. n0+NR of b[K, N] -> [k][NR], columns past N zero;
    reads run along b's smaller stride."""
    cdef Py_ssize_t K = b.shape[0], nc = _imin(NR, b.shape[1] - n0), l, j
    cdef Py_ssize_t s0 = b.strides[0] // sizeof(floating)
    cdef Py_ssize_t s1 = b.strides[1] // sizeof(floating)
    cdef const floating *src = &b[0, n0]
    if nc < NR:
        memset(dst, 0, K * NR * sizeof(floating))
    if s1 == 1:
        for l in range(K):
            memcpy(dst + l * NR, src + l * s0, nc * sizeof(floating))
    elif s0 < s1:
        for j in range(nc):
            for l in range(K):
                dst[l * NR + j] = src[l * s0 + j * s1]
    else:
        for l in range(K):
            for j in range(nc):
                dst[l * NR + j] = src[l * s0 + j * s1]


cdef void _gemm(bint narrow, Py_ssize_t k, const floating *a,
                const floating *b, Py_ssize_t ldb, floating *c,
                Py_ssize_t ldc) noexcept nogil:
    if floating is float:
        if narrow:
            kernels_f32().gemm2(k, a, b, ldb, c, ldc, NULL, 0)
        else:
            kernels_f32().gemm(k, a, b, ldb, c, ldc, NULL, 0)
    else:
        if narrow:
            kernels_f64().gemm2(k, a, b, ldb, c, ldc, NULL, 0)
        else:
            kernels_f64().gemm(k, a, b, ldb, c, ldc, NULL, 0)


cdef void _task(bint narrow, Py_ssize_t t, Py_ssize_t rb, Py_ssize_t tpb,
                Py_ssize_t MR, Py_ssize_t NR, const floating *ap,
                const floating[:, :] b, floating[:, ::1] c,
                floating *panel, floating *tile) noexcept nogil:
    cdef Py_ssize_t M = c.shape[0], N = c.shape[1], K = b.shape[0]
    cdef Py_ssize_t n0 = (t // rb) * NR, nc = _imin(NR, N - n0)
    cdef Py_ssize_t mt, mt1 = _imin((t % rb + 1) * tpb, _cdiv(M, MR)), m0, mr, r
    _pack_b(b, n0, NR, panel)
    for mt in range((t % rb) * tpb, mt1):
        m0 = mt * MR
        mr = _imin(MR, M - m0)
        if mr == MR and nc == NR:
            _gemm(narrow, K, ap + mt * K * MR, panel, NR, &c[m0, n0], N)
        else:
            _gemm(narrow, K, ap + mt * K * MR, panel, NR, tile, NR)
            for r in range(mr):
                memcpy(&c[m0 + r, n0], tile + r * NR, nc * sizeof(floating))


def matmul(const floating[:, :] a, const floating[:, :] b,
           floating[:, ::1] c):
    """c[M, N] = a[M, K] . b[K, N]; c fully overwritten (shapes checked by
    the caller)."""
    cdef Py_ssize_t M = c.shape[0], N = c.shape[1], K = a.shape[1]
    if M == 0 or N == 0:
        return
    if K == 0:
        c[:, :] = 0
        return
    cdef int MR, MR2, NR, VL
    if floating is float:
        MR, MR2, NR = kernels_f32().mr, kernels_f32().mr2, kernels_f32().nr
        VL = kernels_f32().dvl
    else:
        MR, MR2, NR = kernels_f64().mr, kernels_f64().mr2, kernels_f64().nr
        VL = kernels_f64().dvl
    cdef bint narrow = _use_narrow(M, K, MR, MR2, NR, VL)
    if narrow:
        MR = MR2
    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t nmt = _cdiv(M, MR), ntn = _cdiv(N, NR)
    cdef int nt = task_threads(nmt * ntn, 2.0 * M * N * K * 0.01)
    # row blocks: one when serial (each B panel packed once), else enough
    # tasks to balance; the bits of C do not depend on this choice
    cdef Py_ssize_t rb = 1 if nt == 1 else _imin(nmt, _cdiv(4 * nt, ntn))
    cdef Py_ssize_t tpb = _cdiv(nmt, rb)
    rb = _cdiv(nmt, tpb)
    cdef Py_ssize_t ntasks = ntn * rb
    apa = np.empty(nmt * K * MR, dtype=dtype)
    cdef floating[::1] ap = apa
    cdef Py_ssize_t per = K * NR + MR * NR
    wsa = np.empty(per * nt, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *buf
    cdef Py_ssize_t t
    with nogil:
        _pack_a(a, MR, &ap[0])
        if nt == 1:  # skip the cost of a parallel region
            for t in range(ntasks):
                _task(narrow, t, rb, tpb, MR, NR, &ap[0], b, c, &ws[0],
                      &ws[0] + K * NR)
        else:
            with parallel(num_threads=nt):
                buf = &ws[0] + omp_get_thread_num() * per
                for t in prange(ntasks, schedule='dynamic'):
                    _task(narrow, t, rb, tpb, MR, NR, &ap[0], b, c, buf,
                          buf + K * NR)
