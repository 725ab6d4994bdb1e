"""The AVX-512 kernel set's Winograd transforms, run where the CPU has no
AVX-512: convcore/_csrc/kernels-avx512f.c compiled for AVX2 (its intrinsic
paths are guarded by __AVX512F__, its vector-extension code is split into
256-bit halves), and tests/csrc/wino_wide_main.c checks its transforms
against the scalar set (an error in a 16-lane shuffle list shows here, not
only on an AVX-512 machine)."""
import os
import shutil
import subprocess

import pytest

from convcore import _conv

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(os.path.dirname(HERE), "convcore", "_csrc")
CC = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.skipif("avx2_fma" not in _conv.usable_kernel_sets(),
                    reason="this CPU cannot run AVX2 code")
@pytest.mark.skipif(not os.path.exists(os.path.join(CSRC, "winograd.inc.c")),
                    reason="convcore's C sources are not beside the tests")
def test_wide_transforms_match_scalar(tmp_path):
    flags = ["-O2", "-ffp-contract=fast", "-std=gnu11", "-I" + CSRC]
    objs = []
    for src, extra in [(os.path.join(CSRC, "kernels-avx512f.c"),
                        ["-mavx2", "-mfma", "-Wno-psabi"]),
                       (os.path.join(CSRC, "kernels-scalar.c"), []),
                       (os.path.join(HERE, "csrc", "wino_wide_main.c"), [])]:
        obj = str(tmp_path / (os.path.basename(src) + ".o"))
        subprocess.run([CC, *flags, *extra, "-c", src, "-o", obj], check=True)
        objs.append(obj)
    exe = str(tmp_path / "wino_wide")
    subprocess.run([CC, *objs, "-lm", "-o", exe], check=True)
    run = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    print(run.stdout)
    assert run.returncode == 0 and "mismatches: 0" in run.stdout, run.stdout + run.stderr
