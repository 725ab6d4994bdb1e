/* Portable scalar kernel sets, compiled with the baseline flags: the
 * fallback on every CPU and the path left when all ISAs are disabled. */
#include "convcore.h"
#define ISA scalar

#define T float
#define TP f32
#define VL 1
#define MR 4
#define MR2 2
#define MRH 4
#define NR 4
#define DMR 2
#define DNR 2
#define FMA_CHAINS 8
#include "ukernels.inc.c"

#define T double
#define TP f64
#define VL 1
#define MR 4
#define MR2 2
#define MRH 4
#define NR 4
#define DMR 2
#define DNR 2
#define FMA_CHAINS 8
#include "ukernels.inc.c"
