/* Micro-kernel template, included once per (dtype, ISA) by the kernels-*.c
 * files, each compiled with its own ISA flags. The includer defines, as
 * literals:
 *   T, TP        element type and its prefix (float, f32 / double, f64)
 *   ISA          name suffix (scalar, avx2_fma, avx512f)
 *   VL           lanes per vector (1 = plain scalar code)
 *   MR, NR       gemm tile: MR rows x NR columns, NR a multiple of VL
 *   MR2          rows of the second gemm tile, for layers with few output
 *                channels (MR2 x NR)
 *   DMR, DNR     dot tile: DMR x DNR dot products
 *   FMA_CHAINS   independent vector FMA chains of the peak probe
 * and gets cc_<TP>_gemm_ukernel_<MR>x<NR>__<ISA>, cc_<TP>_dot_ukernel_...,
 * the row primitives and the kernel set cc_<TP>_kernels__<ISA>.
 * Vector code is written with GCC/Clang vector extensions; with
 * -ffp-contract=fast the multiply-adds become FMA instructions wherever the
 * ISA has them.
 */
#include <math.h>
#include <string.h>

#define CC_CAT5_(a, b, c, d, e) a##b##c##d##e
#define CC_CAT5(a, b, c, d, e) CC_CAT5_(a, b, c, d, e)
#define CC_FN(op) CC_CAT5(cc_, TP, op, __, ISA)
#define CC_TILE_(a, b) _##a##x##b
#define CC_TILE(a, b) CC_TILE_(a, b)
#define GEMM CC_FN(CC_CAT5(_gemm_ukernel, CC_TILE(GMR, NR), , , ))
#define GEMMI CC_FN(CC_CAT5(_gemmi_ukernel, CC_TILE(GMR, NR), , , ))
#define GEMMA CC_FN(CC_CAT5(_gemma_ukernel, CC_TILE(GMR, NR), , , ))
#define GEMMP CC_FN(_gemmp_ukernel)
#define GEMMPH CC_FN(_gemmph_ukernel)
#define DOT CC_FN(CC_CAT5(_dot_ukernel, CC_TILE(DMR, DNR), , , ))
#define AXPY CC_FN(_axpy)
#define AXPY_SCATTER CC_FN(_axpy_scatter)
#define TAPS CC_FN(_taps)
#define DOT_STRIDED CC_FN(_dot_strided)
#define TAPS_DOT CC_FN(_taps_dot)
#define TAPS_DOT_G CC_FN(_taps_dot_g)
#define GATHER CC_FN(_gather)
#define PACK2D CC_FN(_pack2d)
#define TRANSPOSE CC_FN(_transpose)
#define MAX_UPDATE CC_FN(_max_update)
#define MAX_UPDATE_TAP CC_FN(_max_update_tap)
#define MAX_TAPS CC_FN(_max_taps)
#define ADD CC_FN(_add)
#define GATHER2D CC_FN(_gather2d)
#define DEINT2D CC_FN(_deint2d)
#define INT2D CC_FN(_int2d)
#define RELU CC_FN(_relu)
#define LEAKY CC_FN(_leaky_relu)
#define LEAKY_BWD CC_FN(_leaky_relu_bwd)
#define SIGMOID CC_FN(_sigmoid)
#define EXP_NEG CC_FN(_exp_neg)
#define SIGMOID_BWD CC_FN(_sigmoid_bwd)
#define TANH_BWD CC_FN(_tanh_bwd)
#define FMA_PROBE CC_FN(_fma_probe)
#define STREAM_SUM CC_FN(_stream_sum)
#define STREAM_COPY CC_FN(_stream_copy)
#define WINO_SPLIT CC_FN(_wino_split)
#define WINO_IN CC_FN(_wino_in)
#define WINO_OUT CC_FN(_wino_out)
#define WINO_WT CC_FN(_wino_wt)
#define WINO_GOUT CC_FN(_wino_gout)
#define WINO_WGRAD CC_FN(_wino_wgrad)
#define HSUM_FN CC_FN(_hsum)
#define VEC CC_FN(_vec)
#define UVEC CC_FN(_uvec)
#define KSET CC_FN(_kernels)
#define KSET_TYPE CC_CAT5(cc_, TP, _kernels, , )
#define CC_STR_(x) #x
#define CC_STR(x) CC_STR_(x)

#if VL == 1
typedef T VEC;
typedef T UVEC;
#else
typedef T VEC __attribute__((vector_size(VL * sizeof(T))));
typedef T UVEC __attribute__((vector_size(VL * sizeof(T)), aligned(sizeof(T))));
#endif
#define NV (NR / VL)

#define PL (VL < 4 ? VL : 4)
#if VL >= 8
/* vectors of VL/2 and VL/4 lanes, for folding partial sums */
typedef T CC_FN(_hvec) __attribute__((vector_size(VL / 2 * sizeof(T))));
#endif

#if VL == 1
#define SPLAT(s) ((T)(s))
#define HSUM(v) (v)
#else
#define SPLAT(s) ((VEC){0} + (T)(s))
/* Horizontal sum by halving: a fixed order, so the same inputs give the
 * same bits. */
