"""Shared fixtures: one test per compiled kernel set, thread-count restore."""
import pytest

import convcore
from convcore import _conv, _openmp


def pytest_report_header(config):
    return (f"convcore: kernel sets compiled {_conv.kernel_sets()}, usable "
            f"{_conv.usable_kernel_sets()}, default {_conv.get_kernel_set()}; "
            f"openmp {'on' if _openmp.openmp_enabled() else 'OFF'}, "
            f"{convcore.get_num_threads()} threads")


@pytest.fixture(params=_conv.kernel_sets())
def kernel_set(request):
    """Run the test with each compiled kernel set in turn; a set this CPU
    cannot run is skipped (visibly, with the reason), never silently
    replaced by another one."""
    name = request.param
    usable = _conv.usable_kernel_sets()
    if name not in usable:
        pytest.skip(f"kernel set {name!r} is compiled in but this CPU cannot "
                    f"run it (usable here: {usable})")
    previous = _conv.get_kernel_set()
    _conv.set_kernel_set(name)
    try:
        yield name
    finally:
        _conv.set_kernel_set(previous)


@pytest.fixture
def restore_threads():
    """Give the test a free hand with convcore.set_num_threads, and let
    every call split across the threads however small it is (normally a
    call too small to pay for waking a thread runs on one)."""
    previous = _openmp._set_min_thread_work(0)
    try:
        yield
    finally:
        convcore.set_num_threads(None)
        _openmp._set_min_thread_work(previous)


@pytest.fixture
def fast():
    """``fast(name)`` is ``convcore.<name>`` (a missing op fails the test)."""
    return lambda name: getattr(convcore, name)


@pytest.fixture
def fwd_implicit():
    """``fwd_implicit(True)``: the direct forward reads its columns in
    place from a phase copy of each image, ``fwd_implicit(False)``: it
    packs them (pixel rows off, unless the test sets them); the rules after
    the test."""
    _conv._set_fwd_pixels(False)
    try:
        yield _conv._set_fwd_implicit
    finally:
        _conv._set_fwd_implicit(None)
        _conv._set_fwd_pixels(None)


@pytest.fixture
def fwd_pixels():
    """``fwd_pixels(True)``: the direct forward runs pixel rows (output
    pixels x channels, transposed back) wherever it applies,
    ``fwd_pixels(False)``: never; the rule after the test."""
    try:
        yield _conv._set_fwd_pixels
    finally:
        _conv._set_fwd_pixels(None)


@pytest.fixture
def wgrad_implicit():
    """``wgrad_implicit(True)``: the direct weight gradient reads its
    columns in place, ``wgrad_implicit(False)``: never (and pixel rows
    never, unless the test sets them); the rules after the test."""
    _conv._set_wgrad_pixels(False)
    try:
        yield _conv._set_wgrad_implicit
    finally:
        _conv._set_wgrad_implicit(None)
        _conv._set_wgrad_pixels(None)


@pytest.fixture
def wgrad_pixels():
    """``wgrad_pixels(True)``: the direct weight gradient runs pixel rows
    wherever they apply, ``wgrad_pixels(False)``: never; the rule after the
    test."""
    try:
        yield _conv._set_wgrad_pixels
    finally:
        _conv._set_wgrad_pixels(None)


@pytest.fixture
def wgrad():
    """``wgrad(True)``: the weight gradient (direct and Winograd) reduces
    with the gemm kernel, ``wgrad(False)`` with the dot kernel (neither
    implicit path); the rules after the test."""
    _conv._set_wgrad_pixels(False)
    _conv._set_wgrad_implicit(False)
    try:
        yield _conv._set_wgrad_gemm
    finally:
        _conv._set_wgrad_gemm(None)
        _conv._set_wgrad_pixels(None)
        _conv._set_wgrad_implicit(None)
