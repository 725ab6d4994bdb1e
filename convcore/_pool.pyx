"""Pooling drivers: max and average pooling over NCHW planes, forward and
backward, vectorized along the output width.

Everything here trusts its caller (convcore.functional validated the
arguments, computed the output size and allocated the outputs). Inputs are
viewed as (planes, H, W) with planes = N*C; one task is one plane, so the
work splits over threads without any reduction and the bits never depend on
the thread count.

A forward task first copies its plane into a padded buffer, split into SW
phase planes (column j of the padded plane lands in phase j % SW at j // SW):
every window tap then reads a contiguous run of output-width values, whatever
the stride, and the row kernels (convcore/_csrc) run at vector speed.
"""
import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY
from libc.stdint cimport int64_t
from libc.string cimport memset

from convcore._conv cimport kernels_f32, kernels_f64
from convcore._openmp cimport effective_num_threads, omp_get_thread_num


cdef struct Pool:
    Py_ssize_t H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW
    Py_ssize_t Hp, Lp  # rows of the padded plane, length of one phase row


cdef inline Py_ssize_t _cdiv(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return (a + b - 1) // b


cdef inline Py_ssize_t _imin(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _imax(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


cdef Pool _pool(Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                tuple k, tuple s, tuple p, tuple d):
    cdef Pool q
    q.H, q.W, q.OH, q.OW = H, W, OH, OW
    q.KH, q.KW = k
    q.SH, q.SW = s
    q.PH, q.PW = p
    q.DH, q.DW = d
    q.Hp = (OH - 1) * q.SH + (q.KH - 1) * q.DH + 1
    q.Lp = _cdiv((OW - 1) * q.SW + (q.KW - 1) * q.DW + 1, q.SW)
    return q


cdef int _threads(Py_ssize_t tasks) noexcept nogil:
    return <int>_imax(1, _imin(effective_num_threads(), tasks))


cdef void _phase_plane(const floating *x, const Pool *q, floating pad,
                       floating *buf) noexcept nogil:
    """buf[r][i][m] = padded plane at (row i, column m*SW + r), `pad`
    outside the input (rows of the padded plane past the input included)."""
    cdef Py_ssize_t r, i, m, ih, iw
    cdef floating *dst
    cdef const floating *src
    for r in range(q.SW):
        for i in range(q.Hp):
            dst = buf + (r * q.Hp + i) * q.Lp
            ih = i - q.PH
            if ih < 0 or ih >= q.H:
                for m in range(q.Lp):
                    dst[m] = pad
                continue
            src = x + ih * q.W
            for m in range(q.Lp):
                iw = m * q.SW + r - q.PW
                dst[m] = src[iw] if 0 <= iw < q.W else pad


cdef inline const floating *_tap(const floating *buf, const Pool *q,
                                 Py_ssize_t row, Py_ssize_t kw) noexcept nogil:
    """The run of padded-plane values tap kw of output row `row` reads."""
    cdef Py_ssize_t c = kw * q.DW
    return buf + ((c % q.SW) * q.Hp + row) * q.Lp + c // q.SW


# --------------------------------------------------------------------- max --

cdef void _max_task(const Pool *q, const floating *x, floating *out,
                    int64_t *idx, floating *buf) noexcept nogil:
    cdef Py_ssize_t oh, ow, kh, kw, row, ih, iw0, hstart, wstart
    cdef floating *o
    cdef int64_t *ix
    _phase_plane(x, q, -INFINITY, buf)
    for oh in range(q.OH):
        o = out + oh * q.OW
        for ow in range(q.OW):
            o[ow] = -INFINITY
        if idx != NULL:
            # PyTorch's index for a window of -inf: its first in-bounds cell
            ix = idx + oh * q.OW
            hstart = oh * q.SH - q.PH
            if hstart < 0:
                hstart += _cdiv(-hstart, q.DH) * q.DH
            for ow in range(q.OW):
                iw0 = ow * q.SW - q.PW
                wstart = iw0 if iw0 >= 0 else iw0 + _cdiv(-iw0, q.DW) * q.DW
                ix[ow] = hstart * q.W + wstart
        for kh in range(q.KH):
            row = oh * q.SH + kh * q.DH
            ih = row - q.PH
            if ih < 0 or ih >= q.H:
                continue  # a row of padding: never the maximum
            for kw in range(q.KW):
                if floating is float:
                    if idx == NULL:
                        kernels_f32().max_update(q.OW, _tap(buf, q, row, kw), o)
                    else:
                        kernels_f32().max_update_idx(
                            q.OW, _tap(buf, q, row, kw), o, ix,
                            ih * q.W + kw * q.DW - q.PW, q.SW)
                else:
                    if idx == NULL:
                        kernels_f64().max_update(q.OW, _tap(buf, q, row, kw), o)
                    else:
                        kernels_f64().max_update_idx(
                            q.OW, _tap(buf, q, row, kw), o, ix,
                            ih * q.W + kw * q.DW - q.PW, q.SW)


def max_pool2d_fwd(const floating[:, :, ::1] x, floating[:, :, ::1] out,
                   int64_t[:, :, ::1] idx, tuple k, tuple s, tuple p, tuple d):
    """out[plane] = max over each window; idx (or None) the argmax as
    h * W + w in the plane."""
    cdef Pool q = _pool(x.shape[1], x.shape[2], out.shape[1], out.shape[2],
                        k, s, p, d)
    cdef Py_ssize_t planes = x.shape[0], t
    if planes == 0 or q.OH == 0 or q.OW == 0:
        return
    cdef int nt = _threads(planes)
    cdef Py_ssize_t per = q.SW * q.Hp * q.Lp
    ws = np.empty(per * nt, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] wsv = ws
    cdef floating *ws0 = &wsv[0]
    cdef int64_t *ip = NULL if idx is None else &idx[0, 0, 0]
    cdef Py_ssize_t osz = q.OH * q.OW
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            _max_task(&q, &x[t, 0, 0], &out[t, 0, 0],
                      NULL if ip == NULL else ip + t * osz,
                      ws0 + omp_get_thread_num() * per)


def max_pool2d_bwd(const floating[:, :, ::1] gout, const int64_t[:, :, ::1] idx,
                   floating[:, :, ::1] gin):
    """gin[plane][idx] += gout[plane] (gin zeroed by the caller; indices
    already checked to lie in the plane)."""
    cdef Py_ssize_t planes = gout.shape[0], t, i
    cdef Py_ssize_t osz = gout.shape[1] * gout.shape[2]
    if planes == 0 or osz == 0:
        return
    cdef int nt = _threads(planes)
    cdef const floating *g
    cdef const int64_t *ix
    cdef floating *dst
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            g = &gout[t, 0, 0]
            ix = &idx[t, 0, 0]
            dst = &gin[t, 0, 0]
            for i in range(osz):
                dst[ix[i]] += g[i]


# --------------------------------------------------------------------- avg --

cdef void _avg_task(const Pool *q, const floating *x, floating *out,
                    const floating *dh, const floating *dw,
                    floating *buf) noexcept nogil:
    cdef Py_ssize_t oh, ow, kh, kw, row, ih
    cdef floating *o
    _phase_plane(x, q, 0, buf)
    for oh in range(q.OH):
        o = out + oh * q.OW
        for ow in range(q.OW):
            o[ow] = 0
        for kh in range(q.KH):
            row = oh * q.SH + kh * q.DH
            ih = row - q.PH
            if ih < 0 or ih >= q.H:
                continue  # zeros
            for kw in range(q.KW):
                if floating is float:
                    kernels_f32().axpy(q.OW, 1, _tap(buf, q, row, kw), 1, o)
                else:
                    kernels_f64().axpy(q.OW, 1, _tap(buf, q, row, kw), 1, o)
        for ow in range(q.OW):
            o[ow] = o[ow] / (dh[oh] * dw[ow])


def avg_pool2d_fwd(const floating[:, :, ::1] x, floating[:, :, ::1] out,
                   const floating[::1] div_h, const floating[::1] div_w,
                   tuple k, tuple s, tuple p):
    """out[plane] = window sums / (div_h[oh] * div_w[ow])."""
    cdef Pool q = _pool(x.shape[1], x.shape[2], out.shape[1], out.shape[2],
                        k, s, p, (1, 1))
    cdef Py_ssize_t planes = x.shape[0], t
    if planes == 0 or q.OH == 0 or q.OW == 0:
        return
    cdef int nt = _threads(planes)
    cdef Py_ssize_t per = q.SW * q.Hp * q.Lp
    ws = np.empty(per * nt, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] wsv = ws
    cdef floating *ws0 = &wsv[0]
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            _avg_task(&q, &x[t, 0, 0], &out[t, 0, 0], &div_h[0], &div_w[0],
                      ws0 + omp_get_thread_num() * per)


cdef void _avg_bwd_task(const Pool *q, const floating *g, floating *gin,
                        const floating *dh, const floating *dw,
                        floating *buf) noexcept nogil:
    """Scatter each output's share into a padded gradient plane (Hp x Wp,
    rows Wp wide, no phases), then crop it into gin."""
    cdef Py_ssize_t Wp = (q.OW - 1) * q.SW + (q.KW - 1) + 1
    cdef floating *share = buf + q.Hp * Wp
    cdef Py_ssize_t oh, ow, kh, kw, row, ih, iw
    memset(buf, 0, q.Hp * Wp * sizeof(floating))
    for oh in range(q.OH):
        for ow in range(q.OW):
            share[ow] = g[oh * q.OW + ow] / (dh[oh] * dw[ow])
        for kh in range(q.KH):
            row = oh * q.SH + kh
            for kw in range(q.KW):
                if floating is float:
                    kernels_f32().axpy_scatter(q.OW, 1, share,
                                               buf + row * Wp + kw, q.SW)
                else:
                    kernels_f64().axpy_scatter(q.OW, 1, share,
                                               buf + row * Wp + kw, q.SW)
    for ih in range(q.H):
        if ih + q.PH >= q.Hp:
            break
        for iw in range(q.W):
            if iw + q.PW < Wp:
                gin[ih * q.W + iw] = buf[(ih + q.PH) * Wp + iw + q.PW]


def avg_pool2d_bwd(const floating[:, :, ::1] gout, floating[:, :, ::1] gin,
                   const floating[::1] div_h, const floating[::1] div_w,
                   tuple k, tuple s, tuple p):
    """gin = the gradient of avg_pool2d_fwd (gin zeroed by the caller)."""
    cdef Pool q = _pool(gin.shape[1], gin.shape[2], gout.shape[1],
                        gout.shape[2], k, s, p, (1, 1))
    cdef Py_ssize_t planes = gin.shape[0], t
    if planes == 0 or q.OH == 0 or q.OW == 0:
        return
    cdef int nt = _threads(planes)
    cdef Py_ssize_t Wp = (q.OW - 1) * q.SW + (q.KW - 1) + 1
    cdef Py_ssize_t per = q.Hp * Wp + q.OW
    ws = np.empty(per * nt, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] wsv = ws
    cdef floating *ws0 = &wsv[0]
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            _avg_bwd_task(&q, &gout[t, 0, 0], &gin[t, 0, 0], &div_h[0],
                          &div_w[0], ws0 + omp_get_thread_num() * per)


# ---------------------------------------------------------------- adaptive --

def adaptive_avg_pool2d_fwd(const floating[:, :, ::1] x,
                            floating[:, :, ::1] out,
                            const Py_ssize_t[::1] h0, const Py_ssize_t[::1] h1,
                            const Py_ssize_t[::1] w0, const Py_ssize_t[::1] w1):
    """out[oh, ow] = mean of x[h0[oh]:h1[oh], w0[ow]:w1[ow]]."""
    cdef Py_ssize_t planes = x.shape[0], OH = out.shape[1], OW = out.shape[2]
    cdef Py_ssize_t t, oh, ow, i, j
    cdef floating acc
    if planes == 0:
        return
    cdef int nt = _threads(planes)
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            for oh in range(OH):
                for ow in range(OW):
                    acc = 0
                    for i in range(h0[oh], h1[oh]):
                        for j in range(w0[ow], w1[ow]):
                            acc = acc + x[t, i, j]
                    out[t, oh, ow] = acc / ((h1[oh] - h0[oh]) * (w1[ow] - w0[ow]))


def adaptive_avg_pool2d_bwd(const floating[:, :, ::1] gout,
                            floating[:, :, ::1] gin,
                            const Py_ssize_t[::1] h0, const Py_ssize_t[::1] h1,
                            const Py_ssize_t[::1] w0, const Py_ssize_t[::1] w1):
    """gin += each output's gradient spread evenly over its window (gin
    zeroed by the caller)."""
    cdef Py_ssize_t planes = gout.shape[0], OH = gout.shape[1]
    cdef Py_ssize_t OW = gout.shape[2], t, oh, ow, i, j
    cdef floating share
    if planes == 0:
        return
    cdef int nt = _threads(planes)
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            for oh in range(OH):
                for ow in range(OW):
                    share = gout[t, oh, ow] / ((h1[oh] - h0[oh]) * (w1[ow] - w0[ow]))
                    for i in range(h0[oh], h1[oh]):
                        for j in range(w0[ow], w1[ow]):
                            gin[t, i, j] += share
