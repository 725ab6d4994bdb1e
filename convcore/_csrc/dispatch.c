/* CPU feature detection and the table of compiled kernel sets. */
#include "convcore.h"

#if defined(__x86_64__) || defined(__i386__)
#define CC_X86 1
#endif

#if defined(CC_X86) && (defined(__GNUC__) || defined(__clang__)) && !defined(CC_NO_SIMD_SETS)
#define CC_HAVE_SIMD_SETS 1
extern const cc_f32_kernels cc_f32_kernels__avx512f, cc_f32_kernels__avx2_fma;
extern const cc_f64_kernels cc_f64_kernels__avx512f, cc_f64_kernels__avx2_fma;
#endif
extern const cc_f32_kernels cc_f32_kernels__scalar;
extern const cc_f64_kernels cc_f64_kernels__scalar;

unsigned cc_cpu_features(void)
{
    unsigned bits = 0;
#ifdef CC_HAVE_SIMD_SETS
    /* __builtin_cpu_supports also checks that the OS saves the wide
     * registers (XCR0), so a feature reported here is usable. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        bits |= CC_ISA_AVX2_FMA;
    if (__builtin_cpu_supports("avx512f"))
        bits |= CC_ISA_AVX512F;
#endif
    return bits;
}

#ifdef CC_HAVE_SIMD_SETS
const int cc_num_kernel_sets = 3;
const unsigned cc_kernel_set_isa[CC_MAX_KERNEL_SETS] = {
    CC_ISA_AVX512F | CC_ISA_AVX2_FMA, CC_ISA_AVX2_FMA, 0};
const cc_f32_kernels *const cc_f32_kernel_sets[CC_MAX_KERNEL_SETS] = {
    &cc_f32_kernels__avx512f, &cc_f32_kernels__avx2_fma,
    &cc_f32_kernels__scalar};
const cc_f64_kernels *const cc_f64_kernel_sets[CC_MAX_KERNEL_SETS] = {
    &cc_f64_kernels__avx512f, &cc_f64_kernels__avx2_fma,
    &cc_f64_kernels__scalar};
#else
const int cc_num_kernel_sets = 1;
const unsigned cc_kernel_set_isa[CC_MAX_KERNEL_SETS] = {0};
const cc_f32_kernels *const cc_f32_kernel_sets[CC_MAX_KERNEL_SETS] = {
    &cc_f32_kernels__scalar};
const cc_f64_kernels *const cc_f64_kernel_sets[CC_MAX_KERNEL_SETS] = {
    &cc_f64_kernels__scalar};
#endif