static inline T HSUM_FN(VEC v)
{
    T t[VL];
    __builtin_memcpy(t, &v, sizeof t);
#pragma GCC unroll 8
    for (int w = VL / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            t[i] += t[i + w];
    return t[0];
}
#define HSUM(v) HSUM_FN(v)
#endif

/* p[0..PL) += v folded to PL lanes by halving (lane i + lane i + w), with
 * register shuffles (GCC >= 12, Clang) or, failing those, through memory */
#if VL >= 8 && (defined(__clang__) || __GNUC__ >= 12)
#define CC_LO8(v) __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)
#define CC_HI8(v) __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)
#define CC_LO4(v) __builtin_shufflevector(v, v, 0, 1, 2, 3)
#define CC_HI4(v) __builtin_shufflevector(v, v, 4, 5, 6, 7)
typedef T CC_FN(_pvec) __attribute__((vector_size(4 * sizeof(T)), aligned(sizeof(T))));
#if VL == 16
#define FOLD_TO_PL(v, p)                                                    \
    do {                                                                    \
        CC_FN(_hvec) h_ = CC_LO8(v) + CC_HI8(v);                            \
        *(CC_FN(_pvec) *)(p) += CC_LO4(h_) + CC_HI4(h_);                    \
    } while (0)
#else
#define FOLD_TO_PL(v, p)                                                    \
    do {                                                                    \
        *(CC_FN(_pvec) *)(p) += CC_LO4(v) + CC_HI4(v);                      \
    } while (0)
#endif
#elif VL > 1
#define FOLD_TO_PL(v, p)                                                    \
    do {                                                                    \
        T t_[VL];                                                           \
        __builtin_memcpy(t_, &(v), sizeof t_);                              \
        for (int w_ = VL / 2; w_ >= PL; w_ /= 2)                            \
            for (int i_ = 0; i_ < w_; i_++)                                 \
                t_[i_] += t_[i_ + w_];                                      \
        for (int i_ = 0; i_ < PL; i_++)                                     \
            (p)[i_] += t_[i_];                                              \
    } while (0)
#endif

#define GMR MR
#include "gemm.inc.c"
#define GMR MR2
#include "gemm.inc.c"
#define GIND
#define GMR MR
#include "gemm.inc.c"
#define GMR MR2
#include "gemm.inc.c"
#undef GIND
#define GINDA
#define GMR MR
#include "gemm.inc.c"
#define GMR MR2
#include "gemm.inc.c"
#undef GINDA
#define GNV NV
#define GMR MR
#define GEMMP_FN GEMMP
#include "gemmp.inc.c"
#define GNV (NV / 2)
#define GMR MRH
#define GEMMP_FN GEMMPH
#include "gemmp.inc.c"
#include "winograd.inc.c"

/* DMR x DNR tile of dot products, kept as PL = min(VL, 4) partial sums:
 *   c[(m*DNR + j)*PL + v] += the sum over i = v (mod PL), i < l, of
 *                            a[m*lda + i] * b[j*ldb + i]
 * with both operands row-major along the reduction (l a multiple of VL).
 * Each lane sums in increasing i; lanes are folded to PL by halving (a
 * fixed order). The caller adds the PL partials once per task, not once
 * per call, so short chunks run at full speed. */
static void DOT(size_t l, const T *restrict a, size_t lda, const T *restrict b,
                size_t ldb, T *restrict c)
{
    VEC acc[DMR][DNR];
#pragma GCC unroll 32
    for (int m = 0; m < DMR; m++)
#pragma GCC unroll 8
        for (int j = 0; j < DNR; j++)
            acc[m][j] = SPLAT(0);
    for (size_t i = 0; i < l; i += VL) {
        VEC av[DMR];
#pragma GCC unroll 8
        for (int m = 0; m < DMR; m++)
            av[m] = *(const UVEC *)(a + m * lda + i);
#pragma GCC unroll 8
        for (int j = 0; j < DNR; j++) {
            VEC bv = *(const UVEC *)(b + j * ldb + i);
#pragma GCC unroll 8
            for (int m = 0; m < DMR; m++)
                acc[m][j] += av[m] * bv;
        }
    }
#pragma GCC unroll 8
    for (int m = 0; m < DMR; m++)
#pragma GCC unroll 8
        for (int j = 0; j < DNR; j++) {
            T *p = c + (m * DNR + j) * PL;
#if VL == 1
            p[0] += acc[m][j];
#else
            FOLD_TO_PL(acc[m][j], p);
#endif
        }
}

static void AXPY(size_t n, T alpha, const T *restrict x, size_t incx,
                 T *restrict y)
{
    if (incx == 1) {
        for (size_t i = 0; i < n; i++)
            y[i] += alpha * x[i];
    } else {
        for (size_t i = 0; i < n; i++)
            y[i] += alpha * x[i * incx];
    }
}

static void AXPY_SCATTER(size_t n, T alpha, const T *restrict x,
                         T *restrict y, size_t incy)
{
    if (incy == 1) {
        for (size_t i = 0; i < n; i++)
            y[i] += alpha * x[i];
    } else {
        for (size_t i = 0; i < n; i++)
            y[i * incy] += alpha * x[i];
    }
}

/* Depthwise rows: y[r*yld + i] = bias + sum_t w[t] * x[r*xld + off[t] + i]
 * for r < rows, i < n. The taps are summed in the order t = 0, 1, ... for
 * every output (vector lanes and the scalar tail alike), so the bits do not
 * depend on where a row is cut; 4 vectors share each weight broadcast. */
static void TAPS(size_t rows, size_t n, size_t ntaps,
                 const ptrdiff_t *restrict off, const T *restrict w,
                 const T *restrict x, size_t xld, T bias, T *restrict y,
                 size_t yld)
{
    for (size_t r = 0; r < rows; r++) {
        const T *xr = x + r * xld;
        T *yr = y + r * yld;
        size_t i = 0;
#if VL > 1
        /* blocks of 4 vectors (4 FMA chains), the last one moved back to
         * end at n: it recomputes some outputs, to the same bits (each is
         * one fixed expression), instead of leaving a tail of single
         * vectors, each one chain waiting on FMA latency (MobileNet's 112
         * columns: 7 vectors, 3 of them latency-bound before) */
        if (n >= 4 * VL) {
            for (;;) {
                VEC a0 = SPLAT(bias), a1 = a0, a2 = a0, a3 = a0;
                for (size_t t = 0; t < ntaps; t++) {
                    const T *p = xr + off[t] + i;
                    VEC wv = SPLAT(w[t]);
                    a0 += wv * *(const UVEC *)(p);
                    a1 += wv * *(const UVEC *)(p + VL);
                    a2 += wv * *(const UVEC *)(p + 2 * VL);
                    a3 += wv * *(const UVEC *)(p + 3 * VL);
                }
                *(UVEC *)(yr + i) = a0;
                *(UVEC *)(yr + i + VL) = a1;
                *(UVEC *)(yr + i + 2 * VL) = a2;
                *(UVEC *)(yr + i + 3 * VL) = a3;
                if (i + 4 * VL >= n)
                    break;
                i = i + 8 * VL <= n ? i + 4 * VL : n - 4 * VL;
            }
            continue;
        }
        for (; i + VL <= n; i += VL) {
            VEC a0 = SPLAT(bias);
            for (size_t t = 0; t < ntaps; t++)
                a0 += SPLAT(w[t]) * *(const UVEC *)(xr + off[t] + i);
            *(UVEC *)(yr + i) = a0;
        }
#endif
        for (; i < n; i++) {
            T a = bias;
            for (size_t t = 0; t < ntaps; t++)
#if VL > 1
                /* fused like the vector lanes: left to itself, GCC turns
                 * this loop into vector products and scalar adds, whose
                 * rounding differs from an FMA's */
                a = sizeof(T) == 4 ? __builtin_fmaf(w[t], xr[off[t] + i], a)
                                   : __builtin_fma(w[t], xr[off[t] + i], a);
#else
                a += w[t] * xr[off[t] + i];
#endif
            yr[i] = a;
        }
    }
}

/* Pooling over whole planes: the drivers lay the output out Lp wide, so a
 * window tap is one long contiguous run (see convcore/_pool.pyx).
 * max_update takes v where v > cur, or where v is NaN and cur is not
 *   (strict >: ties keep the first maximum in window order; the first NaN
 *   wins and stays); max_update_tap also records the tap's number.
 * add: cur += v. gather2d: y[o*yld + i] = x[o*xld + i*incx]. */
#define MAX_TAKE(a, c) ((a) > (c) || ((a) != (a) && (c) == (c)))

static void MAX_UPDATE(size_t n, const T *restrict v, T *restrict cur)
{
    for (size_t i = 0; i < n; i++)
        cur[i] = MAX_TAKE(v[i], cur[i]) ? v[i] : cur[i];
}

static void MAX_UPDATE_TAP(size_t n, const T *restrict v, T *restrict cur,
                           int32_t *restrict tap, int32_t id)
{
    for (size_t i = 0; i < n; i++) {
        int take = MAX_TAKE(v[i], cur[i]);
        cur[i] = take ? v[i] : cur[i];
        tap[i] = take ? id : tap[i];
    }
}

/* All window taps at once, for planes without NaN (the driver checks):
 * y[i] = the max over t < ntaps, in order, of x[off[t] + i] (strict >:
 * ties keep the first tap), held in registers across the taps; with tap,
 * tap[i] = the t taken. One compare and select per tap and vector, where
 * max_update's NaN rule costs four mask operations. */
static void MAX_TAPS(size_t n, size_t ntaps, const ptrdiff_t *restrict off,
                     const T *restrict x, T *restrict y,
                     int32_t *restrict tap)
{
    size_t i = 0;
#if VL > 1
    /* integer lanes as wide as T's: comparison results, tap numbers */
    typedef __typeof__(_Generic((T)0, float: (int32_t)0, default: (int64_t)0))
        TI;
    typedef TI MASK __attribute__((vector_size(VL * sizeof(T))));
    for (; i + 2 * VL <= n; i += 2 * VL) {
        const T *p = x + off[0] + i;
        VEC m0 = *(const UVEC *)p, m1 = *(const UVEC *)(p + VL);
        MASK id0 = {0}, id1 = {0};
        for (size_t t = 1; t < ntaps; t++) {
            p = x + off[t] + i;
            VEC v0 = *(const UVEC *)p, v1 = *(const UVEC *)(p + VL);
            MASK k0 = v0 > m0, k1 = v1 > m1;
            m0 = (VEC)(((MASK)v0 & k0) | ((MASK)m0 & ~k0));
            m1 = (VEC)(((MASK)v1 & k1) | ((MASK)m1 & ~k1));
            if (tap != NULL) {
                MASK tv = (MASK){0} + (TI)t;
                id0 = (tv & k0) | (id0 & ~k0);
                id1 = (tv & k1) | (id1 & ~k1);
            }
        }
        *(UVEC *)(y + i) = m0;
        *(UVEC *)(y + i + VL) = m1;
        if (tap != NULL)
            for (int j = 0; j < VL; j++) {
                tap[i + j] = (int32_t)id0[j];
                tap[i + VL + j] = (int32_t)id1[j];
            }
    }
#endif
    for (; i < n; i++) {
        T m = x[off[0] + i];
        int32_t id = 0;
        for (size_t t = 1; t < ntaps; t++) {
            T v = x[off[t] + i];
            if (v > m) {
                m = v;
                id = (int32_t)t;
            }
        }
        y[i] = m;
        if (tap != NULL)
            tap[i] = id;
    }
}

static void ADD(size_t n, const T *restrict v, T *restrict cur)
{
    for (size_t i = 0; i < n; i++)
        cur[i] += v[i];
}

/* y[i] = x[2*i], i < n: stride-2 pooling and convolution rows. AVX-512
 * picks the even lanes of two loads with one permute (the compiler's own
 * version shuffles 256 bits at a time); masked loads at the end never read
 * past x[2*(n-1)]. */
#if defined(__AVX512F__) && (VL == 16 || VL == 8)
#if VL == 16
#define CC_PS ps
#define CC_SI epi32
#define CC_MASK __mmask16
#define CC_EVEN _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, \
                                  24, 26, 28, 30)
