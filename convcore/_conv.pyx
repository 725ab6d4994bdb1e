"""Convolution drivers: weight packing, input packing, tiling and threads.

Everything here trusts its caller (convcore.functional validated shapes,
dtypes and contiguity, and allocated the outputs). Layout of the work, per
image n and group g, with M = OC/G, K = C/G*KH*KW and P = OH*OW:

* fwd: out[M, P] = W[M, K] . cols[K, P] + bias. Tasks are (n, g, NR-pixel
  tile); a task packs its cols panel [K, NR] straight from NCHW (padding
  folded in as zeros) and sweeps every MR-row block of the packed weights.
* bwd_data: dcols[K, P] = W^T[K, M] . dout[M, P], scattered back into the
  input gradient. Tasks are (n, g, channel block): disjoint writes, no locks.
* bwd_weights: dW[M, K] = dout[M, Q] . cols[K, Q]^T over Q = N*P pixels, in
  chunks of PC pixels with the dot micro-kernel. Tasks are (g, k block,
  pixel split); each split owns a partial buffer, summed afterwards in a
  fixed order, so the bits never depend on the thread count.
* depthwise (groups == C): per-plane row kernels, memory bound.
"""
import os

import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.string cimport memcpy, memset
from libc.stddef cimport ptrdiff_t
from libc.stdint cimport uintptr_t

from convcore._conv cimport (
    k_axpy, k_axpy_scatter, k_taps, k_dot_strided, k_taps_dot, k_gather, k_pack2d,
    k_deint2d)
from convcore._kernels cimport (
    CC_ISA_AVX2_FMA, CC_ISA_AVX512F, cc_cpu_features, cc_f32_kernel_sets,
    cc_f32_kernels, cc_f64_kernel_sets, cc_f64_kernels, cc_kernel_set_isa,
    cc_num_kernel_sets)
from convcore._openmp cimport omp_get_thread_num, task_threads
from convcore._util cimport cdiv as _cdiv, imax as _imax, imin as _imin

# written by setup.py: "release", or "debug" under CONVCORE_DEBUG=1
cdef extern from "cc_build.h":
    const char *CC_BUILD_MODE


# ---------------------------------------------------------------- dispatch --

cdef const cc_f32_kernels *_k32 = NULL
cdef const cc_f64_kernels *_k64 = NULL


cdef const cc_f32_kernels *kernels_f32() noexcept nogil:
    return _k32


cdef const cc_f64_kernels *kernels_f64() noexcept nogil:
    return _k64
_ISA_BITS = {"avx2_fma": CC_ISA_AVX2_FMA, "avx512f": CC_ISA_AVX512F}
# bwd_weights pixel chunk: long enough to amortize the dot kernel's final
# horizontal sums, short enough that a chunk of dout rows stays in L2.
cdef enum:
    PC_MAX = 512
# forward: K slices of at most KC rows (balanced); pixel blocks sized so
# that a slice of the weights, of the columns and the block's sums stay
# within 3/4 of the L2 cache (cache_l2_bytes: 768 KiB tuned on a 1 MiB L2;
# 384 KiB on a 512 KiB one ran 1.02-1.06x faster than 768 and 192 KiB)
cdef enum:
    KC = 128
# Work items a bwd_weights call is cut into at least (a property of the
# problem, never of the thread count, so that the bits do not change).
cdef enum:
    MIN_TASKS = 16
# bwd_weights: the most lane-partial bytes a task keeps across chunks
cdef enum:
    VBUF_BYTES = 256 * 1024
# bwd_weights: bytes of a chunk's working set in L2 (dout rows, columns,
# lane partials), which sets the k-block width (fixed: half of it measured
# 1.06-1.25x slower on a 512 KiB L2, on the layers it changes)
cdef enum:
    WGRAD_L2_BYTES = 640 * 1024
# bwd_weights with the gemm kernel: pixels per chunk (the kernel's k)
cdef enum:
    WGRAD_GEMM_PC = 256
# bwd_weights (direct and Winograd) reduces with the gemm kernel from this
# many entries of each product (OCg x K; Winograd's OC x C per position):
# below, its transposes cost more than the dot kernel's horizontal sums
cdef enum:
    WGRAD_GEMM_MIN = 128 * 128
# bwd_data: planes with fewer output pixels are grouped, several images
# per task, into pixel blocks of about this many
cdef enum:
    BWD_DATA_PIX = 512
cdef enum:
    BWD_DATA_PANEL_K = 1024
cdef enum:
    ALIGN = 16  # elements: 64 bytes for float32


def _detect_l2():
    """Bytes of one core's L2 cache (Linux sysfs), or 1 MiB when unknown."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for d in sorted(os.listdir(base)):
            with open(os.path.join(base, d, "level")) as f:
                if f.read().strip() != "2":
                    continue
            with open(os.path.join(base, d, "size")) as f:
                size = f.read().strip().upper()
            mult = {"K": 1024, "M": 1024 * 1024}.get(size[-1:], 1)
            n = int(size.rstrip("KM")) * mult
            if 64 * 1024 <= n <= 64 * 1024 * 1024:
                return n
    except (OSError, ValueError):
        pass
    return 1024 * 1024


cdef Py_ssize_t _l2 = _detect_l2()


def cache_l2_bytes():
    """The L2 size the cache blocking is sized for (bytes)."""
    return _l2


def cpu_features():
    """ISA names this CPU supports (of those convcore has kernels for)."""
    cdef unsigned bits = cc_cpu_features()
    return [name for name, bit in _ISA_BITS.items() if bits & bit]


def build_mode():
    """'release', or 'debug' for a build made with CONVCORE_DEBUG=1 (Cython
    bounds, wraparound and initialization checks on), as setup.py recorded
    it when it compiled this module."""
    return CC_BUILD_MODE.decode("ascii")


def kernel_sets():
    """Names of the kernel sets compiled into this build, best first."""
    return [_k32_name(i) for i in range(cc_num_kernel_sets)]


cdef str _k32_name(int i):
    return cc_f32_kernel_sets[i].name.decode()


def usable_kernel_sets(disabled=()):
    """Kernel sets this CPU can run, best first, minus disabled ISAs."""
    cdef unsigned bits = cc_cpu_features()
    cdef unsigned off = 0
    for name in disabled:
        off |= _ISA_BITS.get(name, 0)
    return [_k32_name(i) for i in range(cc_num_kernel_sets)
            if (cc_kernel_set_isa[i] & bits) == cc_kernel_set_isa[i]
            and not (cc_kernel_set_isa[i] & off)]


def set_kernel_set(name):
    """Use kernel set `name` ('avx512f', 'avx2_fma', 'scalar') from now on.

    For tests and benchmarks: exercises every path on one machine. Raises
    ValueError if the CPU cannot run it.
    """
    global _k32, _k64
    if name not in usable_kernel_sets():
        raise ValueError(
            f"kernel set {name!r} is not usable on this CPU/build; "
            f"usable: {usable_kernel_sets()}")
    cdef int i
    for i in range(cc_num_kernel_sets):
        if _k32_name(i) == name:
            _k32 = cc_f32_kernel_sets[i]
            _k64 = cc_f64_kernel_sets[i]


def get_kernel_set():
    """Name of the kernel set in use."""
    return _k32.name.decode()


def kernel_info():
    """Tiles of the kernel set in use, per dtype."""
    return {
        "float32": {"gemm": f"{_k32.mr}x{_k32.nr}, {_k32.mr2}x{_k32.nr}",
                    "pixels": f"{_k32.mr}x{_k32.nr}, {_k32.mrh}x{_k32.nr // 2}",
                    "dot": f"{_k32.dmr}x{_k32.dnr}"},
        "float64": {"gemm": f"{_k64.mr}x{_k64.nr}, {_k64.mr2}x{_k64.nr}",
                    "pixels": f"{_k64.mr}x{_k64.nr}, {_k64.mrh}x{_k64.nr // 2}",
                    "dot": f"{_k64.dmr}x{_k64.dnr}"},
    }


cdef bint _use_narrow(Py_ssize_t M, Py_ssize_t k, int MR, int MR2, int NR,
                      int VL) noexcept nogil:
    """Pick the MR2-row kernel when M fits in it, or when it pads M to fewer
    rows than MR does and either still holds 16 vector accumulators
    (AVX-512's 8x32 and 14x32 run at the same rate with the KC slice in L1:
    measured) or the product is short (k <= 32), where the tile's loads and
    stores weigh more than the FMA latency. AVX2's 4x16 has 8 accumulators,
    too few to cover the latency on both pipes: it ran 10-18% slower than
    6x16 on the direct layers of the workload, but 1.14-1.30x faster on
    cifar_3x3_c32 (k = 27, 32 rows instead of 36; 1 thread, medians of 9)."""
    if _force_narrow >= 0:
        return _force_narrow
    if M <= MR2:
        return True
    return ((MR2 * (NR // VL) >= 16 or k <= 32)
            and _cdiv(M, MR2) * MR2 < _cdiv(M, MR) * MR)


cdef int _force_narrow = -1


def _set_narrow(value):
    """Tests and benchmarks: force the MR2-row gemm (True), the MR-row one
    (False), or let the rule choose (None)."""
    global _force_narrow
    _force_narrow = -1 if value is None else int(bool(value))


def _disabled_from_env():
    raw = os.environ.get("CONVCORE_DISABLE_ISA", "")
    return [s.strip().lower() for s in raw.split(",") if s.strip()]


set_kernel_set(usable_kernel_sets(_disabled_from_env())[0])


# ---------------------------------------------------------------- geometry --

cdef struct Geom:
    Py_ssize_t N, C, H, W, OC, OH, OW, KH, KW
    Py_ssize_t SH, SW, PH, PW, DH, DW, G, Cg, OCg, K, P


cdef Geom _geom(Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                Py_ssize_t OC, Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t OH,
                Py_ssize_t OW, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph,
                Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw,
                Py_ssize_t groups):
    cdef Geom g
    g.N, g.C, g.H, g.W = N, C, H, W
    g.OC, g.KH, g.KW = OC, KH, KW
    g.OH, g.OW = OH, OW
    g.SH, g.SW, g.PH, g.PW, g.DH, g.DW = sh, sw, ph, pw, dh, dw
    g.G = groups
    g.Cg = C // groups
    g.OCg = OC // groups
    g.K = g.Cg * KH * KW
    g.P = OH * OW
    return g


cdef Py_ssize_t _aligned_offset(floating[::1] buf):
    """Elements to skip so that &buf[offset] is 64-byte aligned."""
    cdef uintptr_t addr = <uintptr_t>&buf[0]
    return <Py_ssize_t>(((64 - addr % 64) % 64) // sizeof(floating))


cdef inline Py_ssize_t _round_up(Py_ssize_t n) noexcept nogil:
    """Per-thread workspace stride: whole 64-byte lines, aligned slices."""
    return _cdiv(n, ALIGN) * ALIGN


# ----------------------------------------------------------------- packing --

cdef struct Region:
    # a zero-padded copy of channels [c0, c0 + nc) and padded rows
    # [r0, r0 + nr) of one image, rows Wp wide: every window position of
    # the covered output pixels is in bounds, so packing has no edge cases.
    # Each row is stored as its SW column phases, Wq = cdiv(Wp, SW) apart
    # (padded column t at t % SW * Wq + t // SW; stride 1: the row as is):
    # a strided layer's column rows are then contiguous runs, copied, not
    # gathered element by element (and scattered back the same way)
    Py_ssize_t c0, nc, r0, nr, Wp, Wq


cdef inline Py_ssize_t _pad_h(const Geom *g) noexcept nogil:
    return (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1


cdef inline Py_ssize_t _pad_w(const Geom *g) noexcept nogil:
    return (g.OW - 1) * g.SW + (g.KW - 1) * g.DW + 1


cdef inline Py_ssize_t _row_len(const Geom *g) noexcept nogil:
    """Elements of a region row: its SW phases, whole."""
    return _cdiv(_pad_w(g), g.SW) * g.SW


cdef Region _region(const Geom *g, Py_ssize_t k0, Py_ssize_t kc,
                    Py_ssize_t p0, Py_ssize_t npix) noexcept nogil:
    """The region rows k0..k0+kc of the column matrix read for pixels
    p0..p0+npix."""
    cdef Region R
    cdef Py_ssize_t KHW = g.KH * g.KW
    cdef Py_ssize_t oh_a = p0 // g.OW, oh_b = (p0 + npix - 1) // g.OW
    R.c0 = k0 // KHW
    R.nc = (k0 + kc - 1) // KHW + 1 - R.c0
    R.r0 = oh_a * g.SH
    R.nr = (oh_b - oh_a) * g.SH + (g.KH - 1) * g.DH + 1
    R.Wp = _pad_w(g)
    R.Wq = _cdiv(R.Wp, g.SW)
    return R


cdef Py_ssize_t _region_size(const Geom *g, Py_ssize_t krows,
                             Py_ssize_t npix) noexcept nogil:
    """Upper bound of a region's elements for any krows rows and npix
    consecutive pixels (of one image)."""
    cdef Py_ssize_t KHW = g.KH * g.KW
    cdef Py_ssize_t nc = _imin(g.Cg, _cdiv(krows, KHW) + 1)
    cdef Py_ssize_t rows = _imin(g.OH, _cdiv(npix, g.OW) + 1)
    # (and a row of scratch after the region, for _pad_region)
    return (nc * ((rows - 1) * g.SH + (g.KH - 1) * g.DH + 1) + 1) * _row_len(g)


cdef void _pad_row(const floating *src, const Geom *g, Py_ssize_t Wq,
                   Py_ssize_t lo, Py_ssize_t hi, floating *tmp, floating *dst,
                   Py_ssize_t pst) noexcept nogil:
    """One zero-padded input row (image row src) as its SW column phases:
    dst[pc * pst + j] = padded column j * SW + pc, j < Wq, the image in
    padded columns [lo, hi) (lo < hi). A strided row is padded in tmp
    (SW * Wq), then split (both phases at once for stride 2)."""
    cdef Py_ssize_t pc, RS = g.SW * Wq
    cdef floating *row = dst if g.SW == 1 else tmp
    memset(row, 0, lo * sizeof(floating))
    k_pack2d(1, hi - lo, src + lo - g.PW, 0, row + lo)  # short rows: no memcpy call
    memset(row + hi, 0, (RS - hi) * sizeof(floating))
    if g.SW == 2:
        k_deint2d(1, Wq, tmp, 0, dst, dst + pst, 0)
    elif g.SW > 2:
        for pc in range(g.SW):  # padded columns pc, pc + SW, ...
            k_gather(Wq, tmp + pc, g.SW, dst + pc * pst)


cdef void _pad_region(const floating *img, const Geom *g, const Region *R,
                      floating *xp) noexcept nogil:
    """xp = region R of the image (channel 0 of the group at img), each
    row as its SW column phases (see Region); a strided layer's rows are
    padded in the scratch row after the region, then split."""
    cdef Py_ssize_t c, r, ih, RS = g.SW * R.Wq
    cdef Py_ssize_t lo = _imin(g.PW, R.Wp), hi = _imin(R.Wp, g.PW + g.W)
    cdef floating *tmp = xp + R.nc * R.nr * RS
    cdef floating *dst
    for c in range(R.nc):
        for r in range(R.nr):
            dst = xp + (c * R.nr + r) * RS
            ih = R.r0 + r - g.PH
            if ih < 0 or ih >= g.H or hi <= lo:
                memset(dst, 0, RS * sizeof(floating))
                continue
            _pad_row(img + ((R.c0 + c) * g.H + ih) * g.W, g, R.Wq, lo, hi,
                     tmp, dst, R.Wq)


cdef void _cols(floating *xp, const Region *R, const Geom *g, Py_ssize_t k0,
                Py_ssize_t kc, Py_ssize_t p0, Py_ssize_t npix, floating *buf,
                Py_ssize_t ld, bint scatter) noexcept nogil:
    """Between a padded region xp and rows k0..k0+kc of the column matrix,
    for pixels p0..p0+npix:

    scatter=False: buf[kk*ld + j] = cols[k0+kk, p0+j];
    scatter=True:  xp[...] += buf[kk*ld + j].

    The region's rows are stored by column phase, so each output-row
    segment is a contiguous run of xp whatever the stride.
    """
    cdef Py_ssize_t KHW = g.KH * g.KW, RS = g.SW * R.Wq
    cdef Py_ssize_t kk, k, c, r, kh, kw, j, oh, ow, seg, t
    cdef floating *row
    cdef floating *base
    cdef floating *src
    for kk in range(kc):
        k = k0 + kk
        c = k // KHW
        r = k - c * KHW
        kh = r // g.KW
        kw = r - kh * g.KW
        base = (xp + ((c - R.c0) * R.nr + kh * g.DH - R.r0) * RS
                + (kw * g.DW) % g.SW * R.Wq + (kw * g.DW) // g.SW)
        row = buf + kk * ld
        oh = p0 // g.OW
        ow = p0 - oh * g.OW
        j = 0
        while j < npix:
            seg = _imin(g.OW - ow, npix - j)
            src = base + oh * g.SH * RS + ow
            if not scatter and ow == 0 and npix - j >= 2 * g.OW:
                # a run of whole output rows: one call
                r = (npix - j) // g.OW
                k_pack2d(r, g.OW, src, g.SH * RS, row + j)
                j += r * g.OW
                oh += r
                continue
            if scatter:
                for t in range(seg):
                    src[t] += row[j + t]
            else:
                k_pack2d(1, seg, src, 0, row + j)
            j += seg
            ow = 0
            oh += 1


cdef void _zero_cols(floating *buf, Py_ssize_t rows, Py_ssize_t ld,
                     Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef Py_ssize_t r
    if stop > start:
        for r in range(rows):
            memset(buf + r * ld + start, 0, (stop - start) * sizeof(floating))


cdef inline void _gemm(const void *ks, bint narrow, Py_ssize_t k,
                       const floating *a, const floating *b, Py_ssize_t ldb,
                       floating *c, Py_ssize_t ldc, const floating *bias,
                       bint acc) noexcept nogil:
    """The set's gemm micro-kernel, or its MR2-row variant if `narrow`."""
    if floating is float:
        if narrow:
            (<const cc_f32_kernels *>ks).gemm2(k, a, b, ldb, c, ldc, bias, acc)
        else:
            (<const cc_f32_kernels *>ks).gemm(k, a, b, ldb, c, ldc, bias, acc)
    else:
        if narrow:
            (<const cc_f64_kernels *>ks).gemm2(k, a, b, ldb, c, ldc, bias, acc)
        else:
            (<const cc_f64_kernels *>ks).gemm(k, a, b, ldb, c, ldc, bias, acc)


cdef inline void _gemmi(const void *ks, bint narrow, Py_ssize_t k,
                        const floating *a, const floating *b,
                        const ptrdiff_t *koff, floating *c, Py_ssize_t ldc,
                        const floating *bias, bint acc) noexcept nogil:
    """The set's implicit-GEMM micro-kernel (B row l at b + koff[l])."""
    if floating is float:
        if narrow:
            (<const cc_f32_kernels *>ks).gemmi2(k, a, b, koff, c, ldc, bias, acc)
        else:
            (<const cc_f32_kernels *>ks).gemmi(k, a, b, koff, c, ldc, bias, acc)
    else:
        if narrow:
            (<const cc_f64_kernels *>ks).gemmi2(k, a, b, koff, c, ldc, bias, acc)
        else:
            (<const cc_f64_kernels *>ks).gemmi(k, a, b, koff, c, ldc, bias, acc)


cdef inline void _gemma(const void *ks, bint narrow, Py_ssize_t k,
                        const floating *a, const ptrdiff_t *aoff,
                        const floating *b, Py_ssize_t ldb, floating *c,
                        Py_ssize_t ldc, bint acc) noexcept nogil:
    """The set's implicit-GEMM micro-kernel with A read in place (entry
    (l, m) at a[aoff[m] + l])."""
    if floating is float:
        if narrow:
            (<const cc_f32_kernels *>ks).gemma2(k, a, aoff, b, ldb, c, ldc, NULL, acc)
        else:
            (<const cc_f32_kernels *>ks).gemma(k, a, aoff, b, ldb, c, ldc, NULL, acc)
    else:
        if narrow:
            (<const cc_f64_kernels *>ks).gemma2(k, a, aoff, b, ldb, c, ldc, NULL, acc)
        else:
            (<const cc_f64_kernels *>ks).gemma(k, a, aoff, b, ldb, c, ldc, NULL, acc)


