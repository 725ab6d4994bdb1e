/* convcore C layer: CPU feature detection and the per-ISA micro-kernel table.
 *
 * Micro-kernels compute one register tile from pointers and strides; they
 * never allocate, never spawn threads and know nothing of convolution shapes.
 * The Cython drivers (convcore/_conv.pyx) pack operands into the layouts
 * documented below and call them through the table chosen at import.
 */
#ifndef CONVCORE_H
#define CONVCORE_H

#include <stddef.h>
#include <stdint.h>

/* ISA bits: a kernel set is usable when all its bits are supported. */
#define CC_ISA_AVX2_FMA 1u
#define CC_ISA_AVX512F  2u

/* Bits of CC_ISA_* that this CPU (and its OS) supports. */
unsigned cc_cpu_features(void);

/* Kernel-set layouts, for T = float (f32) or double (f64):
 *
 * gemm(k, a, b, ldb, c, ldc, bias, acc): full MR x NR tile,
 *     c[m*ldc + j] = (acc ? c[m*ldc + j] : bias ? bias[m] : 0)
 *                    + sum_{l<k} a[l*MR + m] * b[l*ldb + j]
 *   a: packed MR-row panel (k steps of MR values); b: k rows of NR values
 *   at stride ldb (a packed panel, or rows of an image's column matrix, or
 *   rows of dout). Sums run in increasing l. gemm2 is the same with MR2
 *   rows, for layers with few output channels.
 * gemmi(k, a, b, koff, c, ldc, bias, acc), gemmi2: gemm and gemm2 with row
 *   l of B at b + koff[l] (implicit GEMM: the column matrix read in place),
 *   the same arithmetic in the same order.
 * gemma(k, a, aoff, b, ldb, c, ldc, bias, acc), gemma2: gemm with entry
 *   (l, m) of A at a[aoff[m] + l] (the weight gradient's columns in place).
 *
 * gemmp(k, a, poff, koff, b, c, ldc, bias, acc): MR x NR tile with rows m
 *   = output pixels, columns j = output channels,
 *     c[m*ldc + j] = (acc ? c : bias ? bias[j] : 0)
 *                    + sum_{l<k} a[poff[m] + koff[l]] * b[l*NR + j]
 *   (b: k rows of NR packed transposed weights); gemmph the same with MRH
 *   rows, NR / 2 wide. Per output the same arithmetic in the same order as gemm.
 *
 * dot(l, a, lda, b, ldb, c): DMR x DNR dot products as DPL partial sums,
 *     c[(m*DNR + j)*DPL + v] += sum over i = v (mod DPL), i < l, of
 *                               a[m*lda + i] * b[j*ldb + i]
 *   l a multiple of DVL (callers zero-pad); a fixed summation order. The
 *   caller adds the DPL partials in a fixed order: same bits for the same
 *   inputs, whatever the threads.
 *
 * axpy(n, alpha, x, incx, y):  y[i] += alpha * x[i*incx]        (i < n)
 * axpy_scatter(n, alpha, x, y, incy): y[i*incy] += alpha * x[i]  (i < n)
 * taps(rows, n, ntaps, off, w, x, xld, bias, y, yld): depthwise rows,
 *   y[r*yld + i] = bias + sum_t w[t] * x[r*xld + off[t] + i], t in order
 * taps_dot(rows, n, ntaps, off, x, xld, y, yld, out): out[t] = the sum over
 *   r < rows, i < n of x[r*xld + off[t] + i] * y[r*yld + i], t < ntaps;
 *   taps in fixed groups each summed over one pass of y.
 * dot_strided(n, x, incx, y): returns sum_i x[i*incx] * y[i], increasing i
 *   per lane then lanes in a fixed order.
 * gather(n, x, incx, y): y[i] = x[i*incx] (strided packing).
 * pack2d(rows, len, src, sld, dst): dst[r*len + i] = src[r*sld + i].
 * transpose(rows, cols, src, lds, dst, ldd): dst[j*ldd + r] = src[r*lds + j].
 * max_update(_tap), add, gather2d: one pooling window tap over a run of
 *   outputs, and the strided copy that builds the phase planes (see
 *   ukernels.inc.c and _pool.pyx; deint2d splits stride-2 rows into both
 *   column phases at once, int2d joins them back); max_taps: all of a max window's taps in
 *   one pass, for planes without NaN.
 * relu, leaky_relu, leaky_relu_bwd, sigmoid, sigmoid_bwd, tanh_bwd:
 *   elementwise.
 * wino_split, wino_in, wino_out, wino_wt, wino_gout, wino_wgrad: Winograd
 *   F(4x4, 3x3) input (column phases, then the transform), output and filter transforms, and for the weight gradient those
 *   of the output gradient and back to the filter (winograd.inc.c).
 * fma_probe, stream_sum, stream_copy: the peak probes of the benchmark
 *   report (FMA throughput with fma_chains chains, read and copy bandwidth;
 *   see ukernels.inc.c); stream_sum also tells max pooling which planes
 *   hold no NaN (a finite sum).
 */