#define CC_ODD _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, \
                                 25, 27, 29, 31)
#define CC_ZIPLO _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, \
                                   6, 22, 7, 23)
#define CC_ZIPHI _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, \
                                   29, 14, 30, 15, 31)
#else
#define CC_PS pd
#define CC_SI epi64
#define CC_MASK __mmask8
#define CC_EVEN _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14)
#define CC_ODD _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15)
#define CC_ZIPLO _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11)
#define CC_ZIPHI _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15)
#endif
#define CC_I(op) CC_CAT5(_mm512_, op, _, CC_PS, )
static inline CC_MASK CC_FN(_lanes)(size_t k)
{
    return (CC_MASK)(k >= VL ? ~0u : (1u << k) - 1u);
}

static inline void CC_FN(_deinterleave)(size_t n, const T *restrict x,
                                        T *restrict y)
{
    const __m512i even = CC_EVEN;
    size_t i = 0;
    for (; i + VL + 1 <= n; i += VL)  /* reads x[2i .. 2i + 2VL - 1] */
        CC_I(storeu)(y + i, CC_I(permutex2var)(CC_I(loadu)(x + 2 * i), even,
                                               CC_I(loadu)(x + 2 * i + VL)));
    if (i < n) {
        size_t r = n - i, need = 2 * r - 1;  /* source elements still needed */
        CC_MASK ma = CC_FN(_lanes)(need), mb = CC_FN(_lanes)(need > VL ? need - VL : 0);
        CC_I(mask_storeu)(y + i, CC_FN(_lanes)(r),
                          CC_I(permutex2var)(CC_I(maskz_loadu)(ma, x + 2 * i), even,
                                             CC_I(maskz_loadu)(mb, x + 2 * i + VL)));
    }
}
/* y0[i] = x[2i], y1[i] = x[2i + 1], i < n: both phases from one pair of
 * loads; never reads past x[2n - 1]. */
