# The kernel set in use (chosen at import, switchable for tests), for the
# other driver modules, and fused wrappers for its primitives that have no
# packed layout (safe to call through the current set at any moment; the
# gemm and dot kernels, whose tiles fix the packing, go through the set a
# call captured at its start instead).
from cython cimport floating
from libc.stddef cimport ptrdiff_t
from libc.stdint cimport int32_t

from convcore._kernels cimport cc_f32_kernels, cc_f64_kernels

cdef const cc_f32_kernels *kernels_f32() noexcept nogil
cdef const cc_f64_kernels *kernels_f64() noexcept nogil

# whether a GEMM with M output rows takes the narrow (MR2-row) kernel
cdef bint _use_narrow(Py_ssize_t M, Py_ssize_t k, int MR, int MR2, int NR,
                      int VL) noexcept nogil


cdef inline void k_axpy(Py_ssize_t n, floating alpha, const floating *x,
                        Py_ssize_t incx, floating *y) noexcept nogil:
    if floating is float:
        kernels_f32().axpy(n, alpha, x, incx, y)
    else:
        kernels_f64().axpy(n, alpha, x, incx, y)


cdef inline void k_axpy_scatter(Py_ssize_t n, floating alpha, const floating *x,
                                floating *y, Py_ssize_t incy) noexcept nogil:
    if floating is float:
        kernels_f32().axpy_scatter(n, alpha, x, y, incy)
    else:
        kernels_f64().axpy_scatter(n, alpha, x, y, incy)


cdef inline void k_taps(Py_ssize_t rows, Py_ssize_t n, Py_ssize_t ntaps,
                        const ptrdiff_t *off, const floating *w,
                        const floating *x, Py_ssize_t xld, floating bias,
                        floating *y, Py_ssize_t yld) noexcept nogil:
    if floating is float:
        kernels_f32().taps(rows, n, ntaps, off, w, x, xld, bias, y, yld)
    else:
        kernels_f64().taps(rows, n, ntaps, off, w, x, xld, bias, y, yld)


cdef inline floating k_dot_strided(Py_ssize_t n, const floating *x,
                                   Py_ssize_t incx,
                                   const floating *y) noexcept nogil:
    if floating is float:
        return kernels_f32().dot_strided(n, x, incx, y)
    else:
        return kernels_f64().dot_strided(n, x, incx, y)


cdef inline void k_taps_dot(Py_ssize_t rows, Py_ssize_t n, Py_ssize_t ntaps,
                            const ptrdiff_t *off, const floating *x,
                            Py_ssize_t xld, const floating *y, Py_ssize_t yld,
                            floating *out) noexcept nogil:
    if floating is float:
        kernels_f32().taps_dot(rows, n, ntaps, off, x, xld, y, yld, out)
    else:
        kernels_f64().taps_dot(rows, n, ntaps, off, x, xld, y, yld, out)


cdef inline void k_gather(Py_ssize_t n, const floating *x, Py_ssize_t incx,
                          floating *y) noexcept nogil:
    if floating is float:
        kernels_f32().gather(n, x, incx, y)
    else:
        kernels_f64().gather(n, x, incx, y)


cdef inline void k_pack2d(Py_ssize_t rows, Py_ssize_t n, const floating *src,
                          Py_ssize_t sld, floating *dst) noexcept nogil:
    if floating is float:
        kernels_f32().pack2d(rows, n, src, sld, dst)
    else:
        kernels_f64().pack2d(rows, n, src, sld, dst)


cdef inline void k_gather2d(Py_ssize_t rows, Py_ssize_t n, const floating *x,
                            Py_ssize_t xld, Py_ssize_t incx, floating *y,
                            Py_ssize_t yld) noexcept nogil:
    if floating is float:
        kernels_f32().gather2d(rows, n, x, xld, incx, y, yld)
    else:
        kernels_f64().gather2d(rows, n, x, xld, incx, y, yld)


cdef inline void k_deint2d(Py_ssize_t rows, Py_ssize_t n, const floating *x,
                           Py_ssize_t xld, floating *y0, floating *y1,
                           Py_ssize_t yld) noexcept nogil:
    if floating is float:
        kernels_f32().deint2d(rows, n, x, xld, y0, y1, yld)
    else:
        kernels_f64().deint2d(rows, n, x, xld, y0, y1, yld)


cdef inline void k_int2d(Py_ssize_t rows, Py_ssize_t n, const floating *y0,
                         const floating *y1, Py_ssize_t yld, floating *x,
                         Py_ssize_t xld) noexcept nogil:
    if floating is float:
        kernels_f32().int2d(rows, n, y0, y1, yld, x, xld)
    else:
        kernels_f64().int2d(rows, n, y0, y1, yld, x, xld)


cdef inline void k_max_update(Py_ssize_t n, const floating *v,
                              floating *cur) noexcept nogil:
    if floating is float:
        kernels_f32().max_update(n, v, cur)
    else:
        kernels_f64().max_update(n, v, cur)


cdef inline void k_max_taps(Py_ssize_t n, Py_ssize_t ntaps,
                            const ptrdiff_t *off, const floating *x,
                            floating *y, int32_t *tap) noexcept nogil:
    if floating is float:
        kernels_f32().max_taps(n, ntaps, off, x, y, tap)
    else:
        kernels_f64().max_taps(n, ntaps, off, x, y, tap)


cdef inline floating k_stream_sum(Py_ssize_t n,
                                  const floating *x) noexcept nogil:
    if floating is float:
        return kernels_f32().stream_sum(n, x)
    else:
        return kernels_f64().stream_sum(n, x)


cdef inline void k_max_update_tap(Py_ssize_t n, const floating *v,
                                  floating *cur, int32_t *tap,
                                  int32_t id) noexcept nogil:
    if floating is float:
        kernels_f32().max_update_tap(n, v, cur, tap, id)
    else:
        kernels_f64().max_update_tap(n, v, cur, tap, id)


cdef inline void k_add(Py_ssize_t n, const floating *v,
                       floating *cur) noexcept nogil:
    if floating is float:
        kernels_f32().add(n, v, cur)
    else:
        kernels_f64().add(n, v, cur)
