"""Helpers shared by the test modules (pytest puts tests/ on sys.path)."""
import os
import signal
import subprocess
import sys
import zlib

import numpy as np

import convcore


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


def python_env(**extra):
    """Environment for a fresh `python` that imports the convcore under test
    (an in-place build is found through the current directory, which a
    script elsewhere does not have on its path)."""
    root = os.path.dirname(convcore.__path__[0])
    path = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), **extra)


def run_python(args, timeout, env=None):
    """Run ``python *args`` in its own process group; kill the whole group
    (children it forked included, which hold its pipes) after `timeout` s.
    Returns (returncode, stdout, stderr), returncode None on a timeout."""
    proc = subprocess.Popen([sys.executable, *args], env=env or python_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err
    return proc.returncode, out, err