typedef struct {
    const char *name;
    int mr, mr2, mrh, nr;
    int dmr, dnr, dvl, dpl;
    void (*gemm)(size_t k, const float *a, const float *b, size_t ldb,
                 float *c, size_t ldc, const float *bias, int acc);
    void (*gemm2)(size_t k, const float *a, const float *b, size_t ldb,
                  float *c, size_t ldc, const float *bias, int acc);
    void (*gemmi)(size_t k, const float *a, const float *b, const ptrdiff_t *koff,
                  float *c, size_t ldc, const float *bias, int acc);
    void (*gemmi2)(size_t k, const float *a, const float *b, const ptrdiff_t *koff,
                   float *c, size_t ldc, const float *bias, int acc);
    void (*gemma)(size_t k, const float *a, const ptrdiff_t *aoff, const float *b,
                  size_t ldb, float *c, size_t ldc, const float *bias, int acc);
    void (*gemma2)(size_t k, const float *a, const ptrdiff_t *aoff, const float *b,
                   size_t ldb, float *c, size_t ldc, const float *bias, int acc);
    void (*gemmp)(size_t k, const float *a, const ptrdiff_t *poff,
                  const ptrdiff_t *koff, const float *b, float *c, size_t ldc,
                  const float *bias, int acc);
    void (*gemmph)(size_t k, const float *a, const ptrdiff_t *poff,
                   const ptrdiff_t *koff, const float *b, float *c, size_t ldc,
                   const float *bias, int acc);
    void (*dot)(size_t l, const float *a, size_t lda, const float *b,
                size_t ldb, float *c);
    void (*axpy)(size_t n, float alpha, const float *x, size_t incx, float *y);
    void (*axpy_scatter)(size_t n, float alpha, const float *x, float *y,
                         size_t incy);
    void (*taps)(size_t rows, size_t n, size_t ntaps, const ptrdiff_t *off,
                 const float *w, const float *x, size_t xld, float bias, float *y,
                 size_t yld);
    float (*dot_strided)(size_t n, const float *x, size_t incx, const float *y);
    void (*taps_dot)(size_t rows, size_t n, size_t ntaps, const ptrdiff_t *off,
                     const float *x, size_t xld, const float *y, size_t yld, float *out);
    void (*gather)(size_t n, const float *x, size_t incx, float *y);
    void (*pack2d)(size_t rows, size_t len, const float *src, size_t sld,
                   float *dst);
    void (*transpose)(size_t rows, size_t cols, const float *src, size_t lds,
                      float *dst, size_t ldd);
    void (*max_update)(size_t n, const float *v, float *cur);
    void (*max_update_tap)(size_t n, const float *v, float *cur, int32_t *tap,
                           int32_t id);
    void (*max_taps)(size_t n, size_t ntaps, const ptrdiff_t *off,
                     const float *x, float *y, int32_t *tap);
    void (*add)(size_t n, const float *v, float *cur);
    void (*gather2d)(size_t rows, size_t n, const float *x, size_t xld,
                     size_t incx, float *y, size_t yld);
    void (*deint2d)(size_t rows, size_t n, const float *x, size_t xld,
                    float *y0, float *y1, size_t yld);
    void (*int2d)(size_t rows, size_t n, const float *y0, const float *y1,
                  size_t yld, float *x, size_t xld);
    void (*relu)(size_t n, const float *x, float *y);
    void (*leaky_relu)(size_t n, const float *x, float slope, float *y);
    void (*leaky_relu_bwd)(size_t n, const float *g, const float *x, float slope,
                           float *dx);
    void (*sigmoid)(size_t n, const float *x, float *y);
    void (*sigmoid_bwd)(size_t n, const float *g, const float *y, float *dx);
    void (*tanh_bwd)(size_t n, const float *g, const float *y, float *dx);
    int fma_chains;
    float (*fma_probe)(size_t iters, float m, float a);
    float (*stream_sum)(size_t n, const float *x);
    void (*stream_copy)(size_t n, const float *x, float *y);
    void (*wino_split)(size_t n, const float *rows, size_t ldr, float *ph,
                       size_t ldp);
    void (*wino_in)(size_t n, const float *ph, size_t ldp, float *v, size_t ldv);
    void (*wino_out)(size_t n, const float *m, size_t ldm, float bias, float *y,
                     size_t ldy);
    void (*wino_wt)(size_t nm, size_t C, const float *g, ptrdiff_t ms,
                    ptrdiff_t cs, ptrdiff_t ts, float *u, size_t mr,
                    size_t ldu);
    void (*wino_gout)(size_t n, const float *rows, size_t ldr, float *ph, float *v,
                      size_t ldv);
    void (*wino_wgrad)(size_t n, const float *du, size_t ldu, float *dw);
} cc_f32_kernels;