cdef inline void _copy_tile(const floating *src, Py_ssize_t lds, floating *dst,
                            Py_ssize_t ldd, Py_ssize_t rows,
                            Py_ssize_t cols) noexcept nogil:
    cdef Py_ssize_t r
    for r in range(rows):
        memcpy(dst + r * ldd, src + r * lds, cols * sizeof(floating))


cdef const void *_kset(floating dummy) noexcept nogil:
    if floating is float:
        return _k32
    else:
        return _k64


cdef void _tile_dims(const void *ks, int *mr, int *mr2, int *nr, int *dmr,
                     int *dnr, int *dvl, int *dpl, bint f32) noexcept nogil:
    if f32:
        mr2[0] = (<const cc_f32_kernels *>ks).mr2
        mr[0] = (<const cc_f32_kernels *>ks).mr
        nr[0] = (<const cc_f32_kernels *>ks).nr
        dmr[0] = (<const cc_f32_kernels *>ks).dmr
        dnr[0] = (<const cc_f32_kernels *>ks).dnr
        dvl[0] = (<const cc_f32_kernels *>ks).dvl
        dpl[0] = (<const cc_f32_kernels *>ks).dpl
    else:
        mr2[0] = (<const cc_f64_kernels *>ks).mr2
        mr[0] = (<const cc_f64_kernels *>ks).mr
        nr[0] = (<const cc_f64_kernels *>ks).nr
        dmr[0] = (<const cc_f64_kernels *>ks).dmr
        dnr[0] = (<const cc_f64_kernels *>ks).dnr
        dvl[0] = (<const cc_f64_kernels *>ks).dvl
        dpl[0] = (<const cc_f64_kernels *>ks).dpl


cdef inline void _transpose(const floating *src, Py_ssize_t lds,
                            Py_ssize_t rows, Py_ssize_t cols, floating *dst,
                            Py_ssize_t ldd) noexcept nogil:
    """dst[j*ldd + r] = src[r*lds + j], r < rows, j < cols."""
    if floating is float:
        kernels_f32().transpose(rows, cols, src, lds, dst, ldd)
    else:
        kernels_f64().transpose(rows, cols, src, lds, dst, ldd)


cdef void _pack_rows_kmajor(const floating *w, Py_ssize_t G, Py_ssize_t M,
                            Py_ssize_t K, Py_ssize_t ld, int MR, Py_ssize_t b,
                            floating *dst) noexcept nogil:
    """Rows W[G*M][K] (row stride ld) -> [g][MR-row block][k][MR], rows past
    M zero: block b (= gi * nmb + ib) of them (the blocks are packed in
    parallel). The forward's weights (ld = K), and Winograd's output-gradient
    transforms for its weight gradient (k = the tiles)."""
    cdef Py_ssize_t nmb = _cdiv(M, MR), gi = b // nmb, ib = b % nmb
    cdef Py_ssize_t k, m, mr = _imin(MR, M - ib * MR)
    cdef const floating *src = w + (gi * M + ib * MR) * ld
    dst += b * K * MR
    for k in range(K):
        for m in range(mr):
            dst[m] = src[m * ld + k]
        for m in range(mr, MR):
            dst[m] = 0
        dst += MR


cdef void _pack_wt(const floating *w, const Geom *g, Py_ssize_t ncb,
                   Py_ssize_t rows_cb, Py_ssize_t nblk, int MR, Py_ssize_t b,
                   floating *dst) noexcept nogil:
    """bwd_data weights: W^T as [g][channel block][MR k-row block][oc][MR];
    each channel block holds rows_cb k-rows, rows past its end zero: channel
    block b (= gi * ncb + cb) of them (packed in parallel)."""
    cdef Py_ssize_t gi = b // ncb, cb = b % ncb, blk, oc, m, k0, nr
    cdef const floating *src
    dst += b * nblk * g.OCg * MR
    for blk in range(nblk):
        k0 = cb * rows_cb + blk * MR
        nr = _imax(0, _imin(MR, _imin((cb + 1) * rows_cb, g.K) - k0))
        for oc in range(g.OCg):
            src = w + (gi * g.OCg + oc) * g.K + k0
            for m in range(nr):
                dst[m] = src[m]
            for m in range(nr, MR):
                dst[m] = 0
            dst += MR


# --------------------------------------------------------------------- fwd --

cdef void _fwd_task(const void *ks, bint narrow, const Geom *g,
                         Py_ssize_t t, Py_ssize_t nbk, Py_ssize_t PB, int MR,
                         int NR, const floating *x, const floating *wp,
                         const floating *bp, floating *out, floating *bbuf,
                         floating *cbuf, floating *xp) noexcept nogil:
    """Pixels [q0, q0 + PB) of group gi (counted across the batch, so small
    images fill whole tiles): K slice by K slice, pack the slice's columns
    (padding folded in), then run every NR tile of the block through every
    MR-row weight block (the tile's column panel stays in L1; weight block
    outer, the columns streamed from L2, or beyond it on a 512 KiB L2, once
    per block: 1.04-1.15x slower on the direct layers, AVX2), the sums
    gathering in cbuf (OC rows x PB, copied to the output at the end). Each weight slice is read once per pixel block,
    not once per NR tile: large layers no longer stream their weights from
    memory tile after tile (resnet_3x3_14 forward ~7% faster, 1 thread).
    The gemm adds onto the running sums in k order, so the bits depend on
    neither the slicing nor the blocking."""
    cdef Py_ssize_t bk = t % nbk, gi = t // nbk
    cdef Py_ssize_t q0 = bk * PB, npb = _imin(PB, g.N * g.P - q0)
    cdef Py_ssize_t npad = _cdiv(npb, NR) * NR
    cdef Py_ssize_t nmb = _cdiv(g.OCg, MR), ib, m0, mr, j0, pc, kc, q, n, p
    cdef Py_ssize_t seg, r
    cdef Region R
    cdef Py_ssize_t nsl = _cdiv(g.K, KC), sl
    for sl in range(nsl):  # balanced slices: no short last one
        pc = g.K * sl // nsl
        kc = g.K * (sl + 1) // nsl - pc
        q = q0
        while q < q0 + npb:
            n = q // g.P
            p = q - n * g.P
            seg = _imin(g.P - p, q0 + npb - q)
            if _pointwise(g):  # the columns are input rows
                for r in range(kc):
                    memcpy(bbuf + r * PB + (q - q0),
                           x + (n * g.C + gi * g.Cg + pc + r) * g.P + p,
                           seg * sizeof(floating))
            else:
                R = _region(g, pc, kc, p, seg)
                _pad_region(x + (n * g.C + gi * g.Cg) * g.H * g.W, g, &R, xp)
                _cols(xp, &R, g, pc, kc, p, seg, bbuf + (q - q0), PB, False)
            q += seg
        _zero_cols(bbuf, kc, PB, npb, npad)
        j0 = 0
        while j0 < npad:  # a column panel stays in L1 over the weight blocks
            for ib in range(nmb):
                _gemm(ks, narrow, kc, wp + (gi * nmb + ib) * g.K * MR + pc * MR,
                      bbuf + j0, PB, cbuf + ib * MR * PB + j0, PB,
                      NULL if bp == NULL else bp + (gi * nmb + ib) * MR,
                      pc > 0)
            j0 += NR
    for ib in range(nmb):
        m0 = ib * MR
        mr = _imin(MR, g.OCg - m0)
        q = q0
        while q < q0 + npb:  # image by image
            n = q // g.P
            p = q - n * g.P
            seg = _imin(g.P - p, q0 + npb - q)
            for r in range(mr):
                memcpy(out + (n * g.OC + gi * g.OCg + m0 + r) * g.P + p,
                       cbuf + (m0 + r) * PB + (q - q0),
                       seg * sizeof(floating))
            q += seg


# ------------------------------------------------- forward, implicit GEMM --
# The column matrix read in place (gemmi): each image's group of channels
# is copied once, zero-padded, as its SH x SW phase images (Hq x Wq each),
# so that column row k = (c, kh, kw) of output pixel oh * Wq + ow is
# xq[koff[k] + oh * Wq + ow] for every k: a stride-1 walk whatever the
# stride and dilation. Output rows are computed Wq wide (the Wq - OW extra
# columns are never stored). Same K slices, same ukernel arithmetic as the
# packed path: the same bits.
cdef enum:
    # the largest phase copy of one image's group of channels it takes
    IMPLICIT_BYTES = 2 * 1024 * 1024


cdef struct IGeom:
    Py_ssize_t Hq, Wq, pl, xqn, RB, ldc


