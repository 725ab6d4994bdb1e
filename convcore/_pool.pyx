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
from libc.stdint cimport int32_t, int64_t
from libc.stddef cimport ptrdiff_t
from libc.string cimport memcpy, memset

from convcore._conv cimport (
    k_add, k_axpy_scatter, k_deint2d, k_gather2d, k_int2d, k_max_taps, k_taps, k_max_update,
    k_max_update_tap, k_stream_sum)
from convcore._openmp cimport omp_get_thread_num, task_threads
from convcore._util cimport cdiv as _cdiv, imax as _imax, imin as _imin


cdef struct Pool:
    Py_ssize_t H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW
    Py_ssize_t Hp      # rows of the padded plane the windows cover
    Py_ssize_t Hq, Lp  # rows and row length of one phase plane
    Py_ssize_t PL      # elements of one phase plane, with slack for over-reads


cdef inline double _plane_ns(Py_ssize_t planes, Py_ssize_t in_size,
                            Py_ssize_t out_size) noexcept nogil:
    """One-thread time estimate of a pass over `planes` (memory bound)."""
    return 0.5 * planes * (in_size + out_size)


cdef Pool _pool(Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                tuple k, tuple s, tuple p, tuple d):
    cdef Pool q
    q.H, q.W, q.OH, q.OW = H, W, OH, OW
    q.KH, q.KW = k
    q.SH, q.SW = s
    q.PH, q.PW = p
    q.DH, q.DW = d
    q.Hp = (OH - 1) * q.SH + (q.KH - 1) * q.DH + 1
    q.Hq = _cdiv(q.Hp, q.SH)
    q.Lp = _cdiv((OW - 1) * q.SW + (q.KW - 1) * q.DW + 1, q.SW)
    q.PL = q.Hq * q.Lp + q.Lp
    return q


cdef void _phases2(floating *plane, floating *buf, const Pool *q,
                   Py_ssize_t rh, Py_ssize_t i0, Py_ssize_t i1,
                   bint join) noexcept nogil:
    """SW == 2, phase rows [i0, i1) of row phase rh: split the plane's rows
    into the two column phase planes (join=False), or join them back into
    the plane (join=True). Column m of phase rw is input column
    2m + rw - PW: the columns both phases have are one run of the row
    (deint2d / int2d, both phases per pair of vectors); the one column at
    either end that only one phase has is copied on its own."""
    cdef Py_ssize_t lohi[4]
    cdef Py_ssize_t rw, m, i, mc, nc
    cdef floating *ph
    for rw in range(2):
        lohi[2 * rw] = _imin(q.Lp, _imax(0, _cdiv(q.PW - rw, 2)))
        lohi[2 * rw + 1] = _imin(q.Lp, _imax(lohi[2 * rw],
                                             _cdiv(q.W + q.PW - rw, 2)))
    mc = _imax(lohi[0], lohi[2])
    nc = _imax(0, _imin(lohi[1], lohi[3]) - mc)
    if i1 <= i0:
        return
    cdef floating *row = plane + (i0 * q.SH + rh - q.PH) * q.W
    cdef floating *p0 = buf + (rh * 2) * q.PL + i0 * q.Lp
    cdef floating *p1 = p0 + q.PL
    if nc > 0 and join:
        k_int2d(i1 - i0, nc, p0 + mc, p1 + mc, q.Lp, row + 2 * mc - q.PW,
                q.SH * q.W)
    elif nc > 0:
        k_deint2d(i1 - i0, nc, row + 2 * mc - q.PW, q.SH * q.W, p0 + mc,
                  p1 + mc, q.Lp)
    for rw in range(2):
        ph = p1 if rw else p0
        for m in range(lohi[2 * rw], lohi[2 * rw + 1]):
            if nc > 0 and mc <= m < mc + nc:
                continue
            for i in range(i1 - i0):
                if join:
                    row[i * q.SH * q.W + 2 * m + rw - q.PW] = ph[i * q.Lp + m]
                else:
                    ph[i * q.Lp + m] = row[i * q.SH * q.W + 2 * m + rw - q.PW]


