/* One pixel-rows micro-kernel, included by ukernels.inc.c with GNV set to
 * its row and vector counts (MR x NV, or for layers of few output channels
 * MRH x NV / 2: on AVX-512, 8 pixel pointers stay in registers where 14
 * spill, 98% of the FMA peak against 83%): GMR x (GNV * VL) tile of
 *   C[m*ldc + j] = (acc ? C : bias ? bias[j] : 0)
 *                  + sum_{l<k} a[poff[m] + koff[l]] * b[l*GNV*VL + j]
 * Rows m are output pixels anywhere in an input's phase copies (poff: where
 * each one's window starts), columns j output channels (b: the packed,
 * transposed weights), so a tile holds no padding column and no channel
 * past the layer's (up to the width). Per output: the same arithmetic in
 * the same order as gemm and gemmi (bias, then increasing l). */
static void GEMMP_FN(size_t k, const T *restrict a, const ptrdiff_t *restrict poff,
                  const ptrdiff_t *restrict koff, const T *restrict b,
                  T *restrict c, size_t ldc, const T *restrict bias, int acc_in)
{
    VEC acc[GMR][GNV];
    if (acc_in) {
#pragma GCC unroll 32
        for (int m = 0; m < GMR; m++)
#pragma GCC unroll 8
            for (int v = 0; v < GNV; v++)
                acc[m][v] = *(const UVEC *)(c + m * ldc + v * VL);
    } else {
#pragma GCC unroll 8
        for (int v = 0; v < GNV; v++) {
            VEC b0 = bias ? *(const UVEC *)(bias + v * VL) : SPLAT(0);
#pragma GCC unroll 32
            for (int m = 0; m < GMR; m++)
                acc[m][v] = b0;
        }
    }
    const T *ap[GMR];
#pragma GCC unroll 32
    for (int m = 0; m < GMR; m++)
        ap[m] = a + poff[m];
    for (size_t l = 0; l < k; l++) {
        ptrdiff_t o = koff[l];
        VEC bv[GNV];
#pragma GCC unroll 8
        for (int v = 0; v < GNV; v++)
            bv[v] = *(const UVEC *)(b + v * VL);
#pragma GCC unroll 32
        for (int m = 0; m < GMR; m++) {
            T am = ap[m][o];
#pragma GCC unroll 8
            for (int v = 0; v < GNV; v++)
                acc[m][v] += am * bv[v];
        }
        b += GNV * VL;
    }
#pragma GCC unroll 32
    for (int m = 0; m < GMR; m++)
#pragma GCC unroll 8
        for (int v = 0; v < GNV; v++)
            *(UVEC *)(c + m * ldc + v * VL) = acc[m][v];
}
#undef GNV
#undef GMR
#undef GEMMP_FN