static inline void CC_FN(_deinterleave2)(size_t n, const T *restrict x,
                                         T *restrict y0, T *restrict y1)
{
    const __m512i even = CC_EVEN, odd = CC_ODD;
    size_t i = 0;
    for (; i + VL <= n; i += VL) {
        __typeof__(CC_I(loadu)(x)) a = CC_I(loadu)(x + 2 * i),
                                   b = CC_I(loadu)(x + 2 * i + VL);
        CC_I(storeu)(y0 + i, CC_I(permutex2var)(a, even, b));
        CC_I(storeu)(y1 + i, CC_I(permutex2var)(a, odd, b));
    }
    if (i < n) {
        size_t r = n - i, need = 2 * r;
        CC_MASK ma = CC_FN(_lanes)(need), mb = CC_FN(_lanes)(need > VL ? need - VL : 0);
        __typeof__(CC_I(loadu)(x)) a = CC_I(maskz_loadu)(ma, x + 2 * i),
                                   b = CC_I(maskz_loadu)(mb, x + 2 * i + VL);
        CC_I(mask_storeu)(y0 + i, CC_FN(_lanes)(r), CC_I(permutex2var)(a, even, b));
        CC_I(mask_storeu)(y1 + i, CC_FN(_lanes)(r), CC_I(permutex2var)(a, odd, b));
    }
}
/* x[2i] = y0[i], x[2i + 1] = y1[i], i < n: the inverse of deinterleave2;
 * never writes past x[2n - 1]. */
static inline void CC_FN(_interleave2)(size_t n, const T *restrict y0,
                                       const T *restrict y1, T *restrict x)
{
    const __m512i lo = CC_ZIPLO, hi = CC_ZIPHI;
    size_t i = 0;
    for (; i + VL <= n; i += VL) {
        __typeof__(CC_I(loadu)(x)) a = CC_I(loadu)(y0 + i), b = CC_I(loadu)(y1 + i);
        CC_I(storeu)(x + 2 * i, CC_I(permutex2var)(a, lo, b));
        CC_I(storeu)(x + 2 * i + VL, CC_I(permutex2var)(a, hi, b));
    }
    if (i < n) {
        size_t r = n - i, need = 2 * r;
        CC_MASK m = CC_FN(_lanes)(r);
        __typeof__(CC_I(loadu)(x)) a = CC_I(maskz_loadu)(m, y0 + i),
                                   b = CC_I(maskz_loadu)(m, y1 + i);
        CC_I(mask_storeu)(x + 2 * i, CC_FN(_lanes)(need), CC_I(permutex2var)(a, lo, b));
        CC_I(mask_storeu)(x + 2 * i + VL, CC_FN(_lanes)(need > VL ? need - VL : 0),
                          CC_I(permutex2var)(a, hi, b));
    }
}
#define DEINTERLEAVE CC_FN(_deinterleave)
#undef CC_PS
#undef CC_SI
#undef CC_MASK
#undef CC_EVEN
#undef CC_ODD
#undef CC_ZIPLO
#undef CC_ZIPHI
#else
static inline void CC_FN(_deinterleave)(size_t n, const T *restrict x,
                                        T *restrict y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[2 * i];
}
static inline void CC_FN(_deinterleave2)(size_t n, const T *restrict x,
                                         T *restrict y0, T *restrict y1)
{
    for (size_t i = 0; i < n; i++) {
        y0[i] = x[2 * i];
        y1[i] = x[2 * i + 1];
    }
}

static inline void CC_FN(_interleave2)(size_t n, const T *restrict y0,
                                       const T *restrict y1, T *restrict x)
{
    for (size_t i = 0; i < n; i++) {
        x[2 * i] = y0[i];
        x[2 * i + 1] = y1[i];
    }
}
#define DEINTERLEAVE CC_FN(_deinterleave)
#endif

static inline void CC_FN(_gather_row)(size_t lo, size_t hi, const T *restrict x,
                                size_t incx, T *restrict y)
{
    if (incx == 1) {
        for (size_t i = lo; i < hi; i++)
            y[i] = x[i];
    } else if (incx == 2) {
        DEINTERLEAVE(hi - lo, x + 2 * lo, y + lo);
    } else {
        for (size_t i = lo; i < hi; i++)
            y[i] = x[i * incx];
    }
}