cdef void _phase_planes(const floating *x, const Pool *q, floating pad,
                        floating *buf) noexcept nogil:
    """Phase plane (rh, rw) at buf + (rh*SW + rw)*PL holds the padded plane's
    rows i*SH + rh and columns m*SW + rw (Hq x Lp, then Lp of slack), `pad`
    outside the input. Window tap (kh, kw) of output (oh, ow) then sits in
    phase plane ((kh*DH) % SH, (kw*DW) % SW) at row oh + (kh*DH) // SH,
    column ow + (kw*DW) // SW: with outputs laid out Lp wide, a tap is one
    contiguous run for every output of the plane, whatever the stride."""
    cdef Py_ssize_t rh, rw, i, m, lo, hi, i0, i1
    cdef floating *ph
    for rh in range(q.SH):
        # rows i whose input row i*SH + rh - PH lies in [0, H)
        i0 = _imin(q.Hq, _imax(0, _cdiv(q.PH - rh, q.SH)))
        i1 = _imin(q.Hq, _imax(i0, _cdiv(q.H + q.PH - rh, q.SH)))
        for rw in range(q.SW):
            ph = buf + (rh * q.SW + rw) * q.PL
            lo = _imin(q.Lp, _imax(0, _cdiv(q.PW - rw, q.SW)))
            hi = _imin(q.Lp, _imax(lo, _cdiv(q.W + q.PW - rw, q.SW)))
            for i in range(q.Hq):
                if i < i0 or i >= i1:
                    for m in range(q.Lp):
                        ph[i * q.Lp + m] = pad
                else:
                    for m in range(lo):
                        ph[i * q.Lp + m] = pad
                    for m in range(hi, q.Lp):
                        ph[i * q.Lp + m] = pad
            for m in range(q.Hq * q.Lp, q.PL):
                ph[m] = pad
        if i1 <= i0:
            continue
        if q.SW == 2:
            _phases2(<floating *>x, buf, q, rh, i0, i1, False)
            continue
        for rw in range(q.SW):
            ph = buf + (rh * q.SW + rw) * q.PL
            lo = _imin(q.Lp, _imax(0, _cdiv(q.PW - rw, q.SW)))
            hi = _imin(q.Lp, _imax(lo, _cdiv(q.W + q.PW - rw, q.SW)))
            if hi > lo:
                k_gather2d(i1 - i0, hi - lo,
                           x + (i0 * q.SH + rh - q.PH) * q.W + lo * q.SW + rw - q.PW,
                           q.SH * q.W, q.SW, ph + i0 * q.Lp + lo, q.Lp)


