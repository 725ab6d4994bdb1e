/* AVX-512F kernel sets; only this file is compiled with -mavx512f -mfma.
 * gemm 14 x (2 vectors): 28 zmm accumulators, 2 for B, 1 broadcast.
 * dot 4x6: 24 accumulators, 4 rows of A, 1 of B.
 * peak probe: 16 FMA chains (latency 4 x 2 pipes = 8 in flight, with room). */
#include <immintrin.h>

#include "convcore.h"
#define ISA avx512f

#define T float
#define TP f32
#define VL 16
#define MR 14
#define MR2 8
#define MRH 8
#define NR 32
#define DMR 4
#define DNR 6
#define FMA_CHAINS 16
#include "ukernels.inc.c"

#define T double
#define TP f64
#define VL 8
#define MR 14
#define MR2 8
#define MRH 8
#define NR 16
#define DMR 4
#define DNR 6
#define FMA_CHAINS 16
#include "ukernels.inc.c"