static void GATHER2D(size_t rows, size_t n, const T *restrict x, size_t xld,
                     size_t incx, T *restrict y, size_t yld)
{
    size_t m = n >= VL ? n - n % VL : 0;
    for (size_t o = 0; o < rows; o++, x += xld, y += yld) {
        CC_FN(_gather_row)(0, m, x, incx, y);
        if (m < n)
            CC_FN(_gather_row)(m ? n - VL : 0, n, x, incx, y);
    }
}

/* deint2d: y0[o*yld + i] = x[o*xld + 2i], y1[o*yld + i] = x[o*xld + 2i + 1]
 * (i < n): a stride-2 row's two column phases in one pass. */
static void DEINT2D(size_t rows, size_t n, const T *restrict x, size_t xld,
                    T *restrict y0, T *restrict y1, size_t yld)
{
    for (size_t o = 0; o < rows; o++, x += xld, y0 += yld, y1 += yld)
        CC_FN(_deinterleave2)(n, x, y0, y1);
}

/* int2d, the inverse: x[o*xld + 2i] = y0[o*yld + i], x[o*xld + 2i + 1] =
 * y1[o*yld + i]. */
static void INT2D(size_t rows, size_t n, const T *restrict y0,
                  const T *restrict y1, size_t yld, T *restrict x, size_t xld)
{
    for (size_t o = 0; o < rows; o++, x += xld, y0 += yld, y1 += yld)
        CC_FN(_interleave2)(n, y0, y1, x);
}

/* Elementwise activations and their gradients (x: input, y: output). */
static void RELU(size_t n, const T *restrict x, T *restrict y)
{
    for (size_t i = 0; i < n; i++)  /* NaN propagates, as in PyTorch */
        y[i] = x[i] > 0 || x[i] != x[i] ? x[i] : (T)0;
}

static void LEAKY(size_t n, const T *restrict x, T slope, T *restrict y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : x[i] * slope;
}

static void LEAKY_BWD(size_t n, const T *restrict g, const T *restrict x,
                      T slope, T *restrict dx)
{
    if (slope == 0) {  /* ReLU: exactly 0 where x <= 0, even for inf g */
        for (size_t i = 0; i < n; i++)
            dx[i] = x[i] > 0 ? g[i] : (T)0;
    } else {
        for (size_t i = 0; i < n; i++)
            dx[i] = x[i] > 0 ? g[i] : g[i] * slope;
    }
}

/* Logistic sigmoid from e = exp(-|x|): 1/(1+e) for x >= 0, e/(1+e) below,
 * so nothing overflows and small outputs keep their relative precision.
 * NaN propagates; outputs below the smallest normal number flush to 0. */
#if VL == 1
static void SIGMOID(size_t n, const T *restrict x, T *restrict y)
{
    for (size_t i = 0; i < n; i++) {
        T e = sizeof(T) == 4 ? (T)expf(-fabsf((float)x[i])) : (T)exp(-fabs((double)x[i]));
        y[i] = (x[i] >= 0 ? (T)1 : e) / ((T)1 + e);
    }
}
#else
/* same-width signed integer lanes (what a vector comparison returns) */
typedef __typeof__((VEC){0} < (VEC){0}) CC_FN(_ivec);
#define IVEC CC_FN(_ivec)

/* exp(v) for v <= 0, lane-wise: v = n ln2 + r with |r| <= ln2/2 (two-part
 * ln2), e^r by its Taylor polynomial (degree 7 for float, 13 for double:
 * truncation below half an ulp), times 2^n built in the exponent bits.
 * n comes from the 1.5 * 2^mantissa rounding trick, so no float-to-int64
 * conversion instruction is needed. Lanes below the smallest normal result
 * give 0. */
static inline VEC EXP_NEG(VEC v)
{
    const int f32 = sizeof(T) == 4;
    const T lo = f32 ? (T)-87.33654f : (T)-708.3964185322641;
    const T magic = f32 ? (T)12582912.0f : (T)6755399441055744.0;
    const T ln2_hi = f32 ? (T)0.693145751953125f : (T)0.6931471803691238;
    const T ln2_lo = f32 ? (T)1.428606765330187e-06f : (T)1.9082149292705877e-10;
    IVEC keep = (IVEC)(v >= SPLAT(lo));
    v = (VEC)(((IVEC)v & keep) | ((IVEC)SPLAT(lo) & ~keep));
    VEC t = v * SPLAT(1.4426950408889634) + SPLAT(magic);
    IVEC n = (IVEC)t - (IVEC)SPLAT(magic);
    VEC nf = t - SPLAT(magic);
    VEC r = v - nf * SPLAT(ln2_hi) - nf * SPLAT(ln2_lo);
    const int degree = f32 ? 7 : 13;
    T coef[14];
    coef[0] = 1;
    for (int k = 1; k <= degree; k++)
        coef[k] = coef[k - 1] / k;
    VEC q = SPLAT(coef[degree]);
    for (int k = degree - 1; k >= 0; k--)  /* Horner on 1/k! */
        q = q * r + SPLAT(coef[k]);
    IVEC bits = (n + (f32 ? 127 : 1023)) << (f32 ? 23 : 52);
    VEC e = q * (VEC)bits;
    return (VEC)((IVEC)e & keep);
}

static void SIGMOID(size_t n, const T *restrict x, T *restrict y)
{
    size_t i = 0;
    for (;; i += VL) {
        VEC v;
        if (i + VL <= n) {
            v = *(const UVEC *)(x + i);
        } else {  /* tail: pad with zeros in a local vector */
            if (i >= n)
                break;
            T tmp[VL] = {0};
            for (size_t j = 0; i + j < n; j++)
                tmp[j] = x[i + j];
            memcpy(&v, tmp, sizeof v);
        }
        /* the sign bit in every lane (SPLAT(-0.0) would be +0.0) */
        IVEC sign = ((IVEC)(v == v) | (IVEC)(v != v)) << (8 * sizeof(T) - 1);
        VEC e = EXP_NEG((VEC)((IVEC)v | sign));      /* exp(-|x|) */
        IVEC pos = (IVEC)(v >= SPLAT(0));
        VEC num = (VEC)(((IVEC)SPLAT(1) & pos) | ((IVEC)e & ~pos));
        VEC out = num / (SPLAT(1) + e);
        IVEC nan = (IVEC)(v != v);
        out = (VEC)(((IVEC)out & ~nan) | ((IVEC)v & nan));
        if (i + VL <= n) {
            *(UVEC *)(y + i) = out;
        } else {
            T tmp[VL];
            memcpy(tmp, &out, sizeof out);
            for (size_t j = 0; i + j < n; j++)
                y[i + j] = tmp[j];
            break;
        }
    }
}
#undef IVEC
#endif