cdef inline const floating *_tap(const floating *buf, const Pool *q,
                                 Py_ssize_t kh, Py_ssize_t kw) noexcept nogil:
    """Start of the run window tap (kh, kw) reads for the Lp-wide outputs."""
    cdef Py_ssize_t r = kh * q.DH, c = kw * q.DW
    return (buf + ((r % q.SH) * q.SW + c % q.SW) * q.PL
            + (r // q.SH) * q.Lp + c // q.SW)


cdef Py_ssize_t[::1] _tap_offsets(const Pool *q, const floating *buf):
    """Window tap (kh, kw) as an offset into a task's phase planes, at
    kh * KW + kw (the same for every task: buffers differ by a base)."""
    offa = np.empty(q.KH * q.KW, dtype=np.intp)
    cdef Py_ssize_t[::1] off = offa
    cdef Py_ssize_t kh, kw
    for kh in range(q.KH):
        for kw in range(q.KW):
            off[kh * q.KW + kw] = _tap(buf, q, kh, kw) - buf
    return off


cdef Py_ssize_t _ws_size(const Pool *q) noexcept nogil:
    """Per-thread workspace: phase planes, then the Lp-wide outputs."""
    return q.SH * q.SW * q.PL + q.OH * q.Lp


# --------------------------------------------------------------------- max --

cdef void _max_task(const Pool *q, const floating *x, floating *out,
                    int64_t *idx, const int64_t *hs, const int64_t *ws,
                    const ptrdiff_t *off, const int64_t *toff, floating *buf,
                    int32_t *tap) noexcept nogil:
    """One plane. Padding holds -inf: never taken. A plane whose sum is
    finite holds no NaN (nor inf): all taps run in one pass (max_taps);
    otherwise tap by tap with the NaN rule (max_update)."""
    cdef Py_ssize_t i, j, kh, kw, n = q.OH * q.Lp
    cdef floating *wide = buf + q.SH * q.SW * q.PL
    cdef floating total = k_stream_sum(q.H * q.W, x)
    cdef int32_t t
    _phase_planes(x, q, -INFINITY, buf)
    if total - total == 0:
        k_max_taps(n, q.KH * q.KW, off, buf, wide, tap if idx != NULL else NULL)
    else:
        for i in range(n):
            wide[i] = -INFINITY
        if idx != NULL:
            for i in range(n):
                tap[i] = -1
        for kh in range(q.KH):
            for kw in range(q.KW):
                if idx == NULL:
                    k_max_update(n, _tap(buf, q, kh, kw), wide)
                else:
                    k_max_update_tap(n, _tap(buf, q, kh, kw), wide, tap,
                                     kh * q.KW + kw)
    for i in range(q.OH):
        memcpy(out + i * q.OW, wide + i * q.Lp, q.OW * sizeof(floating))
    if idx != NULL:
        for i in range(q.OH):
            for j in range(q.OW):
                t = tap[i * q.Lp + j]
                if wide[i * q.Lp + j] == -INFINITY:
                    # a window of -inf: PyTorch names its first cell
                    idx[i * q.OW + j] = (-1 if hs[i] < 0 or ws[j] < 0
                                         else hs[i] * q.W + ws[j])
                else:
                    idx[i * q.OW + j] = i * q.SH * q.W + j * q.SW + toff[t]


def max_pool2d_fwd(const floating[:, :, ::1] x, floating[:, :, ::1] out,
                   int64_t[:, :, ::1] idx, const int64_t[::1] hs,
                   const int64_t[::1] ws, tuple k, tuple s, tuple p, tuple d):
    """out[plane] = max over each window; idx (or None) the argmax as
    h * W + w in the plane; hs[oh], ws[ow]: each window's first in-bounds
    row and column (the index of a window holding only -inf)."""
    cdef Pool q = _pool(x.shape[1], x.shape[2], out.shape[1], out.shape[2],
                        k, s, p, d)
    cdef Py_ssize_t planes = x.shape[0], t
    if planes == 0 or q.OH == 0 or q.OW == 0:
        return
    cdef int nt = task_threads(planes, _plane_ns(planes, q.H * q.W, q.OH * q.OW))
    cdef Py_ssize_t per = _ws_size(&q)
    wsa = np.empty(per * nt, dtype=np.float32 if floating is float else np.float64)
    taps = np.empty(q.OH * q.Lp * nt if idx is not None else 1, dtype=np.int32)
    cdef floating[::1] wsv = wsa
    cdef int32_t[::1] tv = taps
    cdef floating *ws0 = &wsv[0]
    cdef int32_t *t0 = &tv[0]
    cdef int64_t *ip = NULL if idx is None else &idx[0, 0, 0]
    cdef Py_ssize_t osz = q.OH * q.OW
    # window tap (kh, kw) as an offset into a task's phase planes
    cdef Py_ssize_t[::1] offv = _tap_offsets(&q, ws0)
    # window tap t = kh*KW + kw of output (0, 0) as a position in the plane
    toffa = np.array([(kh * q.DH - q.PH) * q.W + kw * q.DW - q.PW
                      for kh in range(q.KH) for kw in range(q.KW)],
                     dtype=np.int64)
    cdef int64_t[::1] toff = toffa
    cdef int tid
    with nogil, parallel(num_threads=nt):
        tid = omp_get_thread_num()
        for t in prange(planes, schedule='dynamic'):
            _max_task(&q, &x[t, 0, 0], &out[t, 0, 0],
                      NULL if ip == NULL else ip + t * osz, &hs[0], &ws[0],
                      <const ptrdiff_t *>&offv[0], &toff[0], ws0 + tid * per,
                      t0 + tid * q.OH * q.Lp)


def max_pool2d_bwd(const floating[:, :, ::1] gout, const int64_t[:, :, ::1] idx,
                   floating[:, :, ::1] gin):
    """gin[plane][idx] += gout[plane] (gin zeroed by the caller); index -1
    (a window over no input cell) takes nothing. Returns the number of other
    indices outside the plane (skipped; the caller raises)."""
    cdef Py_ssize_t planes = gout.shape[0], t, i
    cdef Py_ssize_t osz = gout.shape[1] * gout.shape[2]
    cdef int64_t isz = gin.shape[1] * gin.shape[2], j
    cdef Py_ssize_t bad = 0
    if planes == 0 or osz == 0:
        return 0
    cdef int nt = task_threads(planes, _plane_ns(planes, isz, osz))
    cdef const floating *g
    cdef const int64_t *ix
    cdef floating *dst
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            g = &gout[t, 0, 0]
            ix = &idx[t, 0, 0]
            dst = &gin[t, 0, 0]
            for i in range(osz):
                j = ix[i]
                if 0 <= j < isz:
                    dst[j] += g[i]
                elif j != -1:  # -1: a window over no input cell
                    bad += 1
    return bad


# --------------------------------------------------------------------- avg --

cdef void _avg_task(const Pool *q, const floating *x, floating *out,
                    const floating *dh, const floating *dw,
                    const ptrdiff_t *off, const floating *ones,
                    floating *buf) noexcept nogil:
    """One plane; padding holds zeros. The window sums in one pass: the
    depthwise taps kernel with unit weights (0 + x0 + x1 + ... in tap
    order, exact like adding the taps one by one)."""
    cdef Py_ssize_t i, j, n = q.OH * q.Lp
    cdef floating *wide = buf + q.SH * q.SW * q.PL
    _phase_planes(x, q, 0, buf)
    k_taps(1, n, q.KH * q.KW, off, ones, buf, 0, 0, wide, 0)
    for i in range(q.OH):
        for j in range(q.OW):
            out[i * q.OW + j] = wide[i * q.Lp + j] / (dh[i] * dw[j])


cdef void _avg2x2_task(const floating *x, floating *out, const floating *dh,
                       const floating *dw, Py_ssize_t W, Py_ssize_t OH,
                       Py_ssize_t OW) noexcept nogil:
    """2x2 windows, stride 2, no padding, none past the plane: each output
    from its two rows directly (the taps' order: the same bits), no phase
    planes."""
    cdef Py_ssize_t i, j
    cdef const floating *r0
    cdef const floating *r1
    cdef floating *o
    for i in range(OH):
        r0 = x + 2 * i * W
        r1 = r0 + W
        o = out + i * OW
        for j in range(OW):
            o[j] = (((r0[2 * j] + r0[2 * j + 1]) + r1[2 * j]) + r1[2 * j + 1]) \
                / (dh[i] * dw[j])


cdef void _avg2x2_bwd_task(const floating *g, floating *gin,
                           const floating *dh, const floating *dw,
                           Py_ssize_t W, Py_ssize_t OH,
                           Py_ssize_t OW) noexcept nogil:
    """The gradient of _avg2x2_task: each output's share written to its
    four cells (each input cell belongs to one window; the rest of gin stays
    as the caller zeroed it)."""
    cdef Py_ssize_t i, j
    cdef floating v
    cdef floating *r0
    cdef floating *r1
    cdef const floating *o
    for i in range(OH):
        r0 = gin + 2 * i * W
        r1 = r0 + W
        o = g + i * OW
        for j in range(OW):
            v = o[j] / (dh[i] * dw[j])
            r0[2 * j] = v
            r0[2 * j + 1] = v
            r1[2 * j] = v
            r1[2 * j + 1] = v


cdef inline bint _plain2x2(const Pool *q) noexcept nogil:
    """2x2 windows, stride 2, no padding, none past the plane."""
    return (q.KH == 2 and q.KW == 2 and q.SH == 2 and q.SW == 2 and q.PH == 0
            and q.PW == 0 and q.DH == 1 and q.DW == 1 and 2 * q.OH <= q.H
            and 2 * q.OW <= q.W)


def avg_pool2d_fwd(const floating[:, :, ::1] x, floating[:, :, ::1] out,
                   const floating[::1] div_h, const floating[::1] div_w,
                   tuple k, tuple s, tuple p):
    """out[plane] = window sums / (div_h[oh] * div_w[ow])."""
    cdef Pool q = _pool(x.shape[1], x.shape[2], out.shape[1], out.shape[2],
                        k, s, p, (1, 1))
    cdef Py_ssize_t planes = x.shape[0], t
    if planes == 0 or q.OH == 0 or q.OW == 0:
        return
    cdef int nt = task_threads(planes, _plane_ns(planes, q.H * q.W, q.OH * q.OW))
    if _plain2x2(&q):
        with nogil:
            for t in prange(planes, num_threads=nt, schedule='static'):
                _avg2x2_task(&x[t, 0, 0], &out[t, 0, 0], &div_h[0], &div_w[0],
                             q.W, q.OH, q.OW)
        return
    cdef Py_ssize_t per = _ws_size(&q)
    ws = np.empty(per * nt, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] wsv = ws
    cdef floating *ws0 = &wsv[0]
    cdef Py_ssize_t[::1] offv = _tap_offsets(&q, ws0)
    cdef floating[::1] ones = np.ones(q.KH * q.KW, dtype=ws.dtype)
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            _avg_task(&q, &x[t, 0, 0], &out[t, 0, 0], &div_h[0], &div_w[0],
                      <const ptrdiff_t *>&offv[0], &ones[0],
                      ws0 + omp_get_thread_num() * per)


cdef void _avg_bwd_task(const Pool *q, const floating *g, floating *gin,
                        const floating *dh, const floating *dw,
                        floating *buf) noexcept nogil:
    """One plane, the forward's layout run backwards: each output's share,
    laid out Lp wide (zeros in the extra columns), is added into the phase
    planes once per tap (one contiguous run each), then the phase planes
    are interleaved back into gin (zeroed by the caller)."""
    cdef Py_ssize_t i, j, kh, kw, ih, rh, rw, m, lo, hi, n = q.OH * q.Lp
    cdef Py_ssize_t i0, i1
    cdef floating *wide = buf + q.SH * q.SW * q.PL
    cdef floating *src
    memset(buf, 0, q.SH * q.SW * q.PL * sizeof(floating))
    for i in range(q.OH):
        for j in range(q.OW):
            wide[i * q.Lp + j] = g[i * q.OW + j] / (dh[i] * dw[j])
        for j in range(q.OW, q.Lp):
            wide[i * q.Lp + j] = 0
    for kh in range(q.KH):
        for kw in range(q.KW):
            k_add(n, wide, <floating *>_tap(buf, q, kh, kw))
    if q.SW == 2:
        # each input cell takes exactly one phase cell (gin is zero): the
        # two column phases of each row joined back in one pass
        for rh in range(q.SH):
            i0 = _imin(q.Hq, _imax(0, _cdiv(q.PH - rh, q.SH)))
            i1 = _imin(q.Hq, _imax(i0, _cdiv(q.H + q.PH - rh, q.SH)))
            _phases2(gin, buf, q, rh, i0, i1, True)
        return
    for ih in range(_imin(q.H, q.Hq * q.SH - q.PH)):
        rh = (ih + q.PH) % q.SH
        for rw in range(q.SW):
            src = buf + (rh * q.SW + rw) * q.PL + ((ih + q.PH) // q.SH) * q.Lp
            # columns m of this phase land on input column m*SW + rw - PW
            lo = _imin(q.Lp, _imax(0, _cdiv(q.PW - rw, q.SW)))
            hi = _imin(q.Lp, _imax(lo, _cdiv(q.W + q.PW - rw, q.SW)))
            if hi > lo:
                k_axpy_scatter(hi - lo, 1, src + lo,
                               gin + ih * q.W + lo * q.SW + rw - q.PW, q.SW)


def avg_pool2d_bwd(const floating[:, :, ::1] gout, floating[:, :, ::1] gin,
                   const floating[::1] div_h, const floating[::1] div_w,
                   tuple k, tuple s, tuple p):
    """gin = the gradient of avg_pool2d_fwd (gin zeroed by the caller)."""
    cdef Pool q = _pool(gin.shape[1], gin.shape[2], gout.shape[1],
                        gout.shape[2], k, s, p, (1, 1))
    cdef Py_ssize_t planes = gin.shape[0], t
    if planes == 0 or q.OH == 0 or q.OW == 0:
        return
    cdef int nt = task_threads(planes, _plane_ns(planes, q.H * q.W, q.OH * q.OW))
    if _plain2x2(&q):
        with nogil:
            for t in prange(planes, num_threads=nt, schedule='static'):
                _avg2x2_bwd_task(&gout[t, 0, 0], &gin[t, 0, 0], &div_h[0],
                                 &div_w[0], q.W, q.OH, q.OW)
        return
    cdef Py_ssize_t per = _ws_size(&q)
    ws = np.empty(per * nt, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] wsv = ws
    cdef floating *ws0 = &wsv[0]
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            _avg_bwd_task(&q, &gout[t, 0, 0], &gin[t, 0, 0], &div_h[0],
                          &div_w[0], ws0 + omp_get_thread_num() * per)


# ---------------------------------------------------------------- adaptive --

cdef inline Py_ssize_t _win_lo(Py_ssize_t i, Py_ssize_t n_in,
                               Py_ssize_t n_out) noexcept nogil:
    """First input index of adaptive window i: floor(i * n_in / n_out)."""
    return i * n_in // n_out


cdef inline Py_ssize_t _win_hi(Py_ssize_t i, Py_ssize_t n_in,
                               Py_ssize_t n_out) noexcept nogil:
    """One past its last: ceil((i + 1) * n_in / n_out). (The caller keeps
    n_out * n_in within int64.)"""
    return ((i + 1) * n_in + n_out - 1) // n_out


def adaptive_avg_pool2d_fwd(const floating[:, :, ::1] x,
                            floating[:, :, ::1] out):
    """out[oh, ow] = mean of x over rows [floor(oh*H/OH), ceil((oh+1)*H/OH))
    and the columns likewise (windows computed in place: no tables)."""
    cdef Py_ssize_t planes = x.shape[0], OH = out.shape[1], OW = out.shape[2]
    cdef Py_ssize_t H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t t, oh, ow, i, j, i0, i1, j0, j1
    cdef floating acc
    if planes == 0:
        return
    cdef int nt = task_threads(planes, _plane_ns(planes, x.shape[1] * x.shape[2], OH * OW))
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            for oh in range(OH):
                i0 = _win_lo(oh, H, OH)
                i1 = _win_hi(oh, H, OH)
                for ow in range(OW):
                    j0 = _win_lo(ow, W, OW)
                    j1 = _win_hi(ow, W, OW)
                    acc = 0
                    for i in range(i0, i1):
                        for j in range(j0, j1):
                            acc = acc + x[t, i, j]
                    out[t, oh, ow] = acc / ((i1 - i0) * (j1 - j0))


def adaptive_avg_pool2d_bwd(const floating[:, :, ::1] gout,
                            floating[:, :, ::1] gin):
    """gin += each output's gradient spread evenly over its window (gin
    zeroed by the caller)."""
    cdef Py_ssize_t planes = gout.shape[0], OH = gout.shape[1]
    cdef Py_ssize_t OW = gout.shape[2], H = gin.shape[1], W = gin.shape[2]
    cdef Py_ssize_t t, oh, ow, i, j, i0, i1, j0, j1
    cdef floating share
    if planes == 0:
        return
    cdef int nt = task_threads(planes, _plane_ns(planes, gin.shape[1] * gin.shape[2], OH * OW))
    with nogil, parallel(num_threads=nt):
        for t in prange(planes, schedule='dynamic'):
            for oh in range(OH):
                i0 = _win_lo(oh, H, OH)
                i1 = _win_hi(oh, H, OH)
                for ow in range(OW):
                    j0 = _win_lo(ow, W, OW)
                    j1 = _win_hi(ow, W, OW)
                    share = gout[t, oh, ow] / ((i1 - i0) * (j1 - j0))
                    for i in range(i0, i1):
                        for j in range(j0, j1):
                            gin[t, i, j] += share
