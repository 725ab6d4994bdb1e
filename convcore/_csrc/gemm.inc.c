/* One gemm micro-kernel, included by ukernels.inc.c with GMR set to its
 * row count: GMR x NR tile of
 *   C = (acc ? C : bias or 0) + A.B
 * A packed k x GMR; B k rows of NR values at stride ldb, or with GIND (the
 * implicit-GEMM variant) row l at b + koff[l]: a convolution's column
 * matrix read in place from its padded input. The tile lives in registers
 * for the whole k loop; acc lets callers block k (KC) and keep the B
 * sub-panel in L1. Both variants do the same arithmetic in the same order. */
#ifdef GIND
static void GEMMI(size_t k, const T *restrict a, const T *restrict b,
                  const ptrdiff_t *restrict koff, T *restrict c, size_t ldc,
                  const T *restrict bias, int acc_in)
#else
static void GEMM(size_t k, const T *restrict a, const T *restrict b,
                 size_t ldb, T *restrict c, size_t ldc, const T *restrict bias,
                 int acc_in)
#endif
{
    VEC acc[GMR][NV];
    if (acc_in) {
#pragma GCC unroll 32
        for (int m = 0; m < GMR; m++)
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[m][v] = *(const UVEC *)(c + m * ldc + v * VL);
    } else {
#pragma GCC unroll 32
        for (int m = 0; m < GMR; m++) {
            T b0 = bias ? bias[m] : (T)0;
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[m][v] = SPLAT(b0);
        }
    }
    for (size_t l = 0; l < k; l++) {
        VEC bv[NV];
#ifdef GIND
        const T *bl = b + koff[l];
#else
        const T *bl = b;
#endif
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            bv[v] = *(const UVEC *)(bl + v * VL);
#pragma GCC unroll 32
        for (int m = 0; m < GMR; m++) {
            T am = a[m];
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[m][v] += am * bv[v];
        }
        a += GMR;
#ifndef GIND
        b += ldb;
#endif
    }
#pragma GCC unroll 32
    for (int m = 0; m < GMR; m++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            *(UVEC *)(c + m * ldc + v * VL) = acc[m][v];
}
#undef GMR