static void SIGMOID_BWD(size_t n, const T *restrict g, const T *restrict y,
                        T *restrict dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = g[i] * y[i] * ((T)1 - y[i]);
}

static void TANH_BWD(size_t n, const T *restrict g, const T *restrict y,
                     T *restrict dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = g[i] * ((T)1 - y[i] * y[i]);
}

/* dst[j*ldd + r] = src[r*lds + j], r < rows, j < cols: VL x VL blocks
 * transposed in registers (log2(VL) rounds of two-vector shuffles, each
 * swapping the off-diagonal h x h blocks of every 2h x 2h block), the
 * edges by plain loops. Packs a weight gradient's transposed operands. */
#if VL == 16
#define TR_LO8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define TR_HI8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define TR_LO4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define TR_HI4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define TR_LO2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define TR_HI2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define TR_LO1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define TR_HI1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
#define TR_ROUNDS(v) TR_ROUND(v, 8, TR_LO8, TR_HI8); TR_ROUND(v, 4, TR_LO4, TR_HI4); \
                     TR_ROUND(v, 2, TR_LO2, TR_HI2); TR_ROUND(v, 1, TR_LO1, TR_HI1)
#elif VL == 8
#define TR_LO4 0, 1, 2, 3, 8, 9, 10, 11
#define TR_HI4 4, 5, 6, 7, 12, 13, 14, 15
#define TR_LO2 0, 1, 8, 9, 4, 5, 12, 13
#define TR_HI2 2, 3, 10, 11, 6, 7, 14, 15
#define TR_LO1 0, 8, 2, 10, 4, 12, 6, 14
#define TR_HI1 1, 9, 3, 11, 5, 13, 7, 15
#define TR_ROUNDS(v) TR_ROUND(v, 4, TR_LO4, TR_HI4); TR_ROUND(v, 2, TR_LO2, TR_HI2); \
                     TR_ROUND(v, 1, TR_LO1, TR_HI1)
#elif VL == 4
#define TR_LO2 0, 1, 4, 5
#define TR_HI2 2, 3, 6, 7
#define TR_LO1 0, 4, 2, 6
#define TR_HI1 1, 5, 3, 7
#define TR_ROUNDS(v) TR_ROUND(v, 2, TR_LO2, TR_HI2); TR_ROUND(v, 1, TR_LO1, TR_HI1)
#elif VL == 2
#define TR_LO1 0, 2
#define TR_HI1 1, 3
#define TR_ROUNDS(v) TR_ROUND(v, 1, TR_LO1, TR_HI1)
#endif
#define TR_ROUND(v, h, LO, HI)                                              \
    for (int i_ = 0; i_ < VL; i_++)                                         \
        if (!(i_ & (h))) {                                                  \
            VEC a_ = v[i_], b_ = v[i_ + (h)];                               \
            v[i_] = __builtin_shufflevector(a_, b_, LO);                    \
            v[i_ + (h)] = __builtin_shufflevector(a_, b_, HI);              \
        }

static void TRANSPOSE(size_t rows, size_t cols, const T *restrict src,
                      size_t lds, T *restrict dst, size_t ldd)
{
    size_t r0 = 0, j0, r, j;
#if VL > 1
    for (; r0 + VL <= rows; r0 += VL) {
        int pf = r0 + 2 * VL <= rows;  /* the next rows, for far sources */
        for (j0 = 0; j0 + VL <= cols; j0 += VL) {
            VEC v[VL];
            for (r = 0; r < VL; r++) {
                v[r] = *(const UVEC *)(src + (r0 + r) * lds + j0);
                if (pf)
                    __builtin_prefetch(src + (r0 + VL + r) * lds + j0);
            }
            TR_ROUNDS(v);
            for (j = 0; j < VL; j++)
                *(UVEC *)(dst + (j0 + j) * ldd + r0) = v[j];
        }
        for (j = j0; j < cols; j++)
            for (r = r0; r < r0 + VL; r++)
                dst[j * ldd + r] = src[r * lds + j];
    }
#endif
    for (j = 0; j < cols; j++)
        for (r = r0; r < rows; r++)
            dst[j * ldd + r] = src[r * lds + j];
}
#undef TR_ROUND
#undef TR_ROUNDS
#undef TR_LO8
#undef TR_HI8
#undef TR_LO4
#undef TR_HI4
#undef TR_LO2
#undef TR_HI2
#undef TR_LO1
#undef TR_HI1

/* rows x len block from src (rows sld apart) to dst, packed contiguously:
 * dst[r*len + i] = src[r*sld + i]. Short rows (narrow images) are the
 * common case, so the AVX-512 build copies each row with one masked tail
 * instead of a scalar loop. */
