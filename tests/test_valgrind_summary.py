"""tests/valgrind_summary.py tells convcore's memcheck errors from
CPython's and NumPy's (README, Development: running the tests under
valgrind)."""
from valgrind_summary import summarize

LOG = """\
==7== Memcheck, a memory error detector
==7== Invalid read of size 32
==7==    at 0x4F6F97D: __wmemcmp_avx2_movbe (memcmp-avx2-movbe.S:415)
==7==    by 0x4A25094: unicode_compare (unicodeobject.c:11091)
==7==
==7== Use of uninitialised value of size 8
==7==    at 0x49D13A8: subtype_traverse (typeobject.c:1201)
==7==    by 0x5A00000: PyArray_NewFromDescr (/x/convcore/.venv/lib/numpy/_core/src/ctors.c:10)
==7==
==7== Invalid read of size 32
==7==    at 0x6A00000: cc_f32_gemm_ukernel_6x16__avx2_fma (ukernels.inc.c:120)
==7==    by 0x6B00000: __pyx_f_8convcore_5_conv__fwd_task (_conv.c:5000)
==7==
==7== Invalid write of size 4
==7==    at 0x6C00000: __pyx_memoryview_copy (/w/convcore/_pool.c:777)
==7==
==7== ERROR SUMMARY: 4 errors from 4 contexts (suppressed: 0 from 0)
"""


def test_convcore_errors_are_told_from_python_noise():
    own, other, first = summarize(LOG.splitlines())
    assert own == {"Invalid read of size 32": 1, "Invalid write of size 4": 1}
    assert other == {"Invalid read of size 32": 1, "Use of uninitialised value of size 8": 1}
    assert first["Invalid read of size 32"][1].startswith("at 0x6A00000: cc_f32_gemm")


def test_clean_log_has_no_errors():
    own, other, _ = summarize(["==7== ERROR SUMMARY: 0 errors from 0 contexts"])
    assert not own and not other
