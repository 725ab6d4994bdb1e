/* One gemm micro-kernel, included by ukernels.inc.c with GMR set to its
 * row count: GMR x NR tile of
 *   C = (acc ? C : bias or 0) + A.B
 * A packed k x GMR; B k rows of NR values at stride ldb. The tile lives in
 * registers for the whole k loop; acc lets callers block k (KC) and keep
 * the B sub-panel in L1. Two implicit-GEMM variants read a convolution's
 * column matrix in place from its padded input instead of a packed copy:
 * with GIND row l of B is at b + koff[l] (the forward), with GINDA entry
 * (l, m) of A is a[aoff[m] + l] (the weight gradient, l running over
 * pixels). All three do the same arithmetic in the same order. */
#if defined(GIND)
static void GEMMI(size_t k, const T *restrict a, const T *restrict b,
                  const ptrdiff_t *restrict koff, T *restrict c, size_t ldc,
                  const T *restrict bias, int acc_in)
#elif defined(GINDA)
static void GEMMA(size_t k, const T *restrict a, const ptrdiff_t *restrict aoff,
                  const T *restrict b, size_t ldb, T *restrict c, size_t ldc,
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
#ifdef GINDA
    const T *ap[GMR];
#pragma GCC unroll 32
    for (int m = 0; m < GMR; m++)
        ap[m] = a + aoff[m];
#endif
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
#ifdef GINDA
            T am = ap[m][l];
#else
            T am = a[m];
#endif
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[m][v] += am * bv[v];
        }
#ifndef GINDA
        a += GMR;
#endif
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
