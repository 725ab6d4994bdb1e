/* AVX2 + FMA kernel sets; only this file is compiled with -mavx2 -mfma.
 * gemm 6 x (2 vectors): 12 ymm accumulators, 2 for B, 1 broadcast.
 * dot 3x3: 9 accumulators, 3 rows of A, 1 of B.
 * peak probe: 12 FMA chains (latency 4-5 x 2 pipes, leaving 4 ymm free). */
#include "convcore.h"
#define ISA avx2_fma

#define T float
#define TP f32
#define VL 8
#define MR 6
#define MR2 4
#define MRH 8
#define NR 16
#define DMR 3
#define DNR 3
#define FMA_CHAINS 12
#include "ukernels.inc.c"

#define T double
#define TP f64
#define VL 4
#define MR 6
#define MR2 4
#define MRH 8
#define NR 8
#define DMR 3
#define DNR 3
#define FMA_CHAINS 12
#include "ukernels.inc.c"