static void PACK2D(size_t rows, size_t len, const T *restrict src, size_t sld,
                   T *restrict dst)
{
#if defined(__AVX512F__) && VL == 16
    __mmask16 tm = (__mmask16)((1u << (len % 16)) - 1u);
    for (size_t r = 0; r < rows; r++, src += sld, dst += len) {
        size_t i = 0;
        for (; i + 16 <= len; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
        if (tm)
            _mm512_mask_storeu_ps(dst + i, tm, _mm512_maskz_loadu_ps(tm, src + i));
    }
#elif defined(__AVX512F__) && VL == 8
    __mmask8 tm = (__mmask8)((1u << (len % 8)) - 1u);
    for (size_t r = 0; r < rows; r++, src += sld, dst += len) {
        size_t i = 0;
        for (; i + 8 <= len; i += 8)
            _mm512_storeu_pd(dst + i, _mm512_loadu_pd(src + i));
        if (tm)
            _mm512_mask_storeu_pd(dst + i, tm, _mm512_maskz_loadu_pd(tm, src + i));
    }
#else
    /* rows of VL..2VL elements as two overlapping vector copies, straight
     * code: a copy loop (vector or not) becomes one memcpy call per row,
     * which was most of the packing time of short rows (LeNet's 10) */
    for (size_t r = 0; r < rows; r++, src += sld, dst += len) {
#if VL > 1
        if (len >= VL && len <= 2 * VL) {
            UVEC a = *(const UVEC *)src, b = *(const UVEC *)(src + len - VL);
            *(UVEC *)dst = a;
            *(UVEC *)(dst + len - VL) = b;
            continue;
        }
#endif
        for (size_t i = 0; i < len; i++)
            dst[i] = src[i];
    }
#endif
}

static void GATHER(size_t n, const T *restrict x, size_t incx,
                   T *restrict y)
{
    if (incx == 2) {  /* the common strided case: the compiler deinterleaves */
        for (size_t i = 0; i < n; i++)
            y[i] = x[2 * i];
    } else {
        for (size_t i = 0; i < n; i++)
            y[i] = x[i * incx];
    }
}

/* Up to TD_MAX taps' dots over one pass of y, ntg a constant where it is
 * inlined: two chains a tap (ntg x 2 accumulators), so y is loaded once for
 * all of them and each tap's chains cover the FMA latency together. */
#define TD_MAX 6
static inline __attribute__((always_inline)) void
TAPS_DOT_G(const int ntg, size_t rows, size_t n, const ptrdiff_t *restrict off,
           const T *restrict x, size_t xld, const T *restrict y, size_t yld,
           T *restrict out)
{
    T s[TD_MAX];
    for (int u = 0; u < ntg; u++)
        s[u] = 0;
#if VL > 1
    VEC a[TD_MAX][2];
    for (int u = 0; u < ntg; u++)
        a[u][0] = a[u][1] = SPLAT(0);
#endif
    for (size_t r = 0; r < rows; r++) {
        const T *xr = x + r * xld, *yr = y + r * yld;
        size_t i = 0;
#if VL > 1
        for (; i + 2 * VL <= n; i += 2 * VL) {
            VEC y0 = *(const UVEC *)(yr + i), y1 = *(const UVEC *)(yr + i + VL);
            for (int u = 0; u < ntg; u++) {
                a[u][0] += *(const UVEC *)(xr + off[u] + i) * y0;
                a[u][1] += *(const UVEC *)(xr + off[u] + i + VL) * y1;
            }
        }
#endif
        for (; i < n; i++)
            for (int u = 0; u < ntg; u++)
                s[u] += xr[off[u] + i] * yr[i];
    }
    for (int u = 0; u < ntg; u++)
#if VL > 1
        out[u] = HSUM(a[u][0] + a[u][1]) + s[u];
#else
        out[u] = s[u];
#endif
}

/* out[t] = sum over r < rows, i < n of x[r*xld + off[t] + i] * y[r*yld + i]
 * for t < ntaps (the depthwise weight gradient's taps over a block of a
 * plane): taps in balanced groups of at most TD_MAX, each group one pass
 * over y; a fixed order, so fixed bits. */
static void TAPS_DOT(size_t rows, size_t n, size_t ntaps,
                     const ptrdiff_t *restrict off, const T *restrict x,
                     size_t xld, const T *restrict y, size_t yld,
                     T *restrict out)
{
    size_t ng = (ntaps + TD_MAX - 1) / TD_MAX;
    for (size_t g0 = 0; g0 < ntaps;) {
        size_t gs = (ntaps - g0 + ng - 1) / ng;
        const ptrdiff_t *o = off + g0;
        T *d = out + g0;
        switch (gs) {
        case 1: TAPS_DOT_G(1, rows, n, o, x, xld, y, yld, d); break;
        case 2: TAPS_DOT_G(2, rows, n, o, x, xld, y, yld, d); break;
        case 3: TAPS_DOT_G(3, rows, n, o, x, xld, y, yld, d); break;
        case 4: TAPS_DOT_G(4, rows, n, o, x, xld, y, yld, d); break;
        case 5: TAPS_DOT_G(5, rows, n, o, x, xld, y, yld, d); break;
        default: TAPS_DOT_G(6, rows, n, o, x, xld, y, yld, d); break;
        }
        g0 += gs;
        ng--;
    }
}
#undef TD_MAX

static T DOT_STRIDED(size_t n, const T *restrict x, size_t incx,
                     const T *restrict y)
{
    size_t i = 0;
    T s = 0;
    if (incx == 1) {  /* four chains: long dots are not FMA-latency bound */
        VEC a0 = SPLAT(0), a1 = a0, a2 = a0, a3 = a0;
        for (; i + 4 * VL <= n; i += 4 * VL) {
            a0 += *(const UVEC *)(x + i) * *(const UVEC *)(y + i);
            a1 += *(const UVEC *)(x + i + VL) * *(const UVEC *)(y + i + VL);
            a2 += *(const UVEC *)(x + i + 2 * VL) * *(const UVEC *)(y + i + 2 * VL);
            a3 += *(const UVEC *)(x + i + 3 * VL) * *(const UVEC *)(y + i + 3 * VL);
        }
        for (; i + VL <= n; i += VL)
            a0 += *(const UVEC *)(x + i) * *(const UVEC *)(y + i);
        s = HSUM((a0 + a1) + (a2 + a3));
        for (; i < n; i++)
            s += x[i] * y[i];
    } else {
        for (; i < n; i++)
            s += x[i * incx] * y[i];
    }
    return s;
}

/* Peak probes for the benchmark report (convcore.bench): what this kernel
 * set can reach on this machine, measured rather than taken from a data
 * sheet.
 *
 * fma_probe: FMA_CHAINS independent multiply-add chains of VL lanes, iters
 *   steps each (2*VL*FMA_CHAINS*iters flops). The chains must outnumber
 *   FMA latency x FMA pipes, or the loop measures latency, not throughput.
 *   acc = acc*m + a converges (|m| < 1): no overflow, no denormals. Returns
 *   the sum of the chains, so the loop cannot be dropped.
 * stream_sum: sum of x[0..n), four vector accumulators (so that the
 *   adds' latency never limits a read stream). Read bandwidth.
 * stream_copy: y[i] = x[i], plain vector loads and stores: the stores
 *   every convcore kernel makes (no non-temporal stores, which memcpy uses
 *   on large blocks and the kernels do not). */
static T FMA_PROBE(size_t iters, T m, T a)
{
    VEC acc[FMA_CHAINS];
#pragma GCC unroll 32
    for (int j = 0; j < FMA_CHAINS; j++)
        acc[j] = SPLAT((T)j);
    VEC mv = SPLAT(m), av = SPLAT(a);
    for (size_t i = 0; i < iters; i++) {
#pragma GCC unroll 32
        for (int j = 0; j < FMA_CHAINS; j++)
            acc[j] = acc[j] * mv + av;
    }
    VEC s = SPLAT(0);
#pragma GCC unroll 32
    for (int j = 0; j < FMA_CHAINS; j++)
        s += acc[j];
    return HSUM(s);
}

static T STREAM_SUM(size_t n, const T *restrict x)
{
    VEC a0 = SPLAT(0), a1 = SPLAT(0), a2 = SPLAT(0), a3 = SPLAT(0);
    size_t i = 0;
    for (; i + 4 * VL <= n; i += 4 * VL) {
        a0 += *(const UVEC *)(x + i);
        a1 += *(const UVEC *)(x + i + VL);
        a2 += *(const UVEC *)(x + i + 2 * VL);
        a3 += *(const UVEC *)(x + i + 3 * VL);
    }
    T s = HSUM((a0 + a1) + (a2 + a3));
    for (; i < n; i++)
        s += x[i];
    return s;
}

/* compilers turn a copy loop into a memcpy call (non-temporal stores on
 * large blocks): keep the loop, it is the store convcore's kernels make */
#ifndef CC_KEEP_COPY_LOOP
#if defined(__clang__)
#define CC_KEEP_COPY_LOOP __attribute__((no_builtin("memcpy")))
#elif defined(__GNUC__)
#define CC_KEEP_COPY_LOOP __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define CC_KEEP_COPY_LOOP
#endif
#endif
static CC_KEEP_COPY_LOOP void STREAM_COPY(size_t n, const T *restrict x, T *restrict y)
{
    size_t i = 0;
    for (; i + VL <= n; i += VL)
        *(UVEC *)(y + i) = *(const UVEC *)(x + i);
    for (; i < n; i++)
        y[i] = x[i];
}

const KSET_TYPE KSET = {
    CC_STR(ISA), MR, MR2, MRH, NR, DMR, DNR, VL, PL,
#define GMR MR
    GEMM,
#undef GMR
#define GMR MR2
    GEMM,
#undef GMR
#define GMR MR
    GEMMI,
#undef GMR
#define GMR MR2
    GEMMI,
#undef GMR
#define GMR MR
    GEMMA,
#undef GMR
#define GMR MR2
    GEMMA,
#undef GMR
    GEMMP, GEMMPH,
    DOT, AXPY, AXPY_SCATTER, TAPS, DOT_STRIDED, TAPS_DOT, GATHER, PACK2D, TRANSPOSE,
    MAX_UPDATE, MAX_UPDATE_TAP, MAX_TAPS, ADD, GATHER2D, DEINT2D, INT2D, RELU, LEAKY, LEAKY_BWD, SIGMOID, SIGMOID_BWD, TANH_BWD,
    FMA_CHAINS, FMA_PROBE, STREAM_SUM, STREAM_COPY, WINO_SPLIT, WINO_IN, WINO_OUT, WINO_WT,
    WINO_GOUT, WINO_WGRAD,
};

#undef NV
#undef SPLAT
#undef MAX_TAKE
#undef DEINTERLEAVE
#undef CC_I
#undef PL
#undef FOLD_TO_PL
#undef CC_LO8
#undef CC_HI8
#undef CC_LO4
#undef CC_HI4
#undef HSUM
#undef GEMM
#undef GEMMI
#undef GEMMA
#undef GEMMP
#undef GEMMPH
#undef DOT
#undef AXPY
#undef AXPY_SCATTER
#undef TAPS
#undef DOT_STRIDED
#undef TAPS_DOT
#undef TAPS_DOT_G
#undef GATHER
#undef PACK2D
#undef TRANSPOSE
#undef MAX_UPDATE
#undef MAX_UPDATE_TAP
#undef MAX_TAPS
#undef ADD
#undef GATHER2D
#undef DEINT2D
#undef INT2D
#undef RELU
#undef LEAKY
#undef LEAKY_BWD
#undef SIGMOID
#undef EXP_NEG
#undef SIGMOID_BWD
#undef TANH_BWD
#undef FMA_PROBE
#undef STREAM_SUM
#undef STREAM_COPY
#undef WINO_SPLIT
#undef WINO_IN
#undef WINO_OUT
#undef WINO_WT
#undef WINO_GOUT
#undef WINO_WGRAD
#undef FMA_CHAINS
#undef HSUM_FN
#undef VEC
#undef UVEC
#undef KSET
#undef KSET_TYPE
#undef T
#undef TP
#undef VL
#undef MR
#undef MR2
#undef MRH
#undef NR
#undef DMR
#undef DNR
