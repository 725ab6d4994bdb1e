# The kernel set in use (chosen at import, switchable for tests), for the
# other driver modules.
from convcore._kernels cimport cc_f32_kernels, cc_f64_kernels

cdef const cc_f32_kernels *kernels_f32() noexcept nogil
cdef const cc_f64_kernels *kernels_f64() noexcept nogil
