/* The kernel template with the AVX-512 set's parameters (VL 16 for float,
 * 8 for double, MR 14) compiled for AVX2: GCC splits the 64-byte vectors,
 * so the Winograd transforms' VL-16 code (its shuffle index lists, lane
 * builders, spills) runs on a machine without AVX-512. Used by
 * tests/test_winograd_wide.py. */
#include "convcore.h"
#define ISA fake512
#define T float
#define TP f32
#define VL 16
#define MR 14
#define MR2 8
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
#define NR 16
#define DMR 4
#define DNR 6
#define FMA_CHAINS 16
#include "ukernels.inc.c"
