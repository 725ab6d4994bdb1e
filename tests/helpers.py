"""Helpers shared by the test modules (pytest puts tests/ on sys.path)."""
import zlib

import numpy as np


def rng(*key):
    """A generator seeded by the test's own key: stable, distinct per case."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def tol(dtype, expected, rtol32=1e-5, rtol64=1e-12):
    """assert_allclose tolerances for a result of `dtype`: relative, plus an
    absolute floor scaled by the largest finite expected magnitude."""
    expected = np.asarray(expected)
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max(initial=0.0)))
    r = rtol32 if np.dtype(dtype) == np.float32 else rtol64
    return dict(rtol=r, atol=r * scale)


def assert_matches(got, expected, dtype, rtol32=1e-5, rtol64=1e-12,
                   scalar_ok=False, contiguous=True):
    """got is an array of `dtype` (C-contiguous unless contiguous=False; with
    scalar_ok, a NumPy scalar where expected is 0-d) equal to expected
    within tol()."""
    expected = np.asarray(expected)
    if not (scalar_ok and expected.shape == () and isinstance(got, np.generic)):
        assert isinstance(got, np.ndarray)
        if contiguous:
            assert got.flags.c_contiguous
    assert np.shape(got) == expected.shape
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, expected, **tol(dtype, expected, rtol32, rtol64))
