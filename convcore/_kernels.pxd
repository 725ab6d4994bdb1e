# The C kernel table (convcore/_csrc/convcore.h), for every driver module.
from libc.stddef cimport ptrdiff_t
from libc.stdint cimport int32_t, int64_t


cdef extern from "convcore.h" nogil:
    ctypedef struct cc_f32_kernels:
        const char *name
        int mr, mr2, mrh, nr, dmr, dnr, dvl, dpl
        void (*gemm)(size_t k, const float *a, const float *b, size_t ldb,
                     float *c, size_t ldc, const float *bias, int acc) noexcept nogil
        void (*gemm2)(size_t k, const float *a, const float *b, size_t ldb,
                      float *c, size_t ldc, const float *bias, int acc) noexcept nogil
        void (*gemmi)(size_t k, const float *a, const float *b, const ptrdiff_t *koff,
                      float *c, size_t ldc, const float *bias, int acc) noexcept nogil
        void (*gemmi2)(size_t k, const float *a, const float *b, const ptrdiff_t *koff,
                       float *c, size_t ldc, const float *bias, int acc) noexcept nogil
        void (*gemma)(size_t k, const float *a, const ptrdiff_t *aoff, const float *b,
                      size_t ldb, float *c, size_t ldc, const float *bias,
                      int acc) noexcept nogil
        void (*gemma2)(size_t k, const float *a, const ptrdiff_t *aoff, const float *b,
                       size_t ldb, float *c, size_t ldc, const float *bias,
                       int acc) noexcept nogil
        void (*gemmp)(size_t k, const float *a, const ptrdiff_t *poff,
                      const ptrdiff_t *koff, const float *b, float *c, size_t ldc,
                      const float *bias, int acc) noexcept nogil
        void (*gemmph)(size_t k, const float *a, const ptrdiff_t *poff,
                       const ptrdiff_t *koff, const float *b, float *c, size_t ldc,
                       const float *bias, int acc) noexcept nogil
        void (*dot)(size_t l, const float *a, size_t lda, const float *b,
                    size_t ldb, float *c) noexcept nogil
        void (*axpy)(size_t n, float alpha, const float *x, size_t incx,
                     float *y) noexcept nogil
        void (*axpy_scatter)(size_t n, float alpha, const float *x, float *y,
                             size_t incy) noexcept nogil
        void (*taps)(size_t rows, size_t n, size_t ntaps, const ptrdiff_t *off,
                     const float *w, const float *x, size_t xld, float bias, float *y,
                     size_t yld) noexcept nogil
        float (*dot_strided)(size_t n, const float *x, size_t incx,
                             const float *y) noexcept nogil
        void (*taps_dot)(size_t rows, size_t n, size_t ntaps, const ptrdiff_t *off,
                         const float *x, size_t xld, const float *y, size_t yld,
                         float *out) noexcept nogil
        void (*gather)(size_t n, const float *x, size_t incx,
                       float *y) noexcept nogil
        void (*pack2d)(size_t rows, size_t len, const float *src, size_t sld,
                       float *dst) noexcept nogil
        void (*transpose)(size_t rows, size_t cols, const float *src,
                          size_t lds, float *dst, size_t ldd) noexcept nogil
        void (*max_update)(size_t n, const float *v, float *cur) noexcept nogil
        void (*max_update_tap)(size_t n, const float *v, float *cur, int32_t *tap,
                               int32_t id) noexcept nogil
        void (*max_taps)(size_t n, size_t ntaps, const ptrdiff_t *off,
                         const float *x, float *y, int32_t *tap) noexcept nogil
        void (*add)(size_t n, const float *v, float *cur) noexcept nogil
        void (*gather2d)(size_t rows, size_t n, const float *x, size_t xld,
                         size_t incx, float *y, size_t yld) noexcept nogil
        void (*deint2d)(size_t rows, size_t n, const float *x, size_t xld,
                        float *y0, float *y1, size_t yld) noexcept nogil
        void (*int2d)(size_t rows, size_t n, const float *y0, const float *y1,
                      size_t yld, float *x, size_t xld) noexcept nogil
        void (*relu)(size_t n, const float *x, float *y) noexcept nogil
        void (*leaky_relu)(size_t n, const float *x, float slope,
                           float *y) noexcept nogil
        void (*leaky_relu_bwd)(size_t n, const float *g, const float *x,
                               float slope, float *dx) noexcept nogil
        void (*sigmoid)(size_t n, const float *x, float *y) noexcept nogil
        void (*sigmoid_bwd)(size_t n, const float *g, const float *y,
                            float *dx) noexcept nogil
        void (*tanh_bwd)(size_t n, const float *g, const float *y,
                         float *dx) noexcept nogil
        int fma_chains
        float (*fma_probe)(size_t iters, float m, float a) noexcept nogil
        float (*stream_sum)(size_t n, const float *x) noexcept nogil
        void (*stream_copy)(size_t n, const float *x, float *y) noexcept nogil
        void (*wino_split)(size_t n, const float *rows, size_t ldr, float *ph,
                           size_t ldp) noexcept nogil
        void (*wino_in)(size_t n, const float *ph, size_t ldp, float *v,
                        size_t ldv) noexcept nogil
        void (*wino_out)(size_t n, const float *m, size_t ldm, float bias,
                         float *y, size_t ldy) noexcept nogil
        void (*wino_wt)(size_t nm, size_t C, const float *g, ptrdiff_t ms,
                        ptrdiff_t cs, ptrdiff_t ts, float *u, size_t mr,
                        size_t ldu) noexcept nogil
        void (*wino_gout)(size_t n, const float *rows, size_t ldr, float *ph,
                          float *v, size_t ldv) noexcept nogil
        void (*wino_wgrad)(size_t n, const float *du, size_t ldu,
                           float *dw) noexcept nogil
    ctypedef struct cc_f64_kernels:
        const char *name
        int mr, mr2, mrh, nr, dmr, dnr, dvl, dpl
        void (*gemm)(size_t k, const double *a, const double *b, size_t ldb,
                     double *c, size_t ldc, const double *bias, int acc) noexcept nogil
        void (*gemm2)(size_t k, const double *a, const double *b, size_t ldb,
                      double *c, size_t ldc, const double *bias, int acc) noexcept nogil
        void (*gemmi)(size_t k, const double *a, const double *b, const ptrdiff_t *koff,
                      double *c, size_t ldc, const double *bias, int acc) noexcept nogil
        void (*gemmi2)(size_t k, const double *a, const double *b, const ptrdiff_t *koff,
                       double *c, size_t ldc, const double *bias, int acc) noexcept nogil
        void (*gemma)(size_t k, const double *a, const ptrdiff_t *aoff, const double *b,
                      size_t ldb, double *c, size_t ldc, const double *bias,
                      int acc) noexcept nogil
        void (*gemma2)(size_t k, const double *a, const ptrdiff_t *aoff, const double *b,
                       size_t ldb, double *c, size_t ldc, const double *bias,
                       int acc) noexcept nogil
        void (*gemmp)(size_t k, const double *a, const ptrdiff_t *poff,
                      const ptrdiff_t *koff, const double *b, double *c, size_t ldc,
                      const double *bias, int acc) noexcept nogil
        void (*gemmph)(size_t k, const double *a, const ptrdiff_t *poff,
                       const ptrdiff_t *koff, const double *b, double *c, size_t ldc,
                       const double *bias, int acc) noexcept nogil
        void (*dot)(size_t l, const double *a, size_t lda, const double *b,
                    size_t ldb, double *c) noexcept nogil
        void (*axpy)(size_t n, double alpha, const double *x, size_t incx,
                     double *y) noexcept nogil
        void (*axpy_scatter)(size_t n, double alpha, const double *x,
                             double *y, size_t incy) noexcept nogil
        void (*taps)(size_t rows, size_t n, size_t ntaps, const ptrdiff_t *off,
                     const double *w, const double *x, size_t xld, double bias, double *y,
                     size_t yld) noexcept nogil
        double (*dot_strided)(size_t n, const double *x, size_t incx,
                              const double *y) noexcept nogil
        void (*taps_dot)(size_t rows, size_t n, size_t ntaps, const ptrdiff_t *off,
                         const double *x, size_t xld, const double *y, size_t yld,
                         double *out) noexcept nogil
        void (*gather)(size_t n, const double *x, size_t incx,
                       double *y) noexcept nogil
        void (*pack2d)(size_t rows, size_t len, const double *src, size_t sld,
                       double *dst) noexcept nogil
        void (*transpose)(size_t rows, size_t cols, const double *src,
                          size_t lds, double *dst, size_t ldd) noexcept nogil
        void (*max_update)(size_t n, const double *v, double *cur) noexcept nogil
        void (*max_update_tap)(size_t n, const double *v, double *cur, int32_t *tap,
                               int32_t id) noexcept nogil
        void (*max_taps)(size_t n, size_t ntaps, const ptrdiff_t *off,
                         const double *x, double *y, int32_t *tap) noexcept nogil
        void (*add)(size_t n, const double *v, double *cur) noexcept nogil
        void (*gather2d)(size_t rows, size_t n, const double *x, size_t xld,
                         size_t incx, double *y, size_t yld) noexcept nogil
        void (*deint2d)(size_t rows, size_t n, const double *x, size_t xld,
                        double *y0, double *y1, size_t yld) noexcept nogil
        void (*int2d)(size_t rows, size_t n, const double *y0, const double *y1,
                      size_t yld, double *x, size_t xld) noexcept nogil
        void (*relu)(size_t n, const double *x, double *y) noexcept nogil
        void (*leaky_relu)(size_t n, const double *x, double slope,
                           double *y) noexcept nogil
        void (*leaky_relu_bwd)(size_t n, const double *g, const double *x,
                               double slope, double *dx) noexcept nogil
        void (*sigmoid)(size_t n, const double *x, double *y) noexcept nogil
        void (*sigmoid_bwd)(size_t n, const double *g, const double *y,
                            double *dx) noexcept nogil
        void (*tanh_bwd)(size_t n, const double *g, const double *y,
                         double *dx) noexcept nogil
        int fma_chains
        double (*fma_probe)(size_t iters, double m, double a) noexcept nogil
        double (*stream_sum)(size_t n, const double *x) noexcept nogil
        void (*stream_copy)(size_t n, const double *x, double *y) noexcept nogil
        void (*wino_split)(size_t n, const double *rows, size_t ldr,
                           double *ph, size_t ldp) noexcept nogil
        void (*wino_in)(size_t n, const double *ph, size_t ldp, double *v,
                        size_t ldv) noexcept nogil
        void (*wino_out)(size_t n, const double *m, size_t ldm, double bias,
                         double *y, size_t ldy) noexcept nogil
        void (*wino_wt)(size_t nm, size_t C, const double *g, ptrdiff_t ms,
                        ptrdiff_t cs, ptrdiff_t ts, double *u, size_t mr,
                        size_t ldu) noexcept nogil
        void (*wino_gout)(size_t n, const double *rows, size_t ldr, double *ph,
                          double *v, size_t ldv) noexcept nogil
        void (*wino_wgrad)(size_t n, const double *du, size_t ldu,
                           double *dw) noexcept nogil
    unsigned cc_cpu_features()
    unsigned CC_ISA_AVX2_FMA, CC_ISA_AVX512F
    int cc_num_kernel_sets
    unsigned cc_kernel_set_isa[]
    const cc_f32_kernels *cc_f32_kernel_sets[]
    const cc_f64_kernels *cc_f64_kernel_sets[]
