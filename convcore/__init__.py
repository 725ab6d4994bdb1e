"""convcore: a fast CPU convolution engine for NumPy.

Ops take and return NumPy arrays, with the names and arguments of
``torch.nn.functional``. ``convcore.reference`` holds the naive NumPy
version of every op (the oracle of the tests); ``show_config()`` prints how
this build runs on this machine.
"""
from convcore._openmp import get_num_threads, set_num_threads
from convcore._config import show_config
from convcore.functional import *  # noqa: F401,F403  (the public ops)
from convcore.functional import __all__ as _ops

__version__ = "0.1.0"

__all__ = sorted(_ops) + [
    "get_num_threads",
    "set_num_threads",
    "show_config",
]