typedef struct {
    const char *name;
    int mr, mr2, mrh, nr;
    int dmr, dnr, dvl, dpl;
    void (*gemm)(size_t k, const double *a, const double *b, size_t ldb,
                 double *c, size_t ldc, const double *bias, int acc);
    void (*gemm2)(size_t k, const double *a, const double *b, size_t ldb,
                  double *c, size_t ldc, const double *bias, int acc);
    void (*gemmi)(size_t k, const double *a, const double *b, const ptrdiff_t *koff,
                  double *c, size_t ldc, const double *bias, int acc);
    void (*gemmi2)(size_t k, const double *a, const double *b, const ptrdiff_t *koff,
                   double *c, size_t ldc, const double *bias, int acc);
    void (*gemma)(size_t k, const double *a, const ptrdiff_t *aoff, const double *b,
                  size_t ldb, double *c, size_t ldc, const double *bias, int acc);
    void (*gemma2)(size_t k, const double *a, const ptrdiff_t *aoff, const double *b,
                   size_t ldb, double *c, size_t ldc, const double *bias, int acc);
    void (*gemmp)(size_t k, const double *a, const ptrdiff_t *poff,
                  const ptrdiff_t *koff, const double *b, double *c, size_t ldc,
                  const double *bias, int acc);
    void (*gemmph)(size_t k, const double *a, const ptrdiff_t *poff,
                   const ptrdiff_t *koff, const double *b, double *c, size_t ldc,
                   const double *bias, int acc);
    void (*dot)(size_t l, const double *a, size_t lda, const double *b,
                size_t ldb, double *c);
    void (*axpy)(size_t n, double alpha, const double *x, size_t incx,
                 double *y);
    void (*axpy_scatter)(size_t n, double alpha, const double *x, double *y,
                         size_t incy);
    void (*taps)(size_t rows, size_t n, size_t ntaps, const ptrdiff_t *off,
                 const double *w, const double *x, size_t xld, double bias, double *y,
                 size_t yld);
    double (*dot_strided)(size_t n, const double *x, size_t incx,
                          const double *y);
    void (*taps_dot)(size_t rows, size_t n, size_t ntaps, const ptrdiff_t *off,
                     const double *x, size_t xld, const double *y, size_t yld, double *out);
    void (*gather)(size_t n, const double *x, size_t incx, double *y);
    void (*pack2d)(size_t rows, size_t len, const double *src, size_t sld,
                   double *dst);
    void (*transpose)(size_t rows, size_t cols, const double *src, size_t lds,
                      double *dst, size_t ldd);
    void (*max_update)(size_t n, const double *v, double *cur);
    void (*max_update_tap)(size_t n, const double *v, double *cur, int32_t *tap,
                           int32_t id);
    void (*max_taps)(size_t n, size_t ntaps, const ptrdiff_t *off,
                     const double *x, double *y, int32_t *tap);
    void (*add)(size_t n, const double *v, double *cur);
    void (*gather2d)(size_t rows, size_t n, const double *x, size_t xld,
                     size_t incx, double *y, size_t yld);
    void (*deint2d)(size_t rows, size_t n, const double *x, size_t xld,
                    double *y0, double *y1, size_t yld);
    void (*int2d)(size_t rows, size_t n, const double *y0, const double *y1,
                  size_t yld, double *x, size_t xld);
    void (*relu)(size_t n, const double *x, double *y);
    void (*leaky_relu)(size_t n, const double *x, double slope, double *y);
    void (*leaky_relu_bwd)(size_t n, const double *g, const double *x, double slope,
                           double *dx);
    void (*sigmoid)(size_t n, const double *x, double *y);
    void (*sigmoid_bwd)(size_t n, const double *g, const double *y, double *dx);
    void (*tanh_bwd)(size_t n, const double *g, const double *y, double *dx);
    int fma_chains;
    double (*fma_probe)(size_t iters, double m, double a);
    double (*stream_sum)(size_t n, const double *x);
    void (*stream_copy)(size_t n, const double *x, double *y);
    void (*wino_split)(size_t n, const double *rows, size_t ldr, double *ph,
                       size_t ldp);
    void (*wino_in)(size_t n, const double *ph, size_t ldp, double *v, size_t ldv);
    void (*wino_out)(size_t n, const double *m, size_t ldm, double bias, double *y,
                     size_t ldy);
    void (*wino_wt)(size_t nm, size_t C, const double *g, ptrdiff_t ms,
                    ptrdiff_t cs, ptrdiff_t ts, double *u, size_t mr,
                    size_t ldu);
    void (*wino_gout)(size_t n, const double *rows, size_t ldr, double *ph, double *v,
                      size_t ldv);
    void (*wino_wgrad)(size_t n, const double *du, size_t ldu, double *dw);
} cc_f64_kernels;

/* Every kernel set compiled into this build, best first; the last is scalar.
 * `isa` holds the CC_ISA_* bits each needs. */
#define CC_MAX_KERNEL_SETS 3
extern const int cc_num_kernel_sets;
extern const unsigned cc_kernel_set_isa[CC_MAX_KERNEL_SETS];
extern const cc_f32_kernels *const cc_f32_kernel_sets[CC_MAX_KERNEL_SETS];
extern const cc_f64_kernels *const cc_f64_kernel_sets[CC_MAX_KERNEL_SETS];

#endif
