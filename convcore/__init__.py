"""convcore: a fast CPU convolution engine for NumPy.

Ops take and return NumPy arrays, with the names and arguments of
``torch.nn.functional``. ``convcore.reference`` holds the naive NumPy
version of every op (the oracle of the tests); ``show_config()`` prints how
this build runs on this machine.
"""
import importlib.machinery as _machinery
import os as _os
import sys as _sys


def _built(d):
    return any(_os.path.exists(_os.path.join(d, "_openmp" + sfx))
               for sfx in _machinery.EXTENSION_SUFFIXES)


# `pip install . && python -m convcore.bench`, run where pip ran, finds the
# source tree first (Python puts the current directory first on sys.path),
# and its extensions were built elsewhere. Hand this package over to the
# installed, built copy when there is one; with none, say how to build.
if not _built(__path__[0]):
    _here = _os.path.realpath(__path__[0])
    for _entry in _sys.path:
        _cand = _os.path.join(_os.path.abspath(_entry or _os.curdir), "convcore")
        if _os.path.realpath(_cand) != _here and _built(_cand):
            __path__[:] = [_cand]
            break
    else:
        raise ImportError(
            f"convcore is imported from its source tree ({__path__[0]}), which is not "
            "built: run `python setup.py build_ext --inplace` there, or `pip install .` "
            "and run from any other directory")

# GNU OpenMP's threads spin about 300,000 times at the end of a parallel
# region before they sleep. When the host takes a core away (shared and
# virtual machines), the spinning thread holds the one core left while the
# thread with the remaining work waits for it: here, a LeNet training step
# on 2 threads then averaged 36-105 ms instead of 6-7 ms. A short spin keeps
# back-to-back regions cheap and gives the core up quickly. libgomp reads the
# setting once, when it loads (normally with the import below); it is taken
# out of the environment again, so child processes don't inherit it, and a
# user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone.
_SPINCOUNT = "1000"
_user_wait = {k: v for k, v in _os.environ.items()
              if k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
if not _user_wait:
    _os.environ["GOMP_SPINCOUNT"] = _SPINCOUNT
try:
    from convcore._openmp import get_num_threads, set_num_threads  # noqa: E402
finally:
    if not _user_wait:
        del _os.environ["GOMP_SPINCOUNT"]
# for show_config()
_omp_wait = (" ".join(f"{k}={v}" for k, v in _user_wait.items()) + " (yours)"
             if _user_wait else f"GOMP_SPINCOUNT={_SPINCOUNT} (convcore's default)")
from convcore._config import (get_conv_algorithm, set_conv_algorithm,  # noqa: E402
                              show_config)
from convcore.functional import *  # noqa: E402,F401,F403  (the public ops)
from convcore.functional import __all__ as _ops  # noqa: E402

__version__ = "0.1.0"

__all__ = sorted(_ops) + [
    "get_conv_algorithm",
    "get_num_threads",
    "set_conv_algorithm",
    "set_num_threads",
    "show_config",
]
