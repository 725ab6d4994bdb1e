/* OpenMP entry points, or serial stand-ins when built without OpenMP. */
#ifndef CC_OPENMP_H
#define CC_OPENMP_H
#ifdef _OPENMP
#include <omp.h>
#define CC_HAVE_OPENMP 1
#else
#define CC_HAVE_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline void omp_set_num_threads(int n) { (void)n; }
#endif
#endif
