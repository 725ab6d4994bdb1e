"""Build convcore: Cython drivers with OpenMP, plus per-ISA C micro-kernels.

Portable by default: only convcore/_csrc/kernels-<isa>.c get ISA flags; the
rest compiles with the baseline flags and the best kernel set is chosen at
import time from what the CPU reports. Knobs (environment variables at build
time):

  CONVCORE_NO_OPENMP=1    build the serial version even if OpenMP works
  CONVCORE_DEBUG=1        Cython bounds and wraparound checks on (slow; tests)
"""
import os
import platform
import shutil
import sys
import tempfile
import textwrap

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CSRC = os.path.join("convcore", "_csrc")
# per-ISA kernel files and the flags only they get (x86-64, GCC/Clang)
ISA_SOURCES = {
    "kernels-avx2_fma.c": ["-mavx2", "-mfma"],
    "kernels-avx512f.c": ["-mavx512f", "-mavx2", "-mfma"],
}
BASE_SOURCES = ["dispatch.c", "kernels-scalar.c"]
C_FLAGS = ["-O3", "-ffp-contract=fast", "-fno-math-errno", "-std=gnu11"]

OMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n == omp_get_max_threads() ? 0 : 1;
    }
    """
)


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _is_x86():
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "i386")


class BuildExt(build_ext):
    """Probes OpenMP, compiles per-ISA kernels with their own flags."""

    def _probe_openmp(self):
        if _env_flag("CONVCORE_NO_OPENMP"):
            return None
        tmp = tempfile.mkdtemp(prefix="convcore-omp-")
        try:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write(OMP_PROBE)
            for flag in ("-fopenmp", "-Xpreprocessor -fopenmp"):
                try:
                    objs = self.compiler.compile(
                        [src], output_dir=tmp, extra_postargs=flag.split()
                    )
                    exe = os.path.join(tmp, "probe")
                    self.compiler.link_executable(
                        objs, exe, extra_postargs=flag.split() if flag == "-fopenmp" else ["-lomp"]
                    )
                    if os.system(exe) == 0:
                        return flag.split()
                except Exception:  # compiler or linker refused the flag
                    continue
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return None

    def _supports(self, flags):
        tmp = tempfile.mkdtemp(prefix="convcore-isa-")
        try:
            src = os.path.join(tmp, "isa.c")
            with open(src, "w") as f:
                f.write("int main(void) { return 0; }\n")
            self.compiler.compile([src], output_dir=tmp, extra_postargs=flags)
            return True
        except Exception:
            return False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def build_extensions(self):
        omp = self._probe_openmp()
        if omp is None:
            print(
                "\n*** convcore: OpenMP not available (or CONVCORE_NO_OPENMP set): "
                "building the SERIAL version; kernels will use one thread. ***\n",
                file=sys.stderr,
            )
        isa = {}
        if _is_x86() and self.compiler.compiler_type == "unix":
            isa = {s: f for s, f in ISA_SOURCES.items() if self._supports(f)}
        dropped = set(ISA_SOURCES) - set(isa)
        if dropped:
            print(f"*** convcore: compiler lacks flags for {sorted(dropped)}; "
                  "those kernels are left out ***", file=sys.stderr)
        self._isa_sources = isa
        for ext in self.extensions:
            ext.extra_compile_args += C_FLAGS + (omp or [])
            if omp:
                ext.extra_link_args += ["-fopenmp"] if omp == ["-fopenmp"] else ["-lomp"]
            if len(isa) != len(ISA_SOURCES):
                ext.define_macros.append(("CC_NO_SIMD_SETS", "1"))
        super().build_extensions()

    def build_extension(self, ext):
        if ext.name in KERNEL_EXTENSIONS and self._isa_sources:
            for src, flags in self._isa_sources.items():
                objs = self.compiler.compile(
                    [os.path.join(CSRC, src)],
                    output_dir=self.build_temp,
                    include_dirs=ext.include_dirs,
                    extra_postargs=C_FLAGS + ["-fPIC"] + flags,
                )
                ext.extra_objects += objs
        super().build_extension(ext)


# extensions that link the C kernels (cythonize rebuilds Extension objects,
# so they are marked by name)
KERNEL_EXTENSIONS = set()


def kernel_extension(name, pyx):
    KERNEL_EXTENSIONS.add(name)
    return Extension(
        name,
        [pyx] + [os.path.join(CSRC, s) for s in BASE_SOURCES],
        include_dirs=[numpy.get_include(), CSRC],
        depends=[os.path.join(CSRC, f) for f in sorted(os.listdir(CSRC))],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )


extensions = [
    Extension(
        "convcore._openmp",
        ["convcore/_openmp.pyx"],
        include_dirs=[CSRC],
    ),
    kernel_extension("convcore._conv", "convcore/_conv.pyx"),
    # these call the kernels through convcore._conv's table
    Extension("convcore._pool", ["convcore/_pool.pyx"], include_dirs=[CSRC]),
    Extension("convcore._act", ["convcore/_act.pyx"], include_dirs=[CSRC]),
    Extension("convcore._linear", ["convcore/_linear.pyx"], include_dirs=[CSRC]),
    # the benchmark report's peak probes, also through that table
    Extension("convcore._peak", ["convcore/_peak.pyx"], include_dirs=[CSRC]),
]

debug = _env_flag("CONVCORE_DEBUG")
setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": debug,
            "wraparound": debug,
            "initializedcheck": debug,
            "cdivision": True,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