cdef IGeom _igeom(const Geom *g, Py_ssize_t nmb, int MR, int NR,
                  Py_ssize_t esize) noexcept nogil:
    """The phase copy's geometry and the row blocking (esize: bytes an
    element)."""
    cdef IGeom q
    q.Hq = g.OH + (g.KH - 1) * g.DH // g.SH
    q.Wq = g.OW + (g.KW - 1) * g.DW // g.SW
    q.pl = q.Hq * q.Wq
    # the copy, and room for the last tile's reads past it
    q.xqn = _round_up(g.Cg * g.SH * g.SW * q.pl + q.Wq + NR)
    # output rows per block: the block's sums within a quarter of L2
    q.RB = _imax(1, _imin(g.OH, (_l2 // 4 // esize)
                          // (nmb * MR) // q.Wq))
    q.ldc = _round_up(_cdiv(q.RB * q.Wq, NR) * NR)
    return q


cdef void _phase_copy(const floating *img, const Geom *g, const IGeom *q,
                      floating *xq, floating *tmp) noexcept nogil:
    """xq[((c * SH + pr) * SW + pc) * pl + i * Wq + j] = the padded image
    at (c, i * SH + pr, j * SW + pc), zero outside the image (rows by
    _pad_row, tmp: SW * Wq); the slack after it zeroed."""
    cdef Py_ssize_t c, pr, pc, i, ih
    cdef Py_ssize_t lo = _imin(g.PW, g.SW * q.Wq), hi = _imin(g.SW * q.Wq, g.PW + g.W)
    cdef floating *dst
    for c in range(g.Cg):
        for pr in range(g.SH):
            for i in range(q.Hq):
                dst = xq + (c * g.SH + pr) * g.SW * q.pl + i * q.Wq
                ih = i * g.SH + pr - g.PH
                if ih < 0 or ih >= g.H or hi <= lo:
                    for pc in range(g.SW):
                        memset(dst + pc * q.pl, 0, q.Wq * sizeof(floating))
                else:
                    _pad_row(img + (c * g.H + ih) * g.W, g, q.Wq, lo, hi, tmp,
                             dst, q.pl)
    c = g.Cg * g.SH * g.SW * q.pl
    memset(xq + c, 0, (q.xqn - c) * sizeof(floating))


cdef object _column_offsets(const Geom *g, const IGeom *q, Py_ssize_t n):
    """offsets[k] (k < n; rows past K repeat the last): where column row k =
    (c, kh, kw) starts in the phase copy (pixel oh * Wq + ow at + oh * Wq +
    ow)."""
    offa = np.empty(n, dtype=np.intp)
    cdef ptrdiff_t[::1] off = offa
    cdef Py_ssize_t k, kk, c, r, kh, kw
    for k in range(n):
        kk = _imin(k, g.K - 1)
        c = kk // (g.KH * g.KW)
        r = kk - c * g.KH * g.KW
        kh = r // g.KW
        kw = r - kh * g.KW
        off[k] = (((c * g.SH + kh * g.DH % g.SH) * g.SW + kw * g.DW % g.SW) * q.pl
                  + kh * g.DH // g.SH * q.Wq + kw * g.DW // g.SW)
    return offa


cdef inline bint _implicit_fits(const Geom *g, const IGeom *q,
                                Py_ssize_t esize) noexcept nogil:
    """Both passes' shared condition for reading columns in place: not 1x1
    (those are input rows already), the extra columns at most 1/8 of a
    computed row, one image's phase copy within IMPLICIT_BYTES."""
    return (not _pointwise(g) and 8 * (q.Wq - g.OW) <= q.Wq
            and q.xqn * esize <= IMPLICIT_BYTES)


cdef void _fwd_implicit_task(const void *ks, bint narrow, const Geom *g,
                             const IGeom *q, Py_ssize_t t, int MR, int NR,
                             const floating *x, const floating *wp,
                             const ptrdiff_t *koff, const floating *bp,
                             floating *out, floating *xq, floating *cbuf,
                             floating *tmp) noexcept nogil:
    """Image n = t // G, group gi = t % G: its phase copy, then block by
    block of RB output rows, K slice by slice (as _fwd_task), every NR tile
    through every MR-row weight block, the sums in cbuf (OCg rows x ldc)."""
    cdef Py_ssize_t n = t // g.G, gi = t - n * g.G
    cdef Py_ssize_t nmb = _cdiv(g.OCg, MR), nsl = _cdiv(g.K, KC)
    cdef Py_ssize_t oh0, rb, npix, npad, sl, pc, kc, j0, ib, m0, mr, r, oh
    cdef const floating *xb
    _phase_copy(x + (n * g.C + gi * g.Cg) * g.H * g.W, g, q, xq, tmp)
    oh0 = 0
    while oh0 < g.OH:
        rb = _imin(q.RB, g.OH - oh0)
        npix = rb * q.Wq
        npad = _cdiv(npix, NR) * NR
        xb = xq + oh0 * q.Wq
        for sl in range(nsl):
            pc = g.K * sl // nsl
            kc = g.K * (sl + 1) // nsl - pc
            j0 = 0
            while j0 < npad:
                for ib in range(nmb):
                    _gemmi(ks, narrow, kc, wp + (gi * nmb + ib) * g.K * MR + pc * MR,
                           xb + j0, koff + pc, cbuf + ib * MR * q.ldc + j0, q.ldc,
                           NULL if bp == NULL else bp + (gi * nmb + ib) * MR,
                           pc > 0)
                j0 += NR
        for ib in range(nmb):
            m0 = ib * MR
            mr = _imin(MR, g.OCg - m0)
            for r in range(mr):
                for oh in range(rb):
                    memcpy(out + ((n * g.OC + gi * g.OCg + m0 + r) * g.OH + oh0 + oh) * g.OW,
                           cbuf + (m0 + r) * q.ldc + oh * q.Wq,
                           g.OW * sizeof(floating))
        oh0 += rb


cdef int _force_implicit = -1


def _set_fwd_implicit(value):
    """Tests and benchmarks: the direct forward reads its columns in place
    (True: wherever it applies, whatever its copy's size), packs them
    (False), or as the rule says (None)."""
    global _force_implicit
    _force_implicit = -1 if value is None else int(bool(value))


cdef bint _fwd_implicit(const Geom *g, const IGeom *q, Py_ssize_t esize,
                        int nt) noexcept nogil:
    """Whether the direct forward reads its columns in place: where
    _implicit_fits (LeNet's 5x5 on 14x14 computes 14 columns for 10: 3%
    slower than packing) with at least two (image, group) tasks per thread.
    Measured, 1 thread, AVX-512: cifar_3x3_c32 and lenet_c1 1.11-1.19x the
    packed path, the strided resnet layers (C = 3 and 64) 1.00-1.01x. The
    choice never changes the bits."""
    if _pointwise(g):
        return False
    if _force_implicit >= 0:
        return _force_implicit == 1
    return _implicit_fits(g, q, esize) and g.N * g.G >= 2 * nt


# ------------------------------------------------- forward, pixel rows --
# For few output channels (lenet_c3: 16), the output's transpose: rows =
# output pixels, read in place from phase copies of a block of images
# through a table of where each pixel's window starts (poff), columns =
# output channels in the vector (gemmp: W^T packed k x width). A tile holds
# only real pixels, from any rows and images (gemmi computes Wq-wide rows:
# 14 columns for LeNet's 10), and no channel past width. The tiles land in
# ct (pixels x the padded channels) and go to NCHW by the transpose kernel.
# Same K slices, same sums in the same order as the packed path: the bits.
cdef enum:
    # bytes of a task's phase copies and transposed sums (a quarter of L2)
    PIX_TASK_BYTES = 256 * 1024
    PIX_CHUNK = 1024  # pixels whose transposed sums a task holds at once
    MAX_MR = 32  # the most rows of a kernel set's tile


cdef inline void _gemmp(const void *ks, bint half, Py_ssize_t k,
                        const floating *a, const ptrdiff_t *poff,
                        const ptrdiff_t *koff, const floating *b, floating *c,
                        Py_ssize_t ldc, const floating *bias,
                        bint acc) noexcept nogil:
    """The set's pixel-rows micro-kernel: MR x NR, or (half) MRH x NR / 2."""
    if floating is float:
        if half:
            (<const cc_f32_kernels *>ks).gemmph(k, a, poff, koff, b, c, ldc, bias, acc)
        else:
            (<const cc_f32_kernels *>ks).gemmp(k, a, poff, koff, b, c, ldc, bias, acc)
    else:
        if half:
            (<const cc_f64_kernels *>ks).gemmph(k, a, poff, koff, b, c, ldc, bias, acc)
        else:
            (<const cc_f64_kernels *>ks).gemmp(k, a, poff, koff, b, c, ldc, bias, acc)


cdef struct PGeom:
    bint half                    # the NR / 2 wide kernel
    int mr                       # its rows (pixels a tile)
    Py_ssize_t width, nob, ocp   # channel block width, blocks, padded OCg
    bint inplace                 # no padding, stride 1: x is its own copy
    Py_ssize_t rs, ps            # row and plane stride of what tiles read
    Py_ssize_t B, xqs, ntile     # images a task, copy stride, tiles a chunk


cdef PGeom _pgeom(const Geom *g, const void *ks, int MR, int NR,
                  Py_ssize_t esize, int nt) noexcept nogil:
    """Channel blocks NR wide (NR / 2 when OCg fits), images a task: within
    PIX_TASK_BYTES, and at least two tasks a thread where the batch has
    them."""
    cdef PGeom p
    p.half = g.OCg <= NR // 2
    p.width = NR // 2 if p.half else NR
    if p.half:
        MR = ((<const cc_f32_kernels *>ks).mrh if esize == sizeof(float)
              else (<const cc_f64_kernels *>ks).mrh)
    p.mr = MR
    p.nob = _cdiv(g.OCg, p.width)
    p.ocp = p.nob * p.width
    # stride 1, no padding on any side (padding "same" with an even kernel
    # pads the bottom/right only): the phase copy would be the image itself
    p.inplace = (g.PH == 0 and g.PW == 0 and g.SH == 1 and g.SW == 1
                 and _pad_h(g) <= g.H and _pad_w(g) <= g.W)
    # else each image's group of channels copied zero-padded as the windows
    # read it (plain rows: the tiles' rows are table lookups, so a strided
    # layer needs no phase split)
    p.rs = g.W if p.inplace else _pad_w(g)
    p.ps = g.H * g.W if p.inplace else _pad_h(g) * p.rs
    p.xqs = g.C * g.H * g.W if p.inplace else _round_up(g.Cg * p.ps)
    p.B = _imax(1, PIX_TASK_BYTES // (esize * ((0 if p.inplace else p.xqs)
                                               + _imin(g.P, PIX_CHUNK) * p.ocp)))
    if g.G < 2 * nt:  # blocks of images for the threads' second tasks
        p.B = _imin(p.B, _imax(1, g.N // _cdiv(2 * nt, g.G)))
    p.B = _imin(p.B, g.N)
    p.ntile = _cdiv(_imin(p.B * g.P, PIX_CHUNK), MR)  # tiles a chunk
    return p


cdef void _pix_copy(const floating *img, const Geom *g, const PGeom *pg,
                    floating *dst) noexcept nogil:
    """One image's group of channels, zero-padded as the windows read it
    (pg.ps apart, rows pg.rs long)."""
    cdef Py_ssize_t c
    for c in range(g.Cg):
        _pad_window(img + c * g.H * g.W, g.H, g.W, -g.PH, -g.PW,
                    pg.ps // pg.rs, pg.rs, dst + c * pg.ps)


cdef object _pix_offsets(const Geom *g, const PGeom *pg, Py_ssize_t n):
    """offsets[k] (k < n; rows past K repeat the last): where tap k = (c,
    kh, kw) of a window reads, from the window's start."""
    offa = np.empty(n, dtype=np.intp)
    cdef ptrdiff_t[::1] off = offa
    cdef Py_ssize_t k, kk, c, r
    for k in range(n):
        kk = _imin(k, g.K - 1)
        c = kk // (g.KH * g.KW)
        r = kk - c * g.KH * g.KW
        off[k] = c * pg.ps + r // g.KW * g.DH * pg.rs + r % g.KW * g.DW
    return offa


cdef void _fwd_pix_task(const void *ks, const Geom *g, const PGeom *pg,
                        Py_ssize_t t, const floating *x, const floating *wt,
                        const ptrdiff_t *koff, const ptrdiff_t *poff,
                        const floating *bp, floating *out, floating *xq,
                        floating *ct) noexcept nogil:
    """Images [n0, n0 + B) of group gi (t = block * G + gi): their padded
    copies (or x itself), then chunk by chunk of PIX_CHUNK pixels, K slice
    by K slice every MR-pixel tile through every channel block, and the
    chunk's pixels x channels to NCHW."""
    cdef Py_ssize_t gi = t % g.G, n0 = t // g.G * pg.B
    cdef Py_ssize_t nb = _imin(pg.B, g.N - n0), i, sl, pc, kc, tl, ob
    cdef int MR = pg.mr
    cdef Py_ssize_t npix = nb * g.P, ntile = _cdiv(npix, MR), nsl = _cdiv(g.K, KC)
    cdef Py_ssize_t tpc = pg.ntile, t0, t1, qa, q1, im
    cdef ptrdiff_t plast[MAX_MR]
    cdef const ptrdiff_t *po
    if pg.inplace:
        xq = <floating *>x + (n0 * g.C + gi * g.Cg) * g.H * g.W
    else:
        for i in range(nb):
            _pix_copy(x + ((n0 + i) * g.C + gi * g.Cg) * g.H * g.W, g, pg,
                      xq + i * pg.xqs)
    t0 = 0
    while t0 < ntile:
        t1 = _imin(ntile, t0 + tpc)
        for sl in range(nsl):
            pc = g.K * sl // nsl
            kc = g.K * (sl + 1) // nsl - pc
            for tl in range(t0, t1):
                po = poff + tl * MR
                if tl == ntile - 1:  # its rows past the block: the last pixel
                    for i in range(MR):
                        plast[i] = poff[_imin(tl * MR + i, npix - 1)]
                    po = plast
                for ob in range(pg.nob):
                    _gemmp(ks, pg.half, kc, xq, po, koff + pc,
                           wt + ((gi * pg.nob + ob) * g.K + pc) * pg.width,
                           ct + (tl - t0) * MR * pg.ocp + ob * pg.width, pg.ocp,
                           NULL if bp == NULL else bp + (gi * pg.nob + ob) * pg.width,
                           pc > 0)
        qa = t0 * MR  # the chunk's pixels, image by image, to NCHW
        q1 = _imin(npix, t1 * MR)
        while qa < q1:
            im = qa // g.P
            i = _imin(q1, (im + 1) * g.P) - qa
            _transpose(ct + (qa - t0 * MR) * pg.ocp, pg.ocp, i, g.OCg,
                       out + ((n0 + im) * g.OC + gi * g.OCg) * g.P + qa - im * g.P,
                       g.P)
            qa += i
        t0 = t1


cdef int _force_pixels = -1


def _set_fwd_pixels(value):
    """Tests and benchmarks: the direct forward runs pixel rows (True:
    wherever it applies), never (False), or as the rule says (None)."""
    global _force_pixels
    _force_pixels = -1 if value is None else int(bool(value))


cdef bint _pixels_apply(const Geom *g, Py_ssize_t esize) noexcept nogil:
    """Where pixel rows can run: not 1x1 (input rows already), one image's
    padded copy within IMPLICIT_BYTES."""
    return (not _pointwise(g)
            and g.Cg * _pad_h(g) * _pad_w(g) * esize <= IMPLICIT_BYTES)


cdef enum:
    FWD_PACKED, FWD_IMPLICIT, FWD_PIXELS


cdef int _fwd_path(const Geom *g, const void *ks, Py_ssize_t esize,
                   int nt) noexcept nogil:
    """How the direct forward gets its columns: pixel rows for strided
    layers; else read in place where _fwd_implicit says; else pixel rows
    for at most NR output channels a group; else packed (pixel rows always
    with two (image, group) tasks a thread). Measured, 1 thread, AVX-512,
    medians of 15-40, pixels against the implicit GEMM: resnet_3x3s2_56
    1.15-1.16x, resnet_stem_7x7s2 1.11-1.12x (packed 1.10x), other 3x3 and
    5x5 stride-2 layers with 16-512 channels 0.99-1.36x, CIFAR-like 5x5
    with padding 0.99-1.07x; against packed: lenet_c3 1.6x, 5x5 layers on
    14x14 with 4-32 channels 1.07-1.45x, 48 channels 0.69x. The choice
    never changes the bits."""
    cdef int MR, MR2, NR, dmr, dnr, dvl, dpl
    _tile_dims(ks, &MR, &MR2, &NR, &dmr, &dnr, &dvl, &dpl, esize == sizeof(float))
    cdef bint pix = _pixels_apply(g, esize)
    if pix and _force_pixels == 1:
        return FWD_PIXELS
    if _use_narrow(g.OCg, g.K, MR, MR2, NR, dvl):
        MR = MR2
    cdef bint rule = (pix and _force_pixels == -1 and g.N * g.G >= 2 * nt
                      and _force_implicit == -1)
    if rule and (g.SH > 1 or g.SW > 1):
        return FWD_PIXELS
    cdef IGeom q = _igeom(g, _cdiv(g.OCg, MR), MR, NR, esize)
    if _fwd_implicit(g, &q, esize, nt):
        return FWD_IMPLICIT
    if rule and g.OCg <= NR:
        return FWD_PIXELS
    return FWD_PACKED


cdef void _conv2d_fwd_pix(const floating[:, :, :, ::1] x,
                          const floating[:, :, :, ::1] w, bias,
                          floating[:, :, :, ::1] out, const Geom *g,
                          const void *ks, int MR, int NR, int nt, dict packed):
    """conv2d_fwd by pixel rows (see _fwd_pix_task)."""
    dtype = np.float32 if floating is float else np.float64
    cdef PGeom pg = _pgeom(g, ks, MR, NR, sizeof(floating), nt)
    MR = pg.mr
    key = ("fwdp", <uintptr_t>ks, pg.width)
    wta = None if packed is None else packed.get(key)
    cdef floating[::1] wt
    cdef Py_ssize_t b
    if wta is None:
        wta = np.empty(g.G * pg.ocp * g.K, dtype=dtype)
        wt = wta
        for b in range(g.G * pg.nob):
            _pack_rows_kmajor(&w[0, 0, 0, 0], g.G, g.OCg, g.K, g.K, pg.width,
                              b, &wt[0])
        if packed is not None:
            packed[key] = wta
    wt = wta
    cdef floating[::1] bpv
    cdef const floating *bp = NULL
    if bias is not None:
        bpa = np.zeros((g.G, pg.ocp), dtype=dtype)
        bpa[:, :g.OCg] = np.asarray(bias).reshape(g.G, g.OCg)
        bpv = bpa.reshape(-1)
        bp = &bpv[0]
    cdef ptrdiff_t[::1] ko = _pix_offsets(g, &pg, g.K)
    # where each pixel of a task's images starts in their copies
    cdef Py_ssize_t npo = _cdiv(pg.B * g.P, MR) * MR
    poa = np.empty(npo, dtype=np.intp)
    cdef ptrdiff_t[::1] po = poa
    cdef Py_ssize_t r = 0, i, oh, ow
    for i in range(pg.B):
        for oh in range(g.OH):
            for ow in range(g.OW):
                po[r] = i * pg.xqs + oh * g.SH * pg.rs + ow * g.SW
                r += 1
    for r in range(r, npo):
        po[r] = po[pg.B * g.P - 1]
    cdef Py_ssize_t nxq = 0 if pg.inplace else pg.B * pg.xqs
    cdef Py_ssize_t nct = _round_up(pg.ntile * MR * pg.ocp)
    cdef Py_ssize_t per = nxq + nct
    cdef Py_ssize_t ntasks = _cdiv(g.N, pg.B) * g.G, t
    nt = task_threads(ntasks, _gemm_ns(g))
    wsa = np.empty(per * nt + ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *ws0 = &ws[0] + _aligned_offset(ws)
    cdef floating *buf
    with nogil, parallel(num_threads=nt):
        buf = ws0 + omp_get_thread_num() * per
        for t in prange(ntasks, schedule='dynamic'):
            _fwd_pix_task(ks, g, &pg, t, &x[0, 0, 0, 0], &wt[0], &ko[0],
                          &po[0], bp, &out[0, 0, 0, 0], buf, buf + nxq)


def fwd_path(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1,
             threads=None):
    """"pixels", "implicit" or "packed": how the direct (GEMM) forward of
    this float32 convolution gets its columns with `threads` threads
    (default: the current count), by the driver's own rule (the layer may
    still go to Winograd or the depthwise path: see conv_algorithm)."""
    N, C, H, W = x_shape
    OC, _, KH, KW = w_shape
    s = (stride, stride) if isinstance(stride, int) else stride
    p = (padding, padding) if isinstance(padding, int) else padding
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    OH = (H + 2 * p[0] - d[0] * (KH - 1) - 1) // s[0] + 1
    OW = (W + 2 * p[1] - d[1] * (KW - 1) - 1) // s[1] + 1
    cdef Geom g = _geom(N, C, H, W, OC, KH, KW, OH, OW, s[0], s[1], p[0], p[1],
                        d[0], d[1], groups)
    cdef int nt = task_threads(g.N * g.G, _gemm_ns(&g)) if threads is None else threads
    return ("packed", "implicit", "pixels")[_fwd_path(&g, _kset(<float>0),
                                                      sizeof(float), nt)]


cdef inline double _gemm_ns(const Geom *g) noexcept nogil:
    """One-thread time estimate of a GEMM-path pass (~100 GFLOP/s)."""
    return 2.0 * g.N * g.P * g.OC * g.K * 0.01


cdef inline double _dw_ns(const Geom *g) noexcept nogil:
    """One-thread time estimate of a depthwise pass (memory bound)."""
    return 2.0 * g.N * g.P * g.OC * g.K * 0.05


cdef inline bint _pointwise(const Geom *g) noexcept nogil:
    """1x1, stride 1, no padding: the column matrix is the input itself."""
    return (g.KH == 1 and g.KW == 1 and g.SH == 1 and g.SW == 1
            and g.PH == 0 and g.PW == 0)


def conv2d_fwd(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
               bias, floating[:, :, :, ::1] out, Py_ssize_t sh, Py_ssize_t sw,
               Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw,
               Py_ssize_t groups, dict packed=None):
    """out = conv(x, w) + bias; out is (N, OC, OH, OW), fully overwritten.

    `packed`: optional dict the caller keeps for one version of `w` (cleared
    when w changes); packed layouts are kept there under a key naming the
    pass, kernel set and tiling, and reused on later calls."""
    cdef Geom g = _geom(x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                        w.shape[0], w.shape[2], w.shape[3], out.shape[2],
                        out.shape[3], sh, sw, ph, pw, dh, dw, groups)
    if g.N == 0 or g.OC == 0:
        return
    if g.Cg == 1 and g.G == g.C and g.G > 1:
        _dw_fwd(x, w, bias, out, &g)
        return
    if _wino_applies(g.KH, g.KW, sh, sw, groups, g.C, g.OC):
        _wino_conv(x, w, bias, out, ph, pw, dh, dw, False, packed)
        return
    cdef const void *ks = _kset(<floating>0)
    cdef int MR, MR2, NR, dmr, dnr, dvl, dpl
    _tile_dims(ks, &MR, &MR2, &NR, &dmr, &dnr, &dvl, &dpl, floating is float)
    dtype = np.float32 if floating is float else np.float64
    cdef int nt = task_threads(g.N * g.G, _gemm_ns(&g))
    cdef int path = _fwd_path(&g, ks, sizeof(floating), nt)
    cdef IGeom q
    if path == FWD_PIXELS:
        _conv2d_fwd_pix(x, w, bias, out, &g, ks, MR, NR, nt, packed)
        return
    cdef bint narrow = _use_narrow(g.OCg, g.K, MR, MR2, NR, dvl)
    if narrow:
        MR = MR2
    cdef Py_ssize_t nmb = _cdiv(g.OCg, MR)
    key = ("fwd", <uintptr_t>ks, MR)
    wpa = None if packed is None else packed.get(key)
    cdef floating[::1] wp
    cdef Py_ssize_t pb
    cdef int pnt
    if wpa is None:
        wpa = np.empty(g.G * nmb * g.K * MR, dtype=dtype)
        wp = wpa
        pnt = task_threads(g.G * nmb, 0.5 * wpa.size)
        with nogil:
            for pb in prange(g.G * nmb, num_threads=pnt, schedule='static'):
                _pack_rows_kmajor(&w[0, 0, 0, 0], g.G, g.OCg, g.K, g.K, MR, pb,
                                  &wp[0])
        if packed is not None:
            packed[key] = wpa
    wp = wpa
    cdef floating[::1] bpv
    cdef const floating *bp = NULL
    if bias is not None:
        bpa = np.zeros((g.G, nmb * MR), dtype=dtype)
        bpa[:, :g.OCg] = np.asarray(bias).reshape(g.G, g.OCg)
        bpv = bpa.reshape(-1)
        bp = &bpv[0]
    cdef Py_ssize_t t, nbk, ntasks, per, xpn, PB
    cdef floating *bbuf
    cdef floating[::1] ws
    cdef floating *ws0
    cdef Py_ssize_t tiles = _cdiv(g.N * g.P, NR), bt
    q = _igeom(&g, nmb, MR, NR, sizeof(floating))
    cdef ptrdiff_t[::1] ko
    if path == FWD_IMPLICIT:
        ko = _column_offsets(&g, &q, g.K)
        per = q.xqn + _round_up(nmb * MR * q.ldc) + _round_up(g.SW * q.Wq)
        wsa = np.empty(per * nt + ALIGN, dtype=dtype)
        ws = wsa
        ws0 = &ws[0] + _aligned_offset(ws)
        with nogil, parallel(num_threads=nt):
            bbuf = ws0 + omp_get_thread_num() * per
            for t in prange(g.N * g.G, schedule='dynamic'):
                _fwd_implicit_task(ks, narrow, &g, &q, t, MR, NR, &x[0, 0, 0, 0],
                                   &wp[0], &ko[0], bp, &out[0, 0, 0, 0], bbuf,
                                   bbuf + q.xqn,
                                   bbuf + q.xqn + _round_up(nmb * MR * q.ldc))
        return
    # as many NR tiles per block as L2 holds beside the weight slice,
    # balanced, with at least two blocks per thread (the blocking never
    # changes the sums: the bits do not depend on it)
    bt = _imax(1, (<Py_ssize_t>(_l2 * 3 // 4 // sizeof(floating)) - nmb * MR * KC)
               // ((KC + nmb * MR) * NR))
    nt = task_threads(tiles, _gemm_ns(&g))
    nbk = _imin(tiles, _imax(_cdiv(tiles, bt), 2 * nt))
    # a whole number of blocks per thread (9 blocks on 2 threads would
    # leave one thread a block behind), when the groups do not spread them
    if g.G == 1 and nbk % nt:
        nbk = _imin(tiles, nbk + nt - nbk % nt)
    PB = _cdiv(tiles, nbk) * NR
    nbk = _cdiv(g.N * g.P, PB)
    ntasks = g.G * nbk
    nt = task_threads(ntasks, _gemm_ns(&g))
    xpn = _round_up(_region_size(&g, KC, PB))
    per = _round_up(KC * PB) + xpn + _round_up(nmb * MR * PB)
    wsa = np.empty(per * nt + ALIGN, dtype=dtype)
    ws = wsa
    ws0 = &ws[0] + _aligned_offset(ws)
    with nogil, parallel(num_threads=nt):
        bbuf = ws0 + omp_get_thread_num() * per
        for t in prange(ntasks, schedule='dynamic'):
            _fwd_task(ks, narrow, &g, t, nbk, PB, MR, NR, &x[0, 0, 0, 0],
                      &wp[0], bp, &out[0, 0, 0, 0], bbuf,
                      bbuf + _round_up(KC * PB) + xpn,
                      bbuf + _round_up(KC * PB))


# ---------------------------------------------------------------- winograd --
# F(4x4, 3x3) for 3x3 stride-1 convolutions without dilation or groups
# (winograd.inc.c has the transforms). Per block of NB tiles (counted across
# the batch, so small images fill whole NR tiles): the input transform
# V[36][C][NB], one GEMM per position M[xi] = U[xi] . V[xi] with the gemm
# micro-kernel (sums over the channels in increasing order: the bits depend
# on neither the blocking nor the threads), then the output transform. The
# choice depends on the channels, kernel, stride, dilation and groups only,
# never on the image size (convcore.dask relies on it: see _conv_tile).

cdef enum:
    # bytes of one block's V and M (they stream through L2 and L3)
    WINO_BLOCK_BYTES = 1024 * 1024
    # output channels go in chunks of about this many bytes of transformed
    # filters U: a block holds one chunk's products M at a time, and a call
    # without a packed cache and with more than one chunk transforms U chunk
    # by chunk into each task's small buffer (faulting in a fresh array 4x
    # the weights cost more than the 36 GEMMs on resnet_3x3_7)
    WINO_CHUNK_BYTES = 4 * 1024 * 1024
    # bytes of the U chunk a task transforms at a time, when it does
    WINO_UCHUNK_BYTES = 256 * 1024
    # bytes of a weight-gradient block's two transforms (with V^T and a
    # chunk of dU beside them, the workspace stays within what a pass may
    # use: tests/test_memory.py)
    WINO_WGRAD_BYTES = 3 * 1024 * 1024
    # bytes of a block's V, shared by the filter-chunk tasks, when those
    # transform their own U
    WINO_V_BYTES = 8 * 1024 * 1024
    # fewest input and output channels for the automatic choice
    WINO_MIN_C = 16
    WINO_MIN_OC = 16

# "auto": Winograd where it applies and the channels are enough; "direct":
# never; "winograd": wherever it applies. Set by convcore.set_conv_algorithm
# (which validates it, and reads CONVCORE_CONV_ALGORITHM at import).
_algorithm = "auto"


def set_conv_algorithm(name):
    global _algorithm
    if name not in ("auto", "direct", "winograd"):
        raise ValueError(f"unknown convolution algorithm {name!r}")
    _algorithm = name


def get_conv_algorithm():
    return _algorithm


cdef bint _wino_applies(Py_ssize_t KH, Py_ssize_t KW, Py_ssize_t sh,
                        Py_ssize_t sw, Py_ssize_t groups, Py_ssize_t C,
                        Py_ssize_t OC):
    """Whether a convolution (C in, OC out) runs through Winograd (dilated
    or not: a dilated layer runs on its phase images, WGeom)."""
    if _algorithm == "direct":
        return False
    if not (KH == 3 and KW == 3 and sh == 1 and sw == 1 and groups == 1):
        return False
    return _algorithm == "winograd" or (C >= WINO_MIN_C and OC >= WINO_MIN_OC)


cdef bint _wino_bwd_data(const Geom *g):
    """The input gradient of a 3x3 stride-1 layer is a 3x3 convolution of
    dout (OC channels in, C out) padded by 2D - P (D the dilation), with the
    filters transposed and rotated: Winograd where the forward rule takes
    that convolution."""
    return g.PH <= 2 * g.DH and g.PW <= 2 * g.DW and _wino_applies(
        g.KH, g.KW, g.SH, g.SW, g.G, g.OC, g.C)


def conv_algorithm(pass_, Py_ssize_t C, Py_ssize_t OC, Py_ssize_t KH,
                   Py_ssize_t KW, Py_ssize_t sh=1, Py_ssize_t sw=1,
                   Py_ssize_t ph=0, Py_ssize_t pw=0, Py_ssize_t dh=1,
                   Py_ssize_t dw=1, Py_ssize_t groups=1):
    """"winograd" or "direct": how a pass ("fwd", "bwd_data",
    "bwd_weights") of this convolution runs now (the drivers' own rule)."""
    cdef Geom g = _geom(1, C, 1, 1, OC, KH, KW, 1, 1, sh, sw, ph, pw, dh, dw,
                        groups)
    if pass_ == "fwd" or pass_ == "bwd_weights":
        wino = _wino_applies(KH, KW, sh, sw, groups, C, OC)
    elif pass_ == "bwd_data":
        wino = _wino_bwd_data(&g)
    else:
        raise ValueError(f"conv_algorithm: unknown pass {pass_!r}")
    return "winograd" if wino else "direct"


cdef struct WGeom:
    # N images (N, C, H, W) in, (N, OC, OH, OW) out, padding (PH * DH + RH,
    # PW * DW + RW), dilation (DH, DW). A dilated 3x3 convolution is DH * DW
    # undilated ones: output phase (pr, pc) (rows pr, pr + DH, ..., columns
    # pc, pc + DW, ...) is the 3x3 convolution of input phase ((pr - RH) %
    # DH, (pc - RW) % DW) padded by PH (PH + 1 where pr < RH) and PW (the
    # same). Each output phase image is tiled by TH x TW 4x4 tiles (the
    # tiling of phase (0, 0), the largest; outputs past a smaller one's
    # edge are not stored): T tiles in all.
    Py_ssize_t N, C, H, W, OC, OH, OW, PH, PW, RH, RW, DH, DW, TH, TW, T
    Py_ssize_t NB, ldr
    # the transforms take groups of whole tile-row segments, up to gt tiles
    # (one segment at least), so that short rows still fill the vectors;
    # ldp: the stride of their column phases (ph); scr: a thread's
    # transform scratch (rows: 6 * ldr, ph: 36 * ldp, ybuf: 16 * ldp)
    Py_ssize_t gt, ldp, scr, vl
    Py_ssize_t nmb, cib  # MR-row filter blocks, and blocks per chunk
    # position (xi) strides of U, V and M: a line more than their rows, so
    # that the 36 streams of a transform do not share one cache set
    Py_ssize_t xu, xv, xm
    bint flip


cdef WGeom _wgeom(Py_ssize_t N, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                  Py_ssize_t OC, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t ph,
                  Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw, bint flip,
                  int VL):
    """The tiling of a Winograd call (its blocking is set by the caller)."""
    cdef WGeom g
    g.N, g.C, g.H, g.W, g.OC, g.OH, g.OW = N, C, H, W, OC, OH, OW
    g.PH, g.RH, g.PW, g.RW = ph // dh, ph % dh, pw // dw, pw % dw
    g.DH, g.DW, g.flip = dh, dw, flip
    g.TH, g.TW = _cdiv(_cdiv(OH, dh), 4), _cdiv(_cdiv(OW, dw), 4)
    g.T = N * dh * dw * g.TH * g.TW
    # padded input rows of a tile-row segment: 4 columns a tile, with room
    # for the vector loops of the transforms
    g.ldr = _round_up(4 * (_cdiv(g.TW, VL) * VL + 2 * VL))
    g.vl = VL
    g.gt = _imax(g.TW, 4 * VL)
    g.ldp = _round_up(g.gt + VL)
    g.scr = 6 * g.ldr + 52 * g.ldp
    return g


cdef inline Py_ssize_t _wgroup(const WGeom *g, Py_ssize_t q,
                               Py_ssize_t qend) noexcept nogil:
    """How many tiles from q on (before qend) make the transforms' group:
    whole tile-row segments, at most gt tiles, at least one segment."""
    cdef Py_ssize_t tot = 0, seg, n, th, tw
    while q + tot < qend:
        seg = _wseg(g, q + tot, qend, &n, &th, &tw)
        if tot > 0 and tot + seg > g.gt:
            break
        tot += seg
    return tot


cdef inline Py_ssize_t _wseg(const WGeom *g, Py_ssize_t q, Py_ssize_t qend,
                             Py_ssize_t *n, Py_ssize_t *th,
                             Py_ssize_t *tw) noexcept nogil:
    """Tile q is (phase image n, tile row th, column tw); returns how many
    tiles from it on stay in its tile row and before qend."""
    cdef Py_ssize_t TPI = g.TH * g.TW, rem
    n[0] = q // TPI
    rem = q - n[0] * TPI
    th[0] = rem // g.TW
    tw[0] = rem - th[0] * g.TW
    return _imin(g.TW - tw[0], qend - q)


cdef inline Py_ssize_t _wphase(const WGeom *g, Py_ssize_t n, Py_ssize_t C,
                               Py_ssize_t H, Py_ssize_t W, Py_ssize_t *rows,
                               Py_ssize_t *cols, Py_ssize_t *pad_h,
                               Py_ssize_t *pad_w) noexcept nogil:
    """Output phase image n (image n // (DH * DW), phase (pr, pc) from
    n % (DH * DW)) in an (N, C, H, W) array: with pad_h NULL the output's
    phase, else the input phase it reads and (pad_h, pad_w) its padding.
    Returns the offset of the phase's channel 0, row 0 (its element (c, i,
    j) is at offset + (c * H + DH * i) * W + DW * j); sets its rows and
    columns."""
    cdef Py_ssize_t img = n // (g.DH * g.DW), ph = n - img * g.DH * g.DW
    cdef Py_ssize_t pr = ph // g.DW
    cdef Py_ssize_t pc = ph - pr * g.DW
    if pad_h != NULL:
        pad_h[0] = g.PH + (pr < g.RH)
        pad_w[0] = g.PW + (pc < g.RW)
        pr = (pr - g.RH + g.DH) % g.DH
        pc = (pc - g.RW + g.DW) % g.DW
    rows[0] = _cdiv(H - pr, g.DH)
    cols[0] = _cdiv(W - pc, g.DW)
    return img * C * H * W + pr * W + pc


cdef inline void _gather(floating *dst, const floating *src, Py_ssize_t n,
                         Py_ssize_t stride) noexcept nogil:
    """dst[i] = src[i * stride], i < n."""
    if stride == 1:
        memcpy(dst, src, n * sizeof(floating))
    else:
        k_gather(n, src, stride, dst)


cdef inline void _scatter(floating *dst, const floating *src, Py_ssize_t n,
                          Py_ssize_t stride) noexcept nogil:
    """dst[i * stride] = src[i], i < n."""
    cdef Py_ssize_t i
    if stride == 1:
        memcpy(dst, src, n * sizeof(floating))
    else:
        for i in range(n):
            dst[i * stride] = src[i]


cdef void _wino_in_block(const void *ks, const WGeom *g, Py_ssize_t q0,
                         Py_ssize_t nbt, const floating *x, floating *V,
                         floating *rows, floating *ph) noexcept nogil:
    """V[xi][c][q - q0] = (B^T d B)[xi] of tile q's channel c, q0 <= q <
    q0 + nbt: per group of tile-row segments (_wgroup) and channel, each
    segment's 6 input rows padded and split into its column phases, then
    the group transformed at once."""
    cdef Py_ssize_t ldr = g.ldr, ldp = g.ldp
    cdef Py_ssize_t q, qg, tot, n, th, tw, seg, c, r, ih, lo, hi, lim, c0
    cdef Py_ssize_t base, hp, wp, pad_h, pad_w
    cdef const floating *src
    cdef floating *dst
    qg = q0
    while qg < q0 + nbt:
        tot = _wgroup(g, qg, q0 + nbt)
        for c in range(g.C):
            q = qg
            while q < qg + tot:
                seg = _wseg(g, q, qg + tot, &n, &th, &tw)
                base = _wphase(g, n, g.C, g.H, g.W, &hp, &wp, &pad_h, &pad_w)
                c0 = 4 * tw - pad_w  # input column of the segment's left edge
                lim = _imin(ldr, 4 * _cdiv(seg, g.vl) * g.vl + 4)  # what the split reads
                lo = _imin(lim, _imax(0, -c0))
                hi = _imax(lo, _imin(lim, wp - c0))
                for r in range(6):
                    ih = 4 * th + r - pad_h
                    dst = rows + r * ldr
                    if ih < 0 or ih >= hp or hi == lo:
                        memset(dst, 0, lim * sizeof(floating))
                    else:
                        src = x + base + (c * g.H + g.DH * ih) * g.W + g.DW * (c0 + lo)
                        memset(dst, 0, lo * sizeof(floating))
                        _gather(dst + lo, src, hi - lo, g.DW)
                        memset(dst + hi, 0, (lim - hi) * sizeof(floating))
                if floating is float:
                    (<const cc_f32_kernels *>ks).wino_split(seg, rows, ldr,
                                                            ph + (q - qg), ldp)
                else:
                    (<const cc_f64_kernels *>ks).wino_split(seg, rows, ldr,
                                                            ph + (q - qg), ldp)
                q += seg
            if floating is float:
                (<const cc_f32_kernels *>ks).wino_in(
                    tot, ph, ldp, V + c * g.NB + (qg - q0), g.xv)
            else:
                (<const cc_f64_kernels *>ks).wino_in(
                    tot, ph, ldp, V + c * g.NB + (qg - q0), g.xv)
        qg += tot


cdef void _wino_out_block(const void *ks, const WGeom *g, Py_ssize_t q0,
                          Py_ssize_t nbt, Py_ssize_t oc0, Py_ssize_t oc1,
                          Py_ssize_t ldm, const floating *M,
                          const floating *bias, floating *out,
                          floating *ybuf) noexcept nogil:
    """out[n, oc, tile q] = (A^T m A) + bias for output channels [oc0, oc1),
    m at M[xi*ldm + (oc - oc0)*NB + q - q0]: a group of tile-row segments
    (_wgroup) at once into ybuf (16 * ldp), then each segment's rows
    stored."""
    cdef Py_ssize_t ldy = 4 * g.ldp
    cdef Py_ssize_t q, qg, tot, n, th, tw, seg, oc, a, ncol, base, hp, wp
    qg = q0
    while qg < q0 + nbt:
        tot = _wgroup(g, qg, q0 + nbt)
        for oc in range(oc0, oc1):
            if floating is float:
                (<const cc_f32_kernels *>ks).wino_out(
                    tot, M + (oc - oc0) * g.NB + (qg - q0), ldm,
                    0 if bias == NULL else bias[oc], ybuf, ldy)
            else:
                (<const cc_f64_kernels *>ks).wino_out(
                    tot, M + (oc - oc0) * g.NB + (qg - q0), ldm,
                    0 if bias == NULL else bias[oc], ybuf, ldy)
            q = qg
            while q < qg + tot:
                seg = _wseg(g, q, qg + tot, &n, &th, &tw)
                base = _wphase(g, n, g.OC, g.OH, g.OW, &hp, &wp, NULL, NULL)
                ncol = _imin(4 * seg, wp - 4 * tw)
                if ncol > 0:
                    for a in range(_imin(4, hp - 4 * th)):
                        _scatter(out + base + (oc * g.OH + g.DH * (4 * th + a)) * g.OW
                                 + g.DW * 4 * tw, ybuf + a * ldy + 4 * (q - qg),
                                 ncol, g.DW)
                q += seg
        qg += tot


cdef void _wino_chunk(const void *ks, bint narrow, const WGeom *g,
                      Py_ssize_t q0, Py_ssize_t nbt, Py_ssize_t ib0,
                      Py_ssize_t nib, int MR, int NR, const floating *V,
                      const floating *w, const floating *uc,
                      const floating *bias, floating *out, floating *M,
                      floating *ybuf, floating *ubuf) noexcept nogil:
    """Filter blocks [ib0, ib0 + nib) over tiles [q0, q0 + nbt) (V their
    input transform): 36 GEMMs and the output transform into out. uc: the
    chunk's U, or NULL to transform it from w into ubuf first."""
    cdef Py_ssize_t NB = g.NB, ublk = 36 * g.xu
    cdef Py_ssize_t npad = _cdiv(nbt, NR) * NR, ib, xi, j0
    if uc == NULL:
        for ib in range(nib):
            _wino_pack(ks, w, g, MR, ib0 + ib, ubuf + ib * ublk)
        uc = ubuf
    # one GEMM per position: M[xi][oc][NB] = U[xi][oc][C] . V[xi][C][NB]
    for xi in range(36):
        for ib in range(nib):
            j0 = 0
            while j0 < npad:
                _gemm(ks, narrow, g.C, uc + ib * ublk + xi * g.xu,
                      V + xi * g.xv + j0, NB,
                      M + xi * g.xm + ib * MR * NB + j0, NB, NULL, False)
                j0 += NR
    _wino_out_block(ks, g, q0, nbt, ib0 * MR, _imin(g.OC, (ib0 + nib) * MR),
                    g.xm, M, bias, out, ybuf)


cdef void _wino_task(const void *ks, bint narrow, const WGeom *g,
                     Py_ssize_t b, int MR, int NR, const floating *x,
                     const floating *up, const floating *bias,
                     floating *out, floating *ws) noexcept nogil:
    """Tiles [b*NB, b*NB + NB) of the batch with all of U made (up): input
    transform once, then every chunk of cib filter blocks. ws: this thread's
    workspace (layout in _wino_conv)."""
    cdef Py_ssize_t q0 = b * g.NB, nbt = _imin(g.NB, g.T - q0), ib0, xi
    cdef floating *V = ws
    cdef floating *M = V + 36 * g.xv
    cdef floating *rows = M + 36 * g.xm
    _wino_in_block(ks, g, q0, nbt, x, V, rows, rows + 6 * g.ldr)
    for xi in range(36):
        _zero_cols(V + xi * g.xv, g.C, g.NB, nbt, _cdiv(nbt, NR) * NR)
    ib0 = 0
    while ib0 < g.nmb:
        _wino_chunk(ks, narrow, g, q0, nbt, ib0, _imin(g.cib, g.nmb - ib0), MR,
                    NR, V, NULL, up + ib0 * 36 * g.xu, bias, out, M,
                    rows + 6 * g.ldr + 36 * g.ldp, NULL)
        ib0 += g.cib


cdef void _wino_pack(const void *ks, const floating *w, const WGeom *g,
                     int MR, Py_ssize_t ib, floating *up) noexcept nogil:
    """U[xi*xu + c*MR + m] = (G g G^T)[xi] of the filter (oc = ib*MR + m, c), for
    filter block ib (up points at the block): w[oc][c] (w is (OC, C, 3, 3)),
    or with `flip` w[c][oc] rotated by 180 degrees (w is (C, OC, 3, 3): the
    input gradient's filters); rows past OC repeat the last filter (their
    sums are never read)."""
    cdef Py_ssize_t nm = _imin(MR, g.OC - ib * MR)
    cdef const floating *g0
    cdef ptrdiff_t ms, cs, ts
    if g.flip:
        g0, ms, cs, ts = w + ib * MR * 9 + 8, 9, g.OC * 9, -1
    else:
        g0, ms, cs, ts = w + ib * MR * g.C * 9, g.C * 9, 9, 1
    if floating is float:
        (<const cc_f32_kernels *>ks).wino_wt(nm, g.C, g0, ms, cs, ts, up, MR,
                                             g.xu)
    else:
        (<const cc_f64_kernels *>ks).wino_wt(nm, g.C, g0, ms, cs, ts, up, MR,
                                             g.xu)


cdef _wino_conv(const floating[:, :, :, ::1] x,
                const floating[:, :, :, ::1] w, bias,
                floating[:, :, :, ::1] out, Py_ssize_t ph, Py_ssize_t pw,
                Py_ssize_t dh, Py_ssize_t dw, bint flip, dict packed):
    """out = conv3x3(x, w, padding (ph, pw), dilation (dh, dw)) + bias by
    Winograd F(4x4, 3x3), on phase images when dilated (WGeom);
    `flip`: w is (C_out, C_in, 3, 3) of a forward whose input gradient this
    is (the filters transposed and rotated). out is fully overwritten.

    U (the transformed filters, 4x the weights) is made once and kept in
    `packed` when the caller keeps one, or made whole when it fits in one
    chunk (WINO_CHUNK_BYTES); otherwise each block's filter-chunk tasks
    transform their own chunk into a small buffer (instead of faulting in a
    fresh array), and the blocks are few and large."""
    cdef const void *ks = _kset(<floating>0)
    cdef int MR, MR2, NR, dmr, dnr, VL, dpl
    _tile_dims(ks, &MR, &MR2, &NR, &dmr, &dnr, &VL, &dpl, floating is float)
    cdef WGeom g = _wgeom(x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                          out.shape[1], out.shape[2], out.shape[3], ph, pw,
                          dh, dw, flip, VL)
    cdef bint narrow = _use_narrow(g.OC, g.C, MR, MR2, NR, VL)
    if narrow:
        MR = MR2
    g.nmb = _cdiv(g.OC, MR)
    g.xu = g.C * MR + ALIGN
    cdef Py_ssize_t ublk = 36 * g.xu
    # filter blocks per chunk: a function of the channels only
    g.cib = _imax(1, _imin(g.nmb, WINO_CHUNK_BYTES // (ublk * sizeof(floating))))
    dtype = np.float32 if floating is float else np.float64
    key = ("winograd", <uintptr_t>ks, MR, bool(flip))
    wpa = None if packed is None else packed.get(key)
    cdef bint whole = wpa is not None or packed is not None or g.cib == g.nmb
    if not whole:  # U made per task: chunks that stay in L2 from the
        # transform to the GEMM (M and the output transform do not care)
        g.cib = _imax(1, _imin(g.nmb, WINO_UCHUNK_BYTES // (ublk * sizeof(floating))))
    cdef floating[::1] up
    cdef Py_ssize_t ib
    cdef int pnt
    if whole and wpa is None:
        wpa = np.empty(g.nmb * ublk, dtype=dtype)
        up = wpa
        pnt = task_threads(g.nmb, 2.0 * wpa.size)
        with nogil:
            for ib in prange(g.nmb, num_threads=pnt, schedule='static'):
                _wino_pack(ks, &w[0, 0, 0, 0], &g, MR, ib, &up[0] + ib * ublk)
        if packed is not None:
            packed[key] = wpa
    if whole:
        up = wpa
    cdef floating[::1] bv
    cdef const floating *bp = NULL
    if bias is not None:
        bv = bias
        bp = &bv[0]
    # whole U: tasks are blocks of tiles, whole NR tiles, balanced, V and a
    # chunk's M within WINO_BLOCK_BYTES, at least two blocks per thread
    # where possible. U made per call: blocks of tiles one after another
    # (V within WINO_V_BYTES, shared), their input transform split over the
    # threads by tiles, then tasks over the filter chunks, each making its
    # chunk's U: every filter is transformed once per block, by one thread.
    cdef Py_ssize_t tiles = _cdiv(g.T, NR), bt, nbk
    cdef double ns = 2.0 * g.N * g.OH * g.OW * g.OC * g.C * 9 * 0.005
    cdef int nt = task_threads(tiles, ns)
    if whole:
        bt = WINO_BLOCK_BYTES // (36 * (g.C + g.cib * MR) * sizeof(floating) * NR)
        nbk = _imin(tiles, _imax(_cdiv(tiles, _imax(1, bt)), 2 * nt))
    else:
        bt = WINO_V_BYTES // (36 * g.C * sizeof(floating) * NR)
        nbk = _cdiv(tiles, _imax(1, bt))
    g.NB = _cdiv(tiles, nbk) * NR
    nbk = _cdiv(g.T, g.NB)
    g.xv = g.C * g.NB + ALIGN
    g.xm = g.cib * MR * g.NB + ALIGN
    cdef Py_ssize_t nch = _cdiv(g.nmb, g.cib)
    if whole:
        nt = task_threads(nbk, ns)
    else:
        nt = task_threads(_imax(nch, 2), ns)
    # per thread: (whole: V,) M, rows, ph, ybuf (, U chunk)
    cdef Py_ssize_t per = _round_up((36 * g.xv if whole else 0) + 36 * g.xm
                                    + g.scr + (0 if whole else g.cib * ublk))
    wsa = np.empty(per * nt + (0 if whole else 36 * g.xv) + 2 * ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *ws0 = &ws[0] + _aligned_offset(ws)
    cdef floating *V = ws0 + per * nt  # shared (U made per call)
    cdef Py_ssize_t t, b, q0, nbt, i, qa, qb, xi
    cdef floating *sc
    if whole:
        with nogil, parallel(num_threads=nt):
            for t in prange(nbk, schedule='dynamic'):
                _wino_task(ks, narrow, &g, t, MR, NR, &x[0, 0, 0, 0], &up[0],
                           bp, &out[0, 0, 0, 0], ws0 + omp_get_thread_num() * per)
        return
    # one parallel region, its steps worksharing loops ending on barriers
    # (as the weight gradient's)
    with nogil, parallel(num_threads=nt):
        sc = ws0 + omp_get_thread_num() * per
        for b in range(nbk):
            q0 = b * g.NB
            nbt = _imin(g.NB, g.T - q0)
            for i in prange(nt, schedule='static'):
                qa = q0 + nbt * i // nt
                qb = q0 + nbt * (i + 1) // nt
                if qb > qa:
                    _wino_in_block(ks, &g, qa, qb - qa, &x[0, 0, 0, 0],
                                   V + (qa - q0), sc + 36 * g.xm,
                                   sc + 36 * g.xm + 6 * g.ldr)
            for xi in prange(36, schedule='static'):
                _zero_cols(V + xi * g.xv, g.C, g.NB, nbt, _cdiv(nbt, NR) * NR)
            for t in prange(nch, schedule='dynamic'):
                _wino_chunk(ks, narrow, &g, q0, nbt, t * g.cib,
                            _imin(g.cib, g.nmb - t * g.cib), MR, NR, V,
                            &w[0, 0, 0, 0], NULL, bp, &out[0, 0, 0, 0], sc,
                            sc + 36 * g.xm + 6 * g.ldr + 36 * g.ldp,
                            sc + 36 * g.xm + g.scr)


# ---------------------------------------------------------------- bwd_data --

cdef void _bwd_data_task(const void *ks, bint narrow, const Geom *g,
                         Py_ssize_t t, Py_ssize_t ncb, Py_ssize_t cbs,
                         Py_ssize_t nblk, Py_ssize_t nb, Py_ssize_t ntile,
                         Py_ssize_t PB, int MR, int NR, const floating *gout,
                         const floating *gq, const floating *wp,
                         floating *gin, floating *bbuf, floating *cbuf,
                         floating *gp) noexcept nogil:
    """Channels [c0, c1) of group gi for images [n0, n0 + nb): for each
    block of PB pixels and each MR-row block of W^T, dcols[MR][PB] =
    W^T . dout, then scattered into the input gradient (only this task
    writes there). With gq, dout comes packed (_pack_gout_tiles): the
    images' pixels end to end in NR-wide panels, so small planes share
    pixel blocks; without it (nb = 1) dout rows are read in place."""
    cdef Py_ssize_t cb = t % ncb, rest = t // ncb
    cdef Py_ssize_t gi = rest % g.G, n0 = (rest // g.G) * nb
    cdef Py_ssize_t nbi = _imin(nb, g.N - n0), npix = nbi * g.P
    cdef Py_ssize_t KHW = g.KH * g.KW
    cdef Py_ssize_t k0 = cb * cbs * KHW
    cdef Py_ssize_t k1 = _imin(g.Cg, (cb + 1) * cbs) * KHW
    cdef Py_ssize_t p0, npb, j0, blk, r0, q0, q1, im, gpn, tail, oc, ldb
    cdef const floating *src
    cdef const floating *bt
    if gq != NULL:
        src = gq + rest * ntile * g.OCg * NR
    else:
        src = gout + (n0 * g.OC + gi * g.OCg) * g.P
    cdef const floating *a = wp + ((gi * ncb + cb) * nblk) * g.OCg * MR
    cdef floating *img = gin + (n0 * g.C + gi * g.Cg) * g.H * g.W
    cdef Region R
    cdef Py_ssize_t c, ih, lo, hi
    # scatter into zero-padded gradients of this task's channels, one per
    # image, then crop them into gin (only this task writes these channels)
    R.c0 = cb * cbs
    R.nc = _imin(g.Cg, (cb + 1) * cbs) - R.c0
    R.r0 = 0
    R.nr = _pad_h(g)
    R.Wp = _pad_w(g)
    R.Wq = _cdiv(R.Wp, g.SW)
    gpn = R.nc * R.nr * _row_len(g)
    cdef bint pw = _pointwise(g)  # dcols rows are gin rows: no scatter
    cdef Py_ssize_t r
    if not pw:
        memset(gp, 0, nbi * gpn * sizeof(floating))
    p0 = 0
    while p0 < npix:
        npb = _imin(PB, npix - p0)
        tail = 0 if gq != NULL else npb % NR
        if tail:  # the tail tile reads a zero-padded copy, never past dout
            j0 = npb - tail
            for oc in range(g.OCg):
                memcpy(bbuf + oc * NR, src + oc * g.P + p0 + j0,
                       tail * sizeof(floating))
            _zero_cols(bbuf, g.OCg, NR, tail, NR)
        for blk in range(nblk):
            r0 = k0 + blk * MR
            if r0 >= k1:
                break
            j0 = 0
            while j0 < npb:
                if gq != NULL:
                    bt, ldb = src + (p0 + j0) * g.OCg, NR
                elif npb - j0 >= NR:
                    bt, ldb = src + p0 + j0, g.P
                else:
                    bt, ldb = bbuf, NR
                if pw and npb - j0 >= NR and k1 - r0 >= MR:
                    # 1x1 (one image per task): a tile of dcols is one of gin
                    _gemm(ks, narrow, g.OCg, a + blk * g.OCg * MR, bt, ldb,
                          img + r0 * g.P + p0 + j0, g.P,
                          <const floating *>NULL, False)
                else:
                    _gemm(ks, narrow, g.OCg, a + blk * g.OCg * MR, bt, ldb,
                          cbuf + j0, PB, <const floating *>NULL, False)
                j0 += NR
            if pw:  # what did not go straight to gin
                if k1 - r0 >= MR:
                    j0 = npb - npb % NR
                else:
                    j0 = 0
                for r in range(_imin(MR, k1 - r0)):
                    memcpy(img + (r0 + r) * g.P + p0 + j0, cbuf + r * PB + j0,
                           (npb - j0) * sizeof(floating))
            else:  # each image's share of the block into its own gradient
                q0 = p0
                while q0 < p0 + npb:
                    im = q0 // g.P
                    q1 = _imin(p0 + npb, (im + 1) * g.P)
                    _cols(gp + im * gpn, &R, g, r0, _imin(MR, k1 - r0),
                          q0 - im * g.P, q1 - q0, cbuf + (q0 - p0), PB, True)
                    q0 = q1
        p0 += PB
    lo = _imin(g.PW, R.Wp)
    hi = _imin(R.Wp, g.PW + g.W)
    if hi > lo and not pw:
        for im in range(nbi):
            for c in range(R.nc):
                for ih in range(_imin(g.H, R.nr - g.PH)):
                    _crop_row(gp + im * gpn + (c * R.nr + ih + g.PH) * _row_len(g),
                              R.Wq, g.SW, lo, hi,
                              img + ((im * g.C + R.c0 + c) * g.H + ih) * g.W - g.PW)


cdef void _crop_row(const floating *src, Py_ssize_t Wq, Py_ssize_t SW,
                    Py_ssize_t lo, Py_ssize_t hi, floating *dst) noexcept nogil:
    """dst[t] = padded column t of a region row stored by phase (Region),
    lo <= t < hi."""
    cdef Py_ssize_t ph, i0, i1, i
    if SW == 1:
        memcpy(dst + lo, src + lo, (hi - lo) * sizeof(floating))
        return
    for ph in range(SW):
        i0 = _cdiv(_imax(lo - ph, 0), SW)
        i1 = _cdiv(_imax(hi - ph, 0), SW)
        for i in range(i0, i1):
            dst[i * SW + ph] = src[ph * Wq + i]


cdef void _pack_gout_tiles(const floating *gout, const Geom *g,
                           Py_ssize_t nb, Py_ssize_t ntile, int NR,
                           Py_ssize_t r, floating *gq) noexcept nogil:
    """Row r (= (image group * G + gi) * OCg + oc) of dout packed for the
    input gradient: the group's nb planes of that channel end to end (the
    last group may have fewer), cut into NR-wide panels laid out panel by
    panel ([group, gi][panel][oc][NR]), zero past the last pixel."""
    cdef Py_ssize_t oc = r % g.OCg, rest = r // g.OCg
    cdef Py_ssize_t gi = rest % g.G, n0 = (rest // g.G) * nb, n
    cdef Py_ssize_t q = 0, p, take, j
    cdef floating *dst = gq + (rest * ntile * g.OCg + oc) * NR
    cdef const floating *src
    for n in range(n0, _imin(g.N, n0 + nb)):
        src = gout + (n * g.OC + gi * g.OCg + oc) * g.P
        p = 0
        while p < g.P:
            j = q % NR
            take = _imin(g.P - p, NR - j)
            memcpy(dst + (q // NR) * g.OCg * NR + j, src + p,
                   take * sizeof(floating))
            p += take
            q += take
    if q % NR:
        memset(dst + (q // NR) * g.OCg * NR + q % NR, 0,
               (NR - q % NR) * sizeof(floating))


def conv2d_bwd_data(const floating[:, :, :, ::1] gout,
                    const floating[:, :, :, ::1] w, floating[:, :, :, ::1] gin,
                    Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw,
                    Py_ssize_t dh, Py_ssize_t dw, Py_ssize_t groups,
                    dict packed=None):
    """gin = conv_transpose(gout, w); gin is (N, C, H, W), fully
    overwritten (the direct path writes what its windows reach and zeroes
    the rest; Winograd and the depthwise taps write every pixel).

    `packed`: optional dict the caller keeps for one version of `w` (cleared
    when w changes); packed layouts are kept there under a key naming the
    pass, kernel set and tiling, and reused on later calls."""
    cdef Geom g = _geom(gin.shape[0], gin.shape[1], gin.shape[2],
                        gin.shape[3], w.shape[0], w.shape[2], w.shape[3],
                        gout.shape[2], gout.shape[3], sh, sw, ph, pw, dh, dw,
                        groups)
    if g.N == 0 or g.C == 0:
        return
    if g.Cg == 1 and g.G == g.C and g.G > 1:
        _dw_bwd_data(gout, w, gin, &g)
        return
    if _wino_bwd_data(&g):
        _wino_conv(gout, w, None, gin, 2 * g.DH - g.PH, 2 * g.DW - g.PW,
                   g.DH, g.DW, True, packed)
        return
    if _pad_h(&g) < g.PH + g.H or _pad_w(&g) < g.PW + g.W:
        # the tasks crop their windows' reach into gin: zero what it misses
        with nogil:
            memset(&gin[0, 0, 0, 0], 0, g.N * g.C * g.H * g.W * sizeof(floating))
    cdef const void *ks = _kset(<floating>0)
    cdef int MR, MR2, NR, dmr, dnr, dvl, dpl
    _tile_dims(ks, &MR, &MR2, &NR, &dmr, &dnr, &dvl, &dpl, floating is float)
    cdef Py_ssize_t KHW = g.KH * g.KW
    cdef bint narrow = _use_narrow(g.Cg * KHW, g.OCg, MR, MR2, NR, dvl)
    if narrow:
        MR = MR2
    dtype = np.float32 if floating is float else np.float64
    # images per task: planes smaller than BWD_DATA_PIX pixels are grouped
    # (their dout packed end to end) so that pixel blocks hold enough tiles
    # and each weight slice serves several images; 1x1 keeps one image
    cdef Py_ssize_t nb = 1, ngr
    if g.P < BWD_DATA_PIX and not _pointwise(&g):
        nb = _cdiv(g.N, _cdiv(g.N * g.P, BWD_DATA_PIX))
    ngr = _cdiv(g.N, nb)
    # channel blocks: enough tasks for any machine, a function of the shape
    cdef Py_ssize_t ncb = _imin(g.Cg, _cdiv(MIN_TASKS, ngr * g.G))
    cdef Py_ssize_t cbs = _cdiv(g.Cg, ncb)
    ncb = _cdiv(g.Cg, cbs)
    cdef Py_ssize_t nblk = _cdiv(cbs * KHW, MR)
    key = ("bwd_data", <uintptr_t>ks, MR, ncb, cbs, nblk)
    wpa = None if packed is None else packed.get(key)
    cdef floating[::1] wp
    cdef Py_ssize_t pb
    cdef int pnt
    if wpa is None:
        wpa = np.empty(g.G * ncb * nblk * g.OCg * MR, dtype=dtype)
        wp = wpa
        pnt = task_threads(g.G * ncb, 0.5 * wpa.size)
        with nogil:
            for pb in prange(g.G * ncb, num_threads=pnt, schedule='static'):
                _pack_wt(&w[0, 0, 0, 0], &g, ncb, cbs * KHW, nblk, MR, pb,
                         &wp[0])
        if packed is not None:
            packed[key] = wpa
    wp = wpa
    cdef Py_ssize_t ntasks = ngr * g.G * ncb
    cdef int nt = task_threads(ntasks, _gemm_ns(&g))
    # pixel blocks sized so one MR x PB block of dcols stays in L1/L2
    cdef Py_ssize_t ntile = _cdiv(nb * g.P, NR)
    cdef Py_ssize_t PB = NR * _imax(1, _imin(ntile, 32))
    cdef Py_ssize_t gpn = _round_up(nb * cbs * _pad_h(&g) * _row_len(&g))
    cdef Py_ssize_t per = _round_up(g.OCg * NR) + _round_up(MR * PB) + gpn
    wsa = np.empty(per * nt + ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *ws0 = &ws[0] + _aligned_offset(ws)
    # dout packed in panels when images are grouped, or when W^T has rows
    # enough (BWD_DATA_PANEL_K) that its MR-row blocks re-read each tile
    # often: then contiguous panels beat strided rows read in place
    cdef floating[::1] gqv
    cdef floating *gq = NULL
    cdef Py_ssize_t t
    cdef floating *bbuf
    if nb > 1 or g.K >= BWD_DATA_PANEL_K:
        gqv = np.empty(ngr * g.OC * ntile * NR + ALIGN, dtype=dtype)
        gq = &gqv[0] + _aligned_offset(gqv)
        with nogil, parallel(num_threads=nt):
            for t in prange(ngr * g.OC, schedule='static'):
                _pack_gout_tiles(&gout[0, 0, 0, 0], &g, nb, ntile, NR, t, gq)
    with nogil, parallel(num_threads=nt):
        bbuf = ws0 + omp_get_thread_num() * per
        for t in prange(ntasks, schedule='dynamic'):
            _bwd_data_task(ks, narrow, &g, t, ncb, cbs, nblk, nb, ntile, PB,
                           MR, NR, &gout[0, 0, 0, 0], gq, &wp[0],
                           &gin[0, 0, 0, 0], bbuf, bbuf + _round_up(g.OCg * NR),
                           bbuf + _round_up(g.OCg * NR) + _round_up(MR * PB))


# ------------------------------------------------------------- bwd_weights --

cdef inline void _dot(const void *ks, Py_ssize_t l, const floating *a,
                      Py_ssize_t lda, const floating *b, Py_ssize_t ldb,
                      floating *c) noexcept nogil:
    if floating is float:
        (<const cc_f32_kernels *>ks).dot(l, a, lda, b, ldb, c)
    else:
        (<const cc_f64_kernels *>ks).dot(l, a, lda, b, ldb, c)


cdef void _bwd_weights_task(const void *ks, const Geom *g, Py_ssize_t t,
                            Py_ssize_t nkb, Py_ssize_t KT, Py_ssize_t S,
                            Py_ssize_t PC, int DMR, int DNR, int DVL,
                            int DPL,
                            const floating *gout, const floating *x,
                            floating *part, floating *abuf, floating *bbuf,
                            floating *vbuf, floating *xp,
                            floating *cbuf, const floating *gq,
                            Py_ssize_t Qp) noexcept nogil:
    """One task of the weight gradient: output-channel rows of group gi,
    k columns [k0, k0 + kt), pixels of split s. Its sums gather in cbuf
    (mp x ktp, L2-sized) and are stored to part[s] once at the end, row
    by row: read-modify-writes scattered over the whole of part missed
    the cache once per line (about a third of the time on resnet_3x3_7).
    gq, when not NULL, holds dout packed once per call (_pack_gout), so
    chunks that cross images read it in place instead of copying it."""
    cdef Py_ssize_t s = t % S, rest = t // S
    cdef Py_ssize_t kb = rest % nkb, gi = rest // nkb
    cdef Py_ssize_t k0 = kb * KT, kt = _imin(KT, g.K - k0)
    cdef Py_ssize_t ktp = _cdiv(kt, DNR) * DNR
    cdef Py_ssize_t mp = _cdiv(g.OCg, DMR) * DMR
    cdef Py_ssize_t Q = g.N * g.P, nch = _cdiv(Q, PC)
    cdef Py_ssize_t ch0 = s * nch // S, ch1 = (s + 1) * nch // S
    cdef Py_ssize_t ch, q0, q1, q, n, p, seg, lpad, oc, ob, jb
    cdef floating *v
    # lane partials of all the task's tiles stay in a buffer across chunks
    # (horizontal sums once per task) when it fits in L2 and there is more
    # than one chunk; otherwise each call's tile is summed right away
    cdef bint whole = (ch1 - ch0 > 1
                       and mp * ktp * DPL * sizeof(floating) <= VBUF_BYTES)
    cdef const floating *a
    cdef const floating *b
    cdef Py_ssize_t lda, ldb
    cdef Region R
    memset(cbuf, 0, mp * ktp * sizeof(floating))
    if whole:
        memset(vbuf, 0, mp * ktp * DPL * sizeof(floating))
    # padding rows stay zero for the whole task
    if mp > g.OCg:
        memset(abuf + g.OCg * PC, 0, (mp - g.OCg) * PC * sizeof(floating))
    if ktp > kt:
        memset(bbuf + kt * PC, 0, (ktp - kt) * PC * sizeof(floating))
    for ch in range(ch0, ch1):
        q0 = ch * PC
        q1 = _imin(Q, q0 + PC)
        lpad = _cdiv(q1 - q0, DVL) * DVL
        n = q0 // g.P
        p = q0 - n * g.P
        if mp == g.OCg and lpad == q1 - q0 and p + lpad <= g.P:
            # the chunk is whole vectors inside one image: dout rows in place
            a = gout + (n * g.OC + gi * g.OCg) * g.P + p
            lda = g.P
            if _pointwise(g) and ktp == kt:  # the columns are input rows
                b = x + (n * g.C + gi * g.Cg + k0) * g.P + p
                ldb = g.P
            else:
                b = bbuf
                ldb = PC
                R = _region(g, k0, kt, p, lpad)
                _pad_region(x + (n * g.C + gi * g.Cg) * g.H * g.W, g, &R, xp)
                _cols(xp, &R, g, k0, kt, p, lpad, bbuf, PC, False)
        else:
            if gq != NULL:
                a = gq + gi * mp * Qp + q0
                lda = Qp
            else:
                a = abuf
                lda = PC
            b = bbuf
            ldb = PC
            q = q0
            while q < q1:  # one image at a time
                n = q // g.P
                p = q - n * g.P
                seg = _imin(g.P - p, q1 - q)
                if gq == NULL:
                    for oc in range(g.OCg):
                        memcpy(abuf + oc * PC + (q - q0),
                               gout + (n * g.OC + gi * g.OCg + oc) * g.P + p,
                               seg * sizeof(floating))
                R = _region(g, k0, kt, p, seg)
                _pad_region(x + (n * g.C + gi * g.Cg) * g.H * g.W, g, &R, xp)
                _cols(xp, &R, g, k0, kt, p, seg, bbuf + (q - q0), PC, False)
                q += seg
            if gq == NULL:
                _zero_cols(abuf, g.OCg, PC, q1 - q0, lpad)
            _zero_cols(bbuf, kt, PC, q1 - q0, lpad)
        # B rows (this k block) stay in L1 while the dout rows stream by
        for jb in range(ktp // DNR):
            for ob in range(mp // DMR):
                if whole:
                    v = vbuf + (ob * (ktp // DNR) + jb) * DMR * DNR * DPL
                else:
                    v = vbuf
                    memset(v, 0, DMR * DNR * DPL * sizeof(floating))
                _dot(ks, lpad, a + ob * DMR * lda, lda, b + jb * DNR * ldb,
                     ldb, v)
                if not whole:
                    _hsum_tile(v, DMR, DNR, DPL,
                               cbuf + ob * DMR * ktp + jb * DNR, ktp)
    if whole:
        for ob in range(mp // DMR):
            for jb in range(ktp // DNR):
                _hsum_tile(vbuf + (ob * (ktp // DNR) + jb) * DMR * DNR * DPL,
                           DMR, DNR, DPL, cbuf + ob * DMR * ktp + jb * DNR,
                           ktp)
    _copy_tile(cbuf, ktp, part + (s * g.OC + gi * g.OCg) * g.K + k0, g.K,
               g.OCg, kt)


cdef void _bwd_weights_gemm_task(const void *ks, bint narrow, const Geom *g,
                                 Py_ssize_t t, Py_ssize_t nkb, Py_ssize_t KT,
                                 Py_ssize_t S, Py_ssize_t PC, int MR, int NR,
                                 const floating *gout, const floating *x,
                                 floating *part, floating *ap, floating *at,
                                 floating *bt, floating *bbuf, floating *xp,
                                 floating *cbuf) noexcept nogil:
    """One task of the weight gradient with the gemm kernel, the same task
    split as _bwd_weights_task: per chunk of pixels (k of the product) the
    dout rows are packed into MR-row panels (ap, [ob][pixel][MR]) and the
    column rows transposed into bt (pixel rows of ktp values), then every
    MR x NR tile of the task's sums (cbuf, mp x ktp) adds the chunk's
    products. Chunks in order, each tile summed in increasing pixel: the
    bits never depend on the threads."""
    cdef Py_ssize_t s = t % S, rest = t // S
    cdef Py_ssize_t kb = rest % nkb, gi = rest // nkb
    cdef Py_ssize_t k0 = kb * KT, kt = _imin(KT, g.K - k0)
    cdef Py_ssize_t ktp = _cdiv(kt, NR) * NR
    cdef Py_ssize_t nob = _cdiv(g.OCg, MR), mp = nob * MR
    cdef Py_ssize_t Q = g.N * g.P, nch = _cdiv(Q, PC)
    cdef Py_ssize_t ch0 = s * nch // S, ch1 = (s + 1) * nch // S
    # bt's rows one line more than whole lines apart: the rows of a panel
    # spread over the cache sets (a power-of-two stride kept it out of L1)
    cdef Py_ssize_t ldb = _round_up(ktp) + ALIGN
    cdef Py_ssize_t ch, q0, q1, lc, q, n, p, seg, ob, jb, m
    cdef bint pw = _pointwise(g)
    cdef Region R
    # columns past OCg and kt stay zero for the whole task
    _zero_cols(at, PC, mp, g.OCg, mp)
    _zero_cols(bt, PC, ldb, kt, ktp)
    for ch in range(ch0, ch1):
        q0 = ch * PC
        q1 = _imin(Q, q0 + PC)
        lc = q1 - q0
        q = q0
        while q < q1:  # one image at a time
            n = q // g.P
            p = q - n * g.P
            seg = _imin(g.P - p, q1 - q)
            _transpose(gout + (n * g.OC + gi * g.OCg) * g.P + p, g.P, g.OCg,
                       seg, at + (q - q0) * mp, mp)
            if pw:  # the columns are input rows
                _transpose(x + (n * g.C + gi * g.Cg + k0) * g.P + p, g.P, kt,
                           seg, bt + (q - q0) * ldb, ldb)
            else:
                R = _region(g, k0, kt, p, seg)
                _pad_region(x + (n * g.C + gi * g.Cg) * g.H * g.W, g, &R, xp)
                _cols(xp, &R, g, k0, kt, p, seg, bbuf, PC, False)
                _transpose(bbuf, PC, kt, seg, bt + (q - q0) * ldb, ldb)
            q += seg
        for ob in range(nob):  # dout^T into MR-column panels
            for q in range(lc):
                for m in range(MR):
                    ap[(ob * lc + q) * MR + m] = at[q * mp + ob * MR + m]
        # one NR-column panel of bt stays in L1 while dout's panels stream
        for jb in range(ktp // NR):
            for ob in range(nob):
                _gemm(ks, narrow, lc, ap + ob * lc * MR, bt + jb * NR, ldb,
                      cbuf + ob * MR * ktp + jb * NR, ktp, NULL, ch > ch0)
    _copy_tile(cbuf, ktp, part + (s * g.OC + gi * g.OCg) * g.K + k0, g.K,
               g.OCg, kt)


cdef void _wgrad_tasks(const Geom *g, Py_ssize_t width, int unit,
                       Py_ssize_t PC, Py_ssize_t *KT, Py_ssize_t *nkb,
                       Py_ssize_t *S) noexcept nogil:
    """The weight gradient's task split: k blocks of at most `width`
    columns in whole `unit`s, balanced (a nearly empty last block would
    cost as much as a full one), and S splits of the pixel range (chunks of
    PC) so that the call has MIN_TASKS tasks when it can: a function of the
    shape, never of the threads."""
    nkb[0] = _cdiv(g.K, width)
    KT[0] = _cdiv(_cdiv(g.K, nkb[0]), unit) * unit
    nkb[0] = _cdiv(g.K, KT[0])
    S[0] = _imax(1, _imin(_cdiv(g.N * g.P, PC),
                          _cdiv(MIN_TASKS, g.G * nkb[0])))


cdef inline bint _direct_wgrad_gemm(const Geom *g) noexcept nogil:
    """The direct weight gradient's kernel: gemm for products of at least
    WGRAD_GEMM_MIN entries whose columns are input rows (1x1) or which have
    128 output channels or more (fewer, and transposing the built columns
    costs more than it saves: 1 thread, AVX2, medians of 9, gemm/dot
    resnet50_1x1_56 1.69x, resnet_3x3s2_56 1.08x, dilated_3x3_d2_28 1.03x;
    cifar_3x3_c64 0.85x, resnet_stem_7x7s2 0.93x, lenet_c3 0.87x)."""
    return (g.OCg * g.K >= WGRAD_GEMM_MIN
            and (_pointwise(g) or g.OCg >= 128))


# ------------------------------------ weight gradient, implicit GEMM --
# dW^T[K, OCg] = sum over the batch's pixels of cols[K, p] dout^T[p, OCg],
# the columns read in place (gemma) from each image's phase copy (as the
# forward's implicit GEMM: pixel p = oh * Wq + ow, the extra columns' dout
# rows zero). Images go to WGRAD_SLOTS fixed slots (image n to slot n % S),
# each slot's images summed in order into its own part, the parts added in
# order: the bits never depend on the threads.
cdef enum:
    WGRAD_SLOTS = 8
    # the most bytes of parts it keeps (fewer slots past it)
    WGRAD_PART_BYTES = 4 * 1024 * 1024

cdef int _force_wgrad_implicit = -1


def _set_wgrad_implicit(value):
    """Tests and benchmarks: the direct weight gradient reads its columns
    in place (True: wherever it applies), never (False), or as the rule
    says (None)."""
    global _force_wgrad_implicit
    _force_wgrad_implicit = -1 if value is None else int(bool(value))


cdef inline Py_ssize_t _wgrad_slots(const Geom *g, int MR, int NR,
                                    Py_ssize_t esize) noexcept nogil:
    cdef Py_ssize_t part = (g.G * _cdiv(g.K, MR) * MR * _cdiv(g.OCg, NR) * NR
                            * esize)
    return _imax(1, _imin(_imin(g.N, WGRAD_SLOTS), WGRAD_PART_BYTES // part))


cdef bint _wgrad_implicit(const Geom *g, const IGeom *q, int MR, int NR,
                          Py_ssize_t esize) noexcept nogil:
    """Whether the direct weight gradient reads its columns in place: where
    _implicit_fits, with dout^T within IMPLICIT_BYTES too and at least 128
    output channels per group:
    dout^T's rows are padded to NR columns, and fewer channels ran slower
    than the packed paths. Whatever the threads (the slots set the sums).
    Measured, 1 thread, AVX-512, medians of 12, packed -> implicit:
    resnet_3x3s2_56 1.18x, resnet_stem_7x7s2 0.99x (64 channels),
    cifar_3x3_c32 0.78x (32), lenet_c3 0.70x (16)."""
    if _pointwise(g):
        return False
    if _force_wgrad_implicit >= 0:
        return _force_wgrad_implicit == 1
    return (_implicit_fits(g, q, esize) and g.OCg >= 128
            and g.OH * q.Wq * _cdiv(g.OCg, NR) * NR * esize <= IMPLICIT_BYTES)


cdef void _wgrad_implicit_task(const void *ks, bint narrow, const Geom *g,
                               const IGeom *q, Py_ssize_t t, Py_ssize_t S,
                               int MR, int NR, Py_ssize_t ldb,
                               const floating *gout, const floating *x,
                               const ptrdiff_t *aoff, floating *part,
                               floating *xq, floating *gt,
                               floating *tmp) noexcept nogil:
    """Slot s = t // G, group gi = t % G: images s, s + S, ... summed into
    part (Kp rows x ldb): per image its phase copy and dout^T (gt: a row
    per computed pixel, zero past OW and past OCg), then every MR-row block
    of K against every NR column block of dout^T over the image's pixels."""
    cdef Py_ssize_t s = t // g.G, gi = t - s * g.G
    cdef Py_ssize_t Pv = g.OH * q.Wq, Kp = _cdiv(g.K, MR) * MR, n, oh, kb, ob
    cdef bint first = True
    memset(gt, 0, Pv * ldb * sizeof(floating))
    n = s
    while n < g.N:
        _phase_copy(x + (n * g.C + gi * g.Cg) * g.H * g.W, g, q, xq, tmp)
        for oh in range(g.OH):
            _transpose(gout + ((n * g.OC + gi * g.OCg) * g.OH + oh) * g.OW, g.P,
                       g.OCg, g.OW, gt + oh * q.Wq * ldb, ldb)
        for kb in range(Kp // MR):
            for ob in range(ldb // NR):
                _gemma(ks, narrow, Pv, xq, aoff + kb * MR, gt + ob * NR, ldb,
                       part + kb * MR * ldb + ob * NR, ldb, not first)
        first = False
        n += S


cdef object _bwd_weights_implicit(const floating[:, :, :, ::1] gout,
                                  const floating[:, :, :, ::1] x, weight_shape,
                                  const Geom *g, const IGeom *q, const void *ks,
                                  int MR, int MR2, int NR, int VL):
    """dW with the columns read in place (see above)."""
    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t Pv = g.OH * q.Wq
    cdef bint narrow = _use_narrow(g.K, Pv, MR, MR2, NR, VL)
    if narrow:
        MR = MR2
    cdef Py_ssize_t Kp = _cdiv(g.K, MR) * MR, ldb = _cdiv(g.OCg, NR) * NR
    cdef Py_ssize_t S = _wgrad_slots(g, MR, NR, sizeof(floating))
    cdef ptrdiff_t[::1] ao = _column_offsets(g, q, Kp)
    parta = np.empty((S, g.G, Kp, ldb), dtype=dtype)
    cdef floating[:, :, :, ::1] part = parta
    cdef Py_ssize_t ntasks = S * g.G
    cdef int nt = task_threads(ntasks, _gemm_ns(g))
    cdef Py_ssize_t gtn = _round_up(Pv * ldb)
    cdef Py_ssize_t per = q.xqn + gtn + _round_up(g.SW * q.Wq)
    wsa = np.empty(per * nt + ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *ws0 = &ws[0] + _aligned_offset(ws)
    cdef floating *xq
    cdef Py_ssize_t t
    with nogil, parallel(num_threads=nt):
        xq = ws0 + omp_get_thread_num() * per
        for t in prange(ntasks, schedule='dynamic'):
            _wgrad_implicit_task(ks, narrow, g, q, t, S, MR, NR, ldb,
                                 &gout[0, 0, 0, 0], &x[0, 0, 0, 0], &ao[0],
                                 &part[t // g.G, t % g.G, 0, 0], xq, xq + q.xqn,
                                 xq + q.xqn + gtn)
    gw = parta[0] if S == 1 else parta.sum(axis=0)  # (G, Kp, ldb), in order
    gw = np.ascontiguousarray(gw[:, :g.K, :g.OCg].transpose(0, 2, 1))
    return gw.reshape(weight_shape)


# ------------------------------------ weight gradient, pixel rows --
# dW^T[K, OCg] by the forward's pixel-rows ukernel with the roles of its two
# offset tables swapped (its rows are taps, at their column offsets; its k
# runs over the image's real pixels, at theirs; b = dout^T, a row per output
# pixel): no extra columns; channel blocks NR wide, or MRH x NR / 2 for few
# channels. Images go to the implicit GEMM's fixed slots: the bits never
# depend on the threads.
cdef int _force_wgrad_pixels = -1
cdef enum:
    # pixels of an image a weight-gradient step takes (its dout^T rows)
    WGRAD_PIX_CHUNK = 1024


def _set_wgrad_pixels(value):
    """Tests and benchmarks: the direct weight gradient runs pixel rows
    (True: wherever it applies), never (False), or as the rule says
    (None)."""
    global _force_wgrad_pixels
    _force_wgrad_pixels = -1 if value is None else int(bool(value))


cdef bint _wgrad_pixels(const Geom *g, int NR, Py_ssize_t esize,
                        bint implicit) noexcept nogil:
    """Whether the direct weight gradient runs pixel rows: where they
    apply (_pixels_apply); by the rule, on strided layers and where the
    implicit GEMM does not take the layer (`implicit`: its rule's answer),
    with at least NR / 4 output channels a group (the vectors at least half
    full) and K >= 32. Whatever the threads (the slots set the sums).
    Measured, 1 thread, AVX-512, medians of 21, against the rule's other
    paths: lenet_c3 1.8x, resnet_stem_7x7s2 1.09-1.13x, 5x5 and 7x7 layers
    with 8-96 channels 1.07-1.8x, 3x3 stride-2 layers with 16 and 64
    channels 1.28-1.34x, and with 128 and 256 against the implicit GEMM
    (resnet_3x3s2_56) 1.08x and 1.13x; lenet_c1 (6 channels, K = 25)
    0.78x, cifar_3x3_c32 (K = 27) 0.96x."""
    if not _pixels_apply(g, esize):
        return False
    if _force_wgrad_pixels >= 0:
        return _force_wgrad_pixels == 1
    return ((not implicit or g.SH > 1 or g.SW > 1) and 4 * g.OCg >= NR
            and g.K >= 32)


cdef void _wgrad_pix_task(const void *ks, const Geom *g,
                          const PGeom *pg, Py_ssize_t t, Py_ssize_t S,
                          Py_ssize_t Kp, const floating *gout,
                          const floating *x, const ptrdiff_t *koff,
                          const ptrdiff_t *poff, floating *part, floating *xq,
                          floating *gt) noexcept nogil:
    """Slot s = t // G, group gi = t % G: images s, s + S, ... summed into
    part (Kp rows x ocp): per image its phase copy (or x itself), then
    chunk by chunk of its pixels (WGRAD_PIX_CHUNK, in order: the same sums
    whatever the chunking) dout^T (gt: a width-wide block of chunk rows per
    channel block, zero past OCg) and every MR-tap block against every
    channel block."""
    cdef Py_ssize_t s = t // g.G, gi = t - s * g.G, n, kb, ob, p0, npc, w
    cdef Py_ssize_t pc = _imin(g.P, WGRAD_PIX_CHUNK)
    cdef const floating *xi
    cdef bint first = True
    memset(gt, 0, pg.nob * pc * pg.width * sizeof(floating))
    n = s
    while n < g.N:
        if pg.inplace:
            xi = x + (n * g.C + gi * g.Cg) * g.H * g.W
        else:
            _pix_copy(x + (n * g.C + gi * g.Cg) * g.H * g.W, g, pg, xq)
            xi = xq
        p0 = 0
        while p0 < g.P:
            npc = _imin(pc, g.P - p0)
            for ob in range(pg.nob):
                w = _imin(pg.width, g.OCg - ob * pg.width)
                _transpose(gout + (n * g.OC + gi * g.OCg + ob * pg.width) * g.P + p0,
                           g.P, w, npc, gt + ob * pc * pg.width, pg.width)
            for kb in range(Kp // pg.mr):
                for ob in range(pg.nob):
                    _gemmp(ks, pg.half, npc, xi, koff + kb * pg.mr, poff + p0,
                           gt + ob * pc * pg.width,
                           part + kb * pg.mr * pg.ocp + ob * pg.width, pg.ocp,
                           NULL, not first)
            first = False
            p0 += pc
        n += S


cdef object _bwd_weights_pixels(const floating[:, :, :, ::1] gout,
                                const floating[:, :, :, ::1] x, weight_shape,
                                const Geom *g, const void *ks, int MR, int NR):
    """dW by pixel rows (see above)."""
    dtype = np.float32 if floating is float else np.float64
    cdef PGeom pg = _pgeom(g, ks, MR, NR, sizeof(floating), 1)
    cdef Py_ssize_t Kp = _cdiv(g.K, pg.mr) * pg.mr
    cdef Py_ssize_t S = _imax(1, _imin(_imin(g.N, WGRAD_SLOTS), WGRAD_PART_BYTES
                                       // (g.G * Kp * pg.ocp * sizeof(floating))))
    cdef ptrdiff_t[::1] ko = _pix_offsets(g, &pg, Kp)
    poa = np.empty(g.P, dtype=np.intp)
    cdef ptrdiff_t[::1] po = poa
    cdef Py_ssize_t oh, ow
    for oh in range(g.OH):
        for ow in range(g.OW):
            po[oh * g.OW + ow] = oh * g.SH * pg.rs + ow * g.SW
    parta = np.empty((S, g.G, Kp, pg.ocp), dtype=dtype)
    cdef floating[:, :, :, ::1] part = parta
    cdef Py_ssize_t ntasks = S * g.G, t
    cdef int nt = task_threads(ntasks, _gemm_ns(g))
    cdef Py_ssize_t nxq = 0 if pg.inplace else pg.xqs
    cdef Py_ssize_t gtn = _round_up(pg.nob * _imin(g.P, WGRAD_PIX_CHUNK) * pg.width)
    cdef Py_ssize_t per = nxq + gtn
    wsa = np.empty(per * nt + ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *ws0 = &ws[0] + _aligned_offset(ws)
    cdef floating *buf
    with nogil, parallel(num_threads=nt):
        buf = ws0 + omp_get_thread_num() * per
        for t in prange(ntasks, schedule='dynamic'):
            _wgrad_pix_task(ks, g, &pg, t, S, Kp, &gout[0, 0, 0, 0],
                            &x[0, 0, 0, 0], &ko[0], &po[0],
                            &part[t // g.G, t % g.G, 0, 0], buf, buf + nxq)
    gw = parta[0] if S == 1 else parta.sum(axis=0)  # (G, Kp, ocp), in order
    gw = np.ascontiguousarray(gw[:, :g.K, :g.OCg].transpose(0, 2, 1))
    return gw.reshape(weight_shape)


cdef object _bwd_weights_gemm(const floating[:, :, :, ::1] gout,
                              const floating[:, :, :, ::1] x, weight_shape,
                              const Geom *g, const void *ks, int MR, int MR2,
                              int NR, int VL):
    """dW by the gemm kernel: tasks of (group, k block, pixel split), each
    summing its tile of dW over its chunks (_bwd_weights_gemm_task) into
    its own part; the parts added in a fixed order."""
    dtype = np.float32 if floating is float else np.float64
    cdef bint narrow = _use_narrow(g.OCg, _imin(WGRAD_GEMM_PC, g.N * g.P), MR,
                                   MR2, NR, VL)
    if narrow:
        MR = MR2
    cdef Py_ssize_t Q = g.N * g.P
    cdef Py_ssize_t PC = _imin(WGRAD_GEMM_PC, Q)
    cdef Py_ssize_t mp = _cdiv(g.OCg, MR) * MR
    # k blocks as wide as L2 holds beside the chunk's dout panels: the
    # transposed columns and, where they are built, the column rows
    cdef Py_ssize_t kfit = (
        (<Py_ssize_t>(WGRAD_L2_BYTES // sizeof(floating)) - mp * PC)
        // (PC * (1 if _pointwise(g) else 2)))
    cdef Py_ssize_t KT, nkb, S
    _wgrad_tasks(g, _imax(NR, kfit // NR * NR), NR, PC, &KT, &nkb, &S)
    parta = np.empty((S, g.OC, g.K), dtype=dtype)  # each task stores its part
    cdef floating[:, :, ::1] part = parta
    cdef Py_ssize_t ntasks = g.G * nkb * S
    cdef int nt = task_threads(ntasks, _gemm_ns(g))
    cdef Py_ssize_t apn = _round_up(mp * PC), btn = PC * (_round_up(KT) + ALIGN)
    cdef Py_ssize_t bbn = 0 if _pointwise(g) else _round_up(KT * PC)
    cdef Py_ssize_t xpn = 0 if _pointwise(g) else _round_up(_region_size(g, KT, PC))
    cdef Py_ssize_t per = 2 * apn + btn + bbn + xpn + _round_up(mp * KT)
    wsa = np.empty(per * nt + ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *ws0 = &ws[0] + _aligned_offset(ws)
    cdef floating *ap
    cdef Py_ssize_t t
    with nogil, parallel(num_threads=nt):
        ap = ws0 + omp_get_thread_num() * per
        for t in prange(ntasks, schedule='dynamic'):
            _bwd_weights_gemm_task(ks, narrow, g, t, nkb, KT, S, PC, MR, NR,
                                   &gout[0, 0, 0, 0], &x[0, 0, 0, 0],
                                   &part[0, 0, 0], ap, ap + apn,
                                   ap + 2 * apn, ap + 2 * apn + btn,
                                   ap + 2 * apn + btn + bbn,
                                   ap + 2 * apn + btn + bbn + xpn)
    gw = parta[0] if S == 1 else parta.sum(axis=0)
    return gw.reshape(weight_shape)


cdef void _pack_gout(const floating *gout, const Geom *g, Py_ssize_t mp,
                     Py_ssize_t Qp, Py_ssize_t r, floating *gq) noexcept nogil:
    """Row r (= gi * mp + oc) of dout packed for the weight gradient: the
    batch's planes of that channel end to end, zero past Q and in the
    rows that pad OCg up to mp."""
    cdef Py_ssize_t gi = r // mp, oc = r - gi * mp, n
    cdef floating *dst = gq + r * Qp
    if oc >= g.OCg:
        memset(dst, 0, Qp * sizeof(floating))
        return
    for n in range(g.N):
        memcpy(dst + n * g.P, gout + (n * g.OC + gi * g.OCg + oc) * g.P,
               g.P * sizeof(floating))
    memset(dst + g.N * g.P, 0, (Qp - g.N * g.P) * sizeof(floating))


cdef void _hsum_tile(const floating *v, int DMR, int DNR, int DPL,
                     floating *c, Py_ssize_t ldc, bint add=True) noexcept nogil:
    """c[m*ldc + j] += (or, not add: =) the DPL partials of tile entry
    (m, j), added in order (a fixed order: the bits never depend on the
    threads)."""
    cdef Py_ssize_t m, j, i
    cdef floating acc
    for m in range(DMR):
        for j in range(DNR):
            acc = 0
            for i in range(DPL):
                acc = acc + v[(m * DNR + j) * DPL + i]
            if add:
                c[m * ldc + j] += acc
            else:
                c[m * ldc + j] = acc


cdef void _wino_gout_block(const void *ks, const WGeom *g, Py_ssize_t q0,
                           Py_ssize_t nbt, Py_ssize_t oc0, Py_ssize_t oc1,
                           const floating *gout, floating *D, Py_ssize_t ldd,
                           floating *rows, floating *ph) noexcept nogil:
    """D[xi*ldd + (oc - oc0)*NB + q - q0] = (A dy A^T)[xi] of tile q's
    channel oc of the output gradient, q0 <= q < q0 + nbt, oc0 <= oc <
    oc1 (D at the block's column 0): per group of tile-row segments
    (_wgroup; their 4x4 tiles do not overlap, so the segments' rows lie side
    by side in rows, 16 * ldp) and channel, the group at once (ph: 16 *
    ldp)."""
    cdef Py_ssize_t ldr = 4 * g.ldp
    cdef Py_ssize_t q, qg, tot, n, th, tw, seg, oc, r, oh, ncol, base, hp, wp
    cdef Py_ssize_t end
    cdef floating *dst
    qg = q0
    while qg < q0 + nbt:
        tot = _wgroup(g, qg, q0 + nbt)
        end = 4 * _cdiv(tot, g.vl) * g.vl  # what the transform reads
        for oc in range(oc0, oc1):
            q = qg
            while q < qg + tot:
                seg = _wseg(g, q, qg + tot, &n, &th, &tw)
                base = _wphase(g, n, g.OC, g.OH, g.OW, &hp, &wp, NULL, NULL)
                ncol = _imax(0, _imin(4 * seg, wp - 4 * tw))
                for r in range(4):
                    oh = 4 * th + r
                    dst = rows + r * ldr + 4 * (q - qg)
                    if oh >= hp or ncol == 0:
                        memset(dst, 0, 4 * seg * sizeof(floating))
                    else:
                        _gather(dst, gout + base + (oc * g.OH + g.DH * oh) * g.OW
                                + g.DW * 4 * tw, ncol, g.DW)
                        memset(dst + ncol, 0, (4 * seg - ncol) * sizeof(floating))
                q += seg
            for r in range(4):
                memset(rows + r * ldr + 4 * tot, 0, (end - 4 * tot) * sizeof(floating))
            if floating is float:
                (<const cc_f32_kernels *>ks).wino_gout(
                    tot, rows, ldr, ph, D + (oc - oc0) * g.NB + (qg - q0), ldd)
            else:
                (<const cc_f64_kernels *>ks).wino_gout(
                    tot, rows, ldr, ph, D + (oc - oc0) * g.NB + (qg - q0), ldd)
        qg += tot


cdef int _wgrad_gemm = -1


def _set_wgrad_gemm(value):
    """Tests and benchmarks: the weight gradient (direct and Winograd)
    reduces with the gemm kernel (True), the dot kernel (False), or as the
    rules say (None)."""
    global _wgrad_gemm
    _wgrad_gemm = -1 if value is None else int(bool(value))


cdef _wino_wgrad(const floating[:, :, :, ::1] gout,
                 const floating[:, :, :, ::1] x, Py_ssize_t ph,
                 Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw):
    """dW (OC, C, 3, 3) of a 3x3 stride-1 layer (padding (ph, pw), dilation
    (dh, dw): the tiles of its phase images) by Winograd F(4x4, 3x3):
    dW = G^T [sum over tiles of (A dy A^T) * (B^T d B)] G. Blocks of NB
    tiles, one after another: both transforms of the block (split over the
    threads by tiles), then per position xi the block's tiles are reduced
    into dU[xi] = D[xi] . V[xi]^T, finally G^T dU G per output channel.
    Small channel counts reduce with the dot kernel, a task per (xi, DMR-row
    block) over the block's tiles; large ones, whose short tile runs would
    leave the dot kernel mostly setting up, with the gemm kernel over D and
    V packed per xi (k = the tiles). Either way one task owns each entry of
    dU and blocks come in order: the bits never depend on the threads."""
    cdef const void *ks = _kset(<floating>0)
    cdef int MR, MR2, NR, DMR, DNR, VL, DPL
    _tile_dims(ks, &MR, &MR2, &NR, &DMR, &DNR, &VL, &DPL, floating is float)
    cdef WGeom g = _wgeom(x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                          gout.shape[1], gout.shape[2], gout.shape[3], ph, pw,
                          dh, dw, False, VL)
    dtype = np.float32 if floating is float else np.float64
    cdef bint use_gemm = (g.C * g.OC >= WGRAD_GEMM_MIN if _wgrad_gemm < 0
                          else _wgrad_gemm)
    cdef bint narrow = use_gemm and _use_narrow(g.OC, g.T, MR, MR2, NR, VL)
    if narrow:
        MR = MR2
    cdef int RM = MR if use_gemm else DMR  # rows and columns of the
    cdef int RN = NR if use_gemm else DNR  # reducing kernel's tile
    cdef Py_ssize_t cp = _cdiv(g.C, RN) * RN
    cdef Py_ssize_t cs = _round_up(cp)  # dU row stride, whole vectors
    # output channels in chunks of about WINO_CHUNK_BYTES of dU (with more
    # than one block of tiles the input transform is redone per chunk:
    # cheap beside the chunk's products)
    cdef Py_ssize_t occ = _imax(1, WINO_CHUNK_BYTES // (36 * cs * RM * sizeof(floating))) * RM
    occ = _imin(occ, _cdiv(g.OC, RM) * RM)
    cdef Py_ssize_t mp = occ
    # tiles per block: both transforms within WINO_WGRAD_BYTES, whole ALIGN
    # columns (the dot kernel reduces whole vectors)
    g.NB = _imax(ALIGN, WINO_WGRAD_BYTES // (36 * (cp + mp) * sizeof(floating))
                 // ALIGN * ALIGN)
    g.NB = _imin(g.NB, _round_up(g.T))
    cdef Py_ssize_t nbk = _cdiv(g.T, g.NB)
    g.xv = cp * g.NB + ALIGN
    g.xm = mp * g.NB + ALIGN
    cdef Py_ssize_t xd = mp * cs + ALIGN
    cdef double ns = 2.0 * g.N * g.OH * g.OW * g.OC * g.C * 9 * 0.005
    cdef int nt = task_threads(36 * (mp // RM), ns)
    # V, D: the block's transforms (rows past C and OC stay zero); dU; for
    # the gemm kernel also V^T, VT[xi][t][c]
    cdef Py_ssize_t xt = g.NB * cs + ALIGN if use_gemm else 0
    # (not np.zeros: 4.6 MB zeroed a call on batch1_3x3_56, serially, where
    # only the rows past C and OC need it; the first block sets dU)
    wsa = np.empty(36 * (g.xv + g.xm + xd + xt) + 2 * ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *V = &ws[0] + _aligned_offset(ws)
    cdef floating *D = V + 36 * g.xv
    cdef floating *dU = D + 36 * g.xm + ALIGN
    cdef floating *VT = dU + 36 * xd
    # per thread: transform scratch, a dot tile, or D and V packed for gemm
    cdef Py_ssize_t per = _round_up(_imax(g.scr + DMR * DNR * DPL,
                                          g.NB * mp if use_gemm else 0))
    sca = np.empty(per * nt + ALIGN, dtype=dtype)
    cdef floating[::1] scv = sca
    cdef floating *sc0 = &scv[0] + _aligned_offset(scv)
    gwa = np.empty((g.OC, g.C, 3, 3), dtype=dtype)
    cdef floating[:, :, :, ::1] gw = gwa
    cdef Py_ssize_t b, q0, nbt, npad, t, i, qa, qb, xi, ob, jb, xi_ob, oc
    cdef Py_ssize_t oc0, oc1, nob
    cdef floating *sc
    cdef bint redo
    for xi in range(36):
        memset(V + xi * g.xv + g.C * g.NB, 0, (cp - g.C) * g.NB * sizeof(floating))
    # one parallel region for the whole call, its steps worksharing loops
    # (each ends on a barrier, as the separate regions did): 33 regions a
    # call on vgg_3x3_56_c256 woke the threads 33 times, which costs where
    # they sleep between regions (OMP_WAIT_POLICY=PASSIVE: 9.2 -> 24.5 ms)
    cdef Py_ssize_t nchunk = _cdiv(g.OC, occ), ci
    with nogil, parallel(num_threads=nt):
        sc = sc0 + omp_get_thread_num() * per
        for ci in range(nchunk):
            oc0 = ci * occ
            oc1 = _imin(g.OC, oc0 + occ)
            nob = _cdiv(oc1 - oc0, RM)
            for xi in prange(36, schedule='static'):
                memset(D + xi * g.xm + (oc1 - oc0) * g.NB, 0,
                       (mp - (oc1 - oc0)) * g.NB * sizeof(floating))
            for b in range(nbk):
                q0 = b * g.NB
                nbt = _imin(g.NB, g.T - q0)
                npad = _round_up(nbt)
                # one block: its input transform serves every chunk
                redo = nbk > 1 or oc0 == 0
                for i in prange(2 * nt, schedule='dynamic'):
                    qa = q0 + nbt * (i // 2) // nt
                    qb = q0 + nbt * (i // 2 + 1) // nt
                    if qb > qa and i % 2 == 0 and redo:
                        _wino_in_block(ks, &g, qa, qb - qa, &x[0, 0, 0, 0],
                                       V + (qa - q0), sc, sc + 6 * g.ldr)
                    elif qb > qa and i % 2 == 1:
                        _wino_gout_block(ks, &g, qa, qb - qa, oc0, oc1,
                                         &gout[0, 0, 0, 0], D + (qa - q0),
                                         g.xm, sc, sc + 16 * g.ldp)
                if use_gemm:
                    for xi in prange(36, schedule='dynamic'):
                        if redo:
                            _transpose(V + xi * g.xv, g.NB, cp, nbt,
                                       VT + xi * xt, cs)
                        for ob in range(nob):
                            _pack_rows_kmajor(D + xi * g.xm, 1, nob * RM, nbt,
                                              g.NB, RM, ob, sc)
                        for ob in range(nob):
                            for jb in range(cp // RN):
                                _gemm(ks, narrow, nbt, sc + ob * nbt * RM,
                                      VT + xi * xt + jb * RN, cs,
                                      dU + xi * xd + ob * RM * cs + jb * RN, cs,
                                      NULL, b > 0)
                else:
                    if npad > nbt:
                        for xi in prange(36, schedule='static'):
                            _zero_cols(V + xi * g.xv, g.C, g.NB, nbt, npad)
                            _zero_cols(D + xi * g.xm, oc1 - oc0, g.NB, nbt, npad)
                    for xi_ob in prange(36 * nob, schedule='dynamic'):
                        xi = xi_ob // nob
                        ob = xi_ob - xi * nob
                        for jb in range(cp // RN):
                            memset(sc, 0, DMR * DNR * DPL * sizeof(floating))
                            _dot(ks, npad, D + xi * g.xm + ob * RM * g.NB, g.NB,
                                 V + xi * g.xv + jb * RN * g.NB, g.NB, sc)
                            _hsum_tile(sc, DMR, DNR, DPL,
                                       dU + xi * xd + ob * RM * cs + jb * RN, cs,
                                       b > 0)
            for oc in prange(oc0, oc1, schedule='static'):
                if floating is float:
                    (<const cc_f32_kernels *>ks).wino_wgrad(
                        g.C, dU + (oc - oc0) * cs, xd, &gw[oc, 0, 0, 0])
                else:
                    (<const cc_f64_kernels *>ks).wino_wgrad(
                        g.C, dU + (oc - oc0) * cs, xd, &gw[oc, 0, 0, 0])
    return gwa


def conv2d_bwd_weights(const floating[:, :, :, ::1] gout,
                       const floating[:, :, :, ::1] x, weight_shape,
                       Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph,
                       Py_ssize_t pw, Py_ssize_t dh, Py_ssize_t dw,
                       Py_ssize_t groups):
    """Return dW of shape weight_shape (OC, C/groups, KH, KW)."""
    cdef Geom g = _geom(x.shape[0], x.shape[1], x.shape[2], x.shape[3],
                        weight_shape[0], weight_shape[2], weight_shape[3],
                        gout.shape[2], gout.shape[3], sh, sw, ph, pw, dh, dw,
                        groups)
    dtype = np.float32 if floating is float else np.float64
    if g.N == 0 or g.OC == 0 or g.K == 0:
        return np.zeros(weight_shape, dtype=dtype)
    if g.Cg == 1 and g.G == g.C and g.G > 1:
        return _dw_bwd_weights(gout, x, weight_shape, &g)
    if _wino_applies(g.KH, g.KW, sh, sw, groups, g.C, g.OC):
        return _wino_wgrad(gout, x, ph, pw, dh, dw)
    cdef const void *ks = _kset(<floating>0)
    cdef int MR, MR2, NR, DMR, DNR, DVL, DPL
    _tile_dims(ks, &MR, &MR2, &NR, &DMR, &DNR, &DVL, &DPL, floating is float)
    cdef IGeom iq = _igeom(&g, 1, MR, NR, sizeof(floating))
    cdef bint implicit = _wgrad_implicit(&g, &iq, MR, NR, sizeof(floating))
    if _wgrad_pixels(&g, NR, sizeof(floating), implicit):
        return _bwd_weights_pixels(gout, x, weight_shape, &g, ks, MR, NR)
    if implicit:
        return _bwd_weights_implicit(gout, x, weight_shape, &g, &iq, ks, MR,
                                     MR2, NR, DVL)
    if _wgrad_gemm == 1 or (_wgrad_gemm < 0 and _direct_wgrad_gemm(&g)):
        return _bwd_weights_gemm(gout, x, weight_shape, &g, ks, MR, MR2, NR,
                                 DVL)
    cdef Py_ssize_t Q = g.N * g.P
    cdef Py_ssize_t PC = _imin(PC_MAX, _cdiv(Q, ALIGN) * ALIGN)
    # k blocks as wide as a chunk's working set (dout rows, column rows and
    # lane partials) allows in L2, at least 8 dot tiles: each block streams
    # all of dout once more (from memory, for large layers); balanced, as a
    # nearly empty last block would cost as much as a full one. (1x1 layers
    # read their columns in place, and measured slower with wide blocks.)
    # (The L2 size is cast after the division: sizeof is a size_t, and a
    # size_t difference wraps to a huge width instead of going negative.)
    cdef Py_ssize_t mp0 = _cdiv(g.OCg, DMR) * DMR
    cdef Py_ssize_t kfit = 0 if _pointwise(&g) else (
        (<Py_ssize_t>(WGRAD_L2_BYTES // sizeof(floating)) - mp0 * PC)
        // (PC + mp0 * DPL))
    cdef Py_ssize_t KT, nkb, S
    _wgrad_tasks(&g, _imax(8 * DNR, kfit // DNR * DNR), DNR, PC, &KT, &nkb, &S)
    parta = np.empty((S, g.OC, g.K), dtype=dtype)  # each task stores its part
    cdef floating[:, :, ::1] part = parta
    cdef Py_ssize_t ntasks = g.G * nkb * S
    cdef int nt = task_threads(ntasks, _gemm_ns(&g))
    cdef Py_ssize_t mp = _cdiv(g.OCg, DMR) * DMR
    cdef Py_ssize_t abuf_n = _cdiv(mp * PC, ALIGN) * ALIGN
    cdef Py_ssize_t bbuf_n = _cdiv(KT * PC, ALIGN) * ALIGN
    cdef Py_ssize_t xpn = _round_up(_region_size(&g, KT, PC))
    cdef Py_ssize_t vbuf_n = _round_up(_imax(mp * KT * DPL, DMR * DNR * DPL))
    cdef Py_ssize_t cbuf_n = _round_up(mp * KT)
    cdef Py_ssize_t per = abuf_n + bbuf_n + vbuf_n + xpn + cbuf_n
    wsa = np.empty(per * nt + ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *ws0 = &ws[0] + _aligned_offset(ws)
    # small planes: chunks cross images, so dout is packed once, not per task
    cdef Py_ssize_t nch = _cdiv(Q, PC)
    cdef Py_ssize_t Qp = (nch - 1) * PC + _cdiv(Q - (nch - 1) * PC, DVL) * DVL
    cdef floating *gq = NULL
    cdef floating[::1] gqv
    if g.P < PC:
        gqa = np.empty(g.G * mp * Qp + ALIGN, dtype=dtype)
        gqv = gqa
        gq = &gqv[0] + _aligned_offset(gqv)
    cdef Py_ssize_t t
    cdef floating *abuf
    if gq != NULL:
        with nogil:
            for t in prange(g.G * mp, num_threads=nt, schedule='static'):
                _pack_gout(&gout[0, 0, 0, 0], &g, mp, Qp, t, gq)
    with nogil, parallel(num_threads=nt):
        abuf = ws0 + omp_get_thread_num() * per
        for t in prange(ntasks, schedule='dynamic'):
            _bwd_weights_task(ks, &g, t, nkb, KT, S, PC, DMR, DNR, DVL, DPL,
                              &gout[0, 0, 0, 0], &x[0, 0, 0, 0],
                              &part[0, 0, 0], abuf, abuf + abuf_n,
                              abuf + abuf_n + bbuf_n,
                              abuf + abuf_n + bbuf_n + vbuf_n,
                              abuf + abuf_n + bbuf_n + vbuf_n + xpn, gq, Qp)
    # fixed-order reduction of the splits
    gw = parta[0] if S == 1 else parta.sum(axis=0)
    return gw.reshape(weight_shape)


# --------------------------------------------------------------- depthwise --
# groups == C: every output channel oc reads input channel oc // (OC/C).
# Each task pads one input plane into its own buffer (padding folded in),
# then runs the taps kernel over it: each output row a sum of KH*KW shifted
# input rows, vectorized along the output width, written once. Width stride
# > 1 goes through strided row primitives instead.

cdef void _pad_window(const floating *src, Py_ssize_t h, Py_ssize_t w,
                      Py_ssize_t r0, Py_ssize_t c0, Py_ssize_t nr,
                      Py_ssize_t nc, floating *dst) noexcept nogil:
    """dst[nr, nc]: dst[i, j] = src[r0 + i, c0 + j] inside the h x w plane,
    zeros elsewhere (r0, c0 may be negative: the padding)."""
    cdef Py_ssize_t i, ih
    cdef Py_ssize_t lo = _imax(0, _imin(-c0, nc)), hi = _imax(lo, _imin(w - c0, nc))
    for i in range(nr):
        ih = r0 + i
        if ih < 0 or ih >= h:
            memset(dst + i * nc, 0, nc * sizeof(floating))
        else:
            memset(dst + i * nc, 0, lo * sizeof(floating))
            if hi > lo:
                memcpy(dst + i * nc + lo, src + ih * w + c0 + lo,
                       (hi - lo) * sizeof(floating))
            memset(dst + i * nc + hi, 0, (nc - hi) * sizeof(floating))


cdef inline void _pad_into(const floating *src, Py_ssize_t h, Py_ssize_t w,
                           Py_ssize_t top, Py_ssize_t left, Py_ssize_t Hp,
                           Py_ssize_t Wp, floating *dst) noexcept nogil:
    """dst[Hp, Wp]: dst[r, q] = src[r - top, q - left] inside the plane,
    zeros elsewhere."""
    _pad_window(src, h, w, -top, -left, Hp, Wp, dst)


cdef inline void _pad_plane(const floating *src, const Geom *g,
                            floating *dst) noexcept nogil:
    """The input plane at src, padded as the windows read it."""
    _pad_into(src, g.H, g.W, g.PH, g.PW, _pad_h(g), _pad_w(g), dst)


cdef object _tap_offsets(Py_ssize_t planes, Py_ssize_t plane, Py_ssize_t KH,
                         Py_ssize_t KW, Py_ssize_t DH, Py_ssize_t DW,
                         Py_ssize_t Wp):
    """Offsets of the taps (plane, kh, kw) in row-major order, for k_taps."""
    j, kh, kw = np.meshgrid(np.arange(planes), np.arange(KH), np.arange(KW),
                            indexing="ij")
    return np.ascontiguousarray((j * plane + kh * DH * Wp + kw * DW).ravel(),
                                dtype=np.intp)


cdef enum:
    # taps (planes x window) a depthwise taps call may have for the split
    # into an interior read in place and padded borders (more: the whole
    # plane padded)
    DW_MAX_TAPS = 64


cdef struct TapConv:
    # out[oh, ow] = bias + sum over planes j, taps (kh, kw) in order of
    # w[j, kh, kw] * src_j[oh * SH - pt + kh * DH, ow - pl + kw * DW]
    # (zero outside the h x w source planes, pstride apart)
    Py_ssize_t h, w, pt, pl, KH, KW, DH, DW, SH, OH, OW, planes, pstride


cdef bint _tc_split(const TapConv *tc, Py_ssize_t *oh0, Py_ssize_t *oh1,
                    Py_ssize_t *ow0, Py_ssize_t *ow1) noexcept nogil:
    """The interior [oh0, oh1) x [ow0, ow1): every tap inside the source.
    False where there is none or there are too many taps."""
    cdef Py_ssize_t last = tc.h - 1 + tc.pt - (tc.KH - 1) * tc.DH
    oh0[0] = _cdiv(tc.pt, tc.SH) if tc.pt > 0 else 0
    oh1[0] = _imin(tc.OH, last // tc.SH + 1) if last >= 0 else 0
    ow0[0] = _imax(tc.pl, 0)
    ow1[0] = _imin(tc.OW, tc.w + tc.pl - (tc.KW - 1) * tc.DW)
    return (tc.planes * tc.KH * tc.KW <= DW_MAX_TAPS
            and oh1[0] > oh0[0] and ow1[0] > ow0[0])


cdef inline void _tc_offsets(const TapConv *tc, Py_ssize_t ld, Py_ssize_t pst,
                             ptrdiff_t *off) noexcept nogil:
    """off[(j, kh, kw)]: where each tap reads from its window's start, on
    planes pst apart whose rows are ld apart."""
    cdef Py_ssize_t j, kh, kw, KK = tc.KH * tc.KW
    for j in range(tc.planes):
        for kh in range(tc.KH):
            for kw in range(tc.KW):
                off[j * KK + kh * tc.KW + kw] = j * pst + kh * tc.DH * ld + kw * tc.DW


cdef Py_ssize_t _tc_window(const TapConv *tc, const floating *src,
                           Py_ssize_t ra, Py_ssize_t rb, Py_ssize_t ca,
                           Py_ssize_t cb, floating *buf) noexcept nogil:
    """The windows of outputs [ra, rb) x [ca, cb) on every padded source
    plane, built in buf one after another; returns their row length."""
    cdef Py_ssize_t nr = (rb - ra - 1) * tc.SH + (tc.KH - 1) * tc.DH + 1
    cdef Py_ssize_t nc = cb - ca - 1 + (tc.KW - 1) * tc.DW + 1, j
    for j in range(tc.planes):
        _pad_window(src + j * tc.pstride, tc.h, tc.w, ra * tc.SH - tc.pt,
                    ca - tc.pl, nr, nc, buf + j * nr * nc)
    return nc


cdef void _tc_taps(const TapConv *tc, const floating *src, Py_ssize_t ld,
                   Py_ssize_t rowld, Py_ssize_t pst, const floating *wts,
                   floating bias, Py_ssize_t ra, Py_ssize_t rb,
                   Py_ssize_t ca, Py_ssize_t cb, floating *out) noexcept nogil:
    """Outputs [ra, rb) x [ca, cb) by one taps call on planes pst apart
    whose rows are ld apart, src at the region's first window."""
    cdef ptrdiff_t off[DW_MAX_TAPS]
    _tc_offsets(tc, ld, pst, off)
    k_taps(rb - ra, cb - ca, tc.planes * tc.KH * tc.KW, off, wts, src, rowld, bias,
           out + ra * tc.OW + ca, tc.OW)


cdef void _tc_border(const TapConv *tc, const floating *src,
                     const floating *wts, floating bias, Py_ssize_t ra,
                     Py_ssize_t rb, Py_ssize_t ca, Py_ssize_t cb,
                     floating *out, floating *buf) noexcept nogil:
    """Outputs [ra, rb) x [ca, cb) from their windows of the padded planes
    (built in buf): the same taps in the same order as from whole padded
    planes, so the same bits."""
    if rb <= ra or cb <= ca:
        return
    cdef Py_ssize_t nc = _tc_window(tc, src, ra, rb, ca, cb, buf)
    cdef Py_ssize_t nr = (rb - ra - 1) * tc.SH + (tc.KH - 1) * tc.DH + 1
    _tc_taps(tc, buf, nc, tc.SH * nc, nr * nc, wts, bias, ra, rb, ca, cb, out)


cdef bint _tc_run(const TapConv *tc, const floating *src, const floating *wts,
                  floating bias, floating *out, floating *buf) noexcept nogil:
    """The whole output, its interior read in place from the source planes
    and the four borders from padded windows (buf: room for the planes
    padded whole); False (nothing done) where _tc_split finds no interior:
    the caller pads the planes whole."""
    cdef Py_ssize_t oh0, oh1, ow0, ow1
    if not _tc_split(tc, &oh0, &oh1, &ow0, &ow1):
        return False
    _tc_taps(tc, src + (oh0 * tc.SH - tc.pt) * tc.w + ow0 - tc.pl, tc.w,
             tc.SH * tc.w, tc.pstride, wts, bias, oh0, oh1, ow0, ow1, out)
    _tc_border(tc, src, wts, bias, 0, oh0, 0, tc.OW, out, buf)
    _tc_border(tc, src, wts, bias, oh1, tc.OH, 0, tc.OW, out, buf)
    _tc_border(tc, src, wts, bias, oh0, oh1, 0, ow0, out, buf)
    _tc_border(tc, src, wts, bias, oh0, oh1, ow1, tc.OW, out, buf)
    return True


cdef void _dw_fwd_task(const Geom *g, Py_ssize_t t,
                       const floating *x, const floating *w,
                       const floating *bias, const ptrdiff_t *off,
                       floating *out, floating *pad) noexcept nogil:
    """Plane t = (n, c): stride-1-wide rows by _tc_run where it finds an
    interior; else the whole plane padded (SW > 1: the strided rows by
    axpy)."""
    cdef Py_ssize_t n = t // g.C, c = t - n * g.C
    cdef Py_ssize_t Wp = _pad_w(g), mult = g.OCg, KK = g.KH * g.KW
    cdef Py_ssize_t j, oc, oh, kh, kw, i
    cdef floating *orow
    cdef const floating *wk
    cdef const floating *plane = x + (n * g.C + c) * g.H * g.W
    cdef floating *outn = out + n * g.OC * g.OH * g.OW
    cdef TapConv tc = TapConv(g.H, g.W, g.PH, g.PW, g.KH, g.KW, g.DH, g.DW,
                              g.SH, g.OH, g.OW, 1, 0)
    if g.SW == 1:
        for j in range(mult):
            oc = c * mult + j
            if not _tc_run(&tc, plane, w + oc * KK,
                           0 if bias == NULL else bias[oc],
                           outn + oc * g.OH * g.OW, pad):
                break
        else:
            return
    _pad_plane(plane, g, pad)
    for j in range(mult):
        oc = c * mult + j
        wk = w + oc * KK
        if g.SW == 1:
            k_taps(g.OH, g.OW, KK, off, wk, pad, g.SH * Wp,
                   0 if bias == NULL else bias[oc],
                   outn + oc * g.OH * g.OW, g.OW)
            continue
        for oh in range(g.OH):
            orow = outn + (oc * g.OH + oh) * g.OW
            for i in range(g.OW):
                orow[i] = 0 if bias == NULL else bias[oc]
            for kh in range(g.KH):
                for kw in range(g.KW):
                    k_axpy(g.OW, wk[kh * g.KW + kw],
                          pad + (oh * g.SH + kh * g.DH) * Wp + kw * g.DW,
                          g.SW, orow)


cdef void _dw_fwd(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
                  bias, floating[:, :, :, ::1] out, Geom *g):
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] bv
    cdef const floating *bp = NULL
    if bias is not None:
        bv = bias
        bp = &bv[0]
    cdef Py_ssize_t[::1] off = _tap_offsets(1, 0, g.KH, g.KW, g.DH, g.DW,
                                            _pad_w(g))
    cdef Py_ssize_t ntasks = g.N * g.C
    cdef int nt = task_threads(ntasks, _dw_ns(g))
    # the whole padded plane: room for any border window too
    cdef Py_ssize_t per = _round_up(_pad_h(g) * _pad_w(g))
    wsa = np.empty(per * nt + ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *ws0 = &ws[0]
    cdef Py_ssize_t t
    with nogil, parallel(num_threads=nt):
        for t in prange(ntasks, schedule='dynamic'):
            _dw_fwd_task(g, t, &x[0, 0, 0, 0], &w[0, 0, 0, 0], bp,
                         <const ptrdiff_t *>&off[0], &out[0, 0, 0, 0],
                         ws0 + omp_get_thread_num() * per)


cdef inline bint _dw_bwd_as_conv(const Geom *g) noexcept nogil:
    """Stride 1 with padding within the kernel's span: the input gradient is
    then a depthwise convolution of the output gradient with the flipped
    kernel (see _dw_bwd_data_task)."""
    return (g.SH == 1 and g.SW == 1
            and g.PH <= (g.KH - 1) * g.DH and g.PW <= (g.KW - 1) * g.DW
            and g.OH <= g.H + g.PH and g.OW <= g.W + g.PW)


cdef void _dw_bwd_data_task(const Geom *g, Py_ssize_t t,
                            const floating *gout, const floating *w,
                            const floating *wflip, const ptrdiff_t *off,
                            floating *gin, floating *pad) noexcept nogil:
    cdef Py_ssize_t n = t // g.C, c = t - n * g.C
    cdef Py_ssize_t Hp, Wp, mult = g.OCg, KK = g.KH * g.KW
    cdef Py_ssize_t j, oc, oh, kh, kw, ih, lo, hi
    cdef const floating *grow
    cdef const floating *wk
    cdef floating *dst = gin + (n * g.C + c) * g.H * g.W
    cdef TapConv tc
    if _dw_bwd_as_conv(g):
        # gin[ih, iw] = sum_j,kh,kw w[j, kh, kw] gout_j[ih + PH - kh*DH, ...]:
        # each gout_j padded by (K-1)*D - P on top/left (cut or zeros at
        # the bottom/right), all mult of them summed by one taps call with
        # the kernels flipped
        tc = TapConv(g.OH, g.OW, (g.KH - 1) * g.DH - g.PH,
                     (g.KW - 1) * g.DW - g.PW, g.KH, g.KW, g.DH, g.DW, 1,
                     g.H, g.W, mult, g.OH * g.OW)
        if _tc_run(&tc, gout + (n * g.OC + c * mult) * g.OH * g.OW,
                   wflip + c * mult * KK, 0, dst, pad):
            return
        Hp = g.H + (g.KH - 1) * g.DH
        Wp = g.W + (g.KW - 1) * g.DW
        for j in range(mult):
            _pad_into(gout + (n * g.OC + c * mult + j) * g.OH * g.OW,
                      g.OH, g.OW, (g.KH - 1) * g.DH - g.PH,
                      (g.KW - 1) * g.DW - g.PW, Hp, Wp, pad + j * Hp * Wp)
        k_taps(g.H, g.W, mult * KK, off, wflip + c * mult * KK, pad, Wp, 0,
               dst, g.W)
        return
    Hp = _pad_h(g)
    Wp = _pad_w(g)
    memset(pad, 0, Hp * Wp * sizeof(floating))
    for j in range(mult):
        oc = c * mult + j
        wk = w + oc * KK
        for oh in range(g.OH):
            grow = gout + ((n * g.OC + oc) * g.OH + oh) * g.OW
            for kh in range(g.KH):
                for kw in range(g.KW):
                    k_axpy_scatter(g.OW, wk[kh * g.KW + kw], grow,
                                  pad + (oh * g.SH + kh * g.DH) * Wp
                                  + kw * g.DW, g.SW)
    # crop the padding back off; input pixels no window reaches are 0
    memset(dst, 0, g.H * g.W * sizeof(floating))
    lo = _imin(g.PW, Wp)
    hi = _imin(Wp, g.PW + g.W)
    for ih in range(g.H):
        if ih + g.PH < Hp and hi > lo:
            memcpy(dst + ih * g.W + (lo - g.PW), pad + (ih + g.PH) * Wp + lo,
                   (hi - lo) * sizeof(floating))


cdef void _dw_bwd_data(const floating[:, :, :, ::1] gout,
                       const floating[:, :, :, ::1] w,
                       floating[:, :, :, ::1] gin, Geom *g):
    dtype = np.float32 if floating is float else np.float64
    cdef Py_ssize_t ntasks = g.N * g.C
    cdef int nt = task_threads(ntasks, _dw_ns(g))
    cdef Py_ssize_t per, Hp, Wp
    cdef bint conv = _dw_bwd_as_conv(g)
    if conv:
        Hp = g.H + (g.KH - 1) * g.DH
        Wp = g.W + (g.KW - 1) * g.DW
        per = _round_up(g.OCg * Hp * Wp)
        offa = _tap_offsets(g.OCg, Hp * Wp, g.KH, g.KW, g.DH, g.DW, Wp)
        wfa = np.ascontiguousarray(np.asarray(w)[:, :, ::-1, ::-1]).reshape(-1)
    else:
        per = _round_up(_pad_h(g) * _pad_w(g))
        offa = np.zeros(1, dtype=np.intp)
        wfa = np.asarray(w).reshape(-1)
    cdef Py_ssize_t[::1] off = offa
    cdef const floating[::1] wflip = wfa
    wsa = np.empty(per * nt + ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *ws0 = &ws[0]
    cdef Py_ssize_t t
    with nogil, parallel(num_threads=nt):
        for t in prange(ntasks, schedule='dynamic'):
            _dw_bwd_data_task(g, t, &gout[0, 0, 0, 0], &w[0, 0, 0, 0],
                              &wflip[0], <const ptrdiff_t *>&off[0],
                              &gin[0, 0, 0, 0], ws0 + omp_get_thread_num() * per)


cdef void _dw_wgrad_region(const TapConv *tc, const floating *plane,
                           const floating *gplane, Py_ssize_t ra,
                           Py_ssize_t rb, Py_ssize_t ca, Py_ssize_t cb,
                           bint inplace, floating *buf, floating *sums,
                           floating *tmp) noexcept nogil:
    """sums[t] += tap t's dot over outputs [ra, rb) x [ca, cb) of one
    stride-1 plane (tc: its taps, one plane): the input read in place
    (inplace: every tap inside it) or from the region's window of the
    padded plane (built in buf)."""
    if rb <= ra or cb <= ca:
        return
    cdef ptrdiff_t off[DW_MAX_TAPS]
    cdef Py_ssize_t KK = tc.KH * tc.KW, t, ld
    cdef const floating *xb
    if inplace:
        ld = tc.w
        xb = plane + (ra - tc.pt) * tc.w + ca - tc.pl
    else:
        ld = _tc_window(tc, plane, ra, rb, ca, cb, buf)
        xb = buf
    _tc_offsets(tc, ld, 0, off)
    k_taps_dot(rb - ra, cb - ca, KK, off, xb, ld, gplane + ra * tc.OW + ca,
               tc.OW, tmp)
    for t in range(KK):
        sums[t] += tmp[t]


cdef void _dw_bwd_weights_task(const Geom *g, Py_ssize_t oc,
                               const floating *gout, const floating *x,
                               floating *gw, floating *pad) noexcept nogil:
    """dW of output channel oc over the batch, image by image in order.
    Stride 1: the taps' dots over the interior read in place and over the
    four borders from padded windows (_tc_split; without an interior, one
    window); strided: row by row from the padded plane."""
    cdef Py_ssize_t c = oc // g.OCg, Hp = _pad_h(g), Wp = _pad_w(g)
    cdef Py_ssize_t KK = g.KH * g.KW, n, oh, kh, kw, t
    cdef Py_ssize_t oh0 = 0, oh1 = 0, ow0 = 0, ow1 = 0
    cdef const floating *grow
    cdef const floating *plane
    cdef const floating *gplane
    cdef floating acc
    cdef floating *sums = pad + _round_up(Hp * Wp)
    cdef floating *tmp = sums + KK
    cdef TapConv tc = TapConv(g.H, g.W, g.PH, g.PW, g.KH, g.KW, g.DH, g.DW,
                              1, g.OH, g.OW, 1, 0)
    cdef bint s1 = g.SH == 1 and g.SW == 1 and KK <= DW_MAX_TAPS
    cdef bint inner = s1 and _tc_split(&tc, &oh0, &oh1, &ow0, &ow1)
    for n in range(g.N):
        plane = x + (n * g.C + c) * g.H * g.W
        gplane = gout + (n * g.OC + oc) * g.OH * g.OW
        if s1:
            for t in range(KK):
                sums[t] = 0
            if inner:
                _dw_wgrad_region(&tc, plane, gplane, oh0, oh1, ow0, ow1, True,
                                 pad, sums, tmp)
                _dw_wgrad_region(&tc, plane, gplane, 0, oh0, 0, g.OW, False,
                                 pad, sums, tmp)
                _dw_wgrad_region(&tc, plane, gplane, oh1, g.OH, 0, g.OW, False,
                                 pad, sums, tmp)
                _dw_wgrad_region(&tc, plane, gplane, oh0, oh1, 0, ow0, False,
                                 pad, sums, tmp)
                _dw_wgrad_region(&tc, plane, gplane, oh0, oh1, ow1, g.OW, False,
                                 pad, sums, tmp)
            else:
                _dw_wgrad_region(&tc, plane, gplane, 0, g.OH, 0, g.OW, False,
                                 pad, sums, tmp)
            for t in range(KK):
                gw[oc * KK + t] += sums[t]
            continue
        _pad_plane(plane, g, pad)
        for kh in range(g.KH):
            for kw in range(g.KW):
                acc = 0
                for oh in range(g.OH):
                    grow = gplane + oh * g.OW
                    acc += k_dot_strided(g.OW, pad + (oh * g.SH + kh * g.DH) * Wp
                        + kw * g.DW, g.SW, grow)
                gw[oc * KK + kh * g.KW + kw] += acc


cdef object _dw_bwd_weights(const floating[:, :, :, ::1] gout,
                            const floating[:, :, :, ::1] x, weight_shape,
                            Geom *g):
    dtype = np.float32 if floating is float else np.float64
    gwa = np.zeros(weight_shape, dtype=dtype)
    cdef floating[:, :, :, ::1] gw = gwa
    cdef Py_ssize_t ntasks = g.OC
    cdef int nt = task_threads(ntasks, _dw_ns(g))
    # the padded plane (room for any border window), the taps' sums
    cdef Py_ssize_t per = _round_up(_pad_h(g) * _pad_w(g)) + _round_up(2 * g.KH * g.KW)
    wsa = np.empty(per * nt + ALIGN, dtype=dtype)
    cdef floating[::1] ws = wsa
    cdef floating *ws0 = &ws[0]
    cdef Py_ssize_t t
    with nogil, parallel(num_threads=nt):
        for t in prange(ntasks, schedule='dynamic'):
            _dw_bwd_weights_task(g, t, &gout[0, 0, 0, 0], &x[0, 0, 0, 0],
                                 &gw[0, 0, 0, 0], ws0 + omp_get_thread_num() * per)
    return gwa
