# Every OpenMP call of convcore goes through here (serial stand-ins when the
# build has no OpenMP).
cdef extern from "cc_openmp.h" nogil:
    int omp_get_max_threads()
    int omp_get_thread_num()
    void omp_set_num_threads(int n)
    int CC_HAVE_OPENMP

cdef int effective_num_threads() noexcept nogil


cdef int task_threads(Py_ssize_t tasks, double work_ns) noexcept nogil
