"""The build mode (release, or debug with CONVCORE_DEBUG=1): recorded at
build time, reported by show_config(), and true of the compiled code."""
import os

import numpy as np
import pytest

import convcore
from convcore import _act, _config, _conv

MODES = ("release", "debug")


def test_show_config_reports_build_mode(capsys):
    mode = _conv.build_mode()
    assert mode in MODES
    assert _config.config()["build"] == mode
    convcore.show_config()
    assert f"build:             {mode}" in capsys.readouterr().out


def test_show_config_reports_l2_size(capsys):
    """The L2 size the forward's blocking is sized for: this machine's
    (sysfs) where Linux tells it, else 1 MiB."""
    l2 = _conv.cache_l2_bytes()
    assert _config.config()["cache_l2_bytes"] == l2
    path = "/sys/devices/system/cpu/cpu0/cache/index2"
    if os.path.exists(path + "/size"):
        with open(path + "/level") as f:
            assert f.read().strip() == "2"
        with open(path + "/size") as f:
            size = f.read().strip()
        assert l2 == int(size.rstrip("KM")) * (1 << (20 if size.endswith("M") else 10))
    else:
        assert l2 == 1024 * 1024
    convcore.show_config()
    assert f"L2 cache:          {l2 // 1024} KiB" in capsys.readouterr().out


def test_bounds_checks_match_recorded_mode():
    # _act.relu indexes its input's memoryview once (&x[0]) and trusts the
    # caller for the rest. An empty slice of a larger array is out of bounds
    # for that index; the memory behind it belongs to `base`, so a release
    # build reads it harmlessly, and a debug build must refuse the index.
    base = np.arange(-3, 5, dtype=np.float32)
    y = np.full(4, np.nan, dtype=np.float32)
    if _conv.build_mode() == "debug":
        with pytest.raises(IndexError):
            _act.relu(base[:0], y)
    else:
        _act.relu(base[:0], y)
        assert np.array_equal(y, np.maximum(base[:4], 0))


def test_build_mode_is_the_expected_one():
    """CI sets CONVCORE_EXPECT_BUILD for each pass, so that a pass that
    meant to test a debug build cannot silently test a release one."""
    expected = os.environ.get("CONVCORE_EXPECT_BUILD")
    if not expected:
        pytest.skip("CONVCORE_EXPECT_BUILD not set (CI sets it for each pass)")
    assert expected in MODES, f"CONVCORE_EXPECT_BUILD={expected!r}, expected one of {MODES}"
    assert _conv.build_mode() == expected
