"""Ctrl-C: SIGINT during a long loop of convcore calls stops it promptly
with KeyboardInterrupt, and convcore gives right answers afterwards in the
same process.

The kernels run without the GIL and do not poll for signals, so Python
raises KeyboardInterrupt when the call in flight returns: the bound is
INTERRUPT_SLACK_S plus the longest single call the child measured before
the loop. A control child that holds SIGINT blocked for a few seconds shows
that the measurement catches a late interrupt."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import convcore
from convcore import _openmp

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

INTERRUPT_SLACK_S = 2.0
CONTROL_BLOCK_S = 4.0

CHILD = r"""
import json, signal, sys, time
import numpy as np
import convcore as cc

threads, block_s = int(sys.argv[1]), float(sys.argv[2])
# a shell or CI runner may start us with SIGINT ignored (then Python keeps
# ignoring it): ask for the usual KeyboardInterrupt
signal.signal(signal.SIGINT, signal.default_int_handler)
cc.set_num_threads(threads)
r = np.random.default_rng(0)
x = r.standard_normal((4, 32, 56, 56)).astype(np.float32)
w = r.standard_normal((32, 32, 3, 3)).astype(np.float32)
calls = [lambda: cc.conv2d(x, w, padding=1),
         lambda: cc.conv2d_backward(x, x, w, padding=1),
         lambda: cc.max_pool2d(x, 3, 2, 1, return_indices=True),
         lambda: cc.avg_pool2d(x, 3, 2, 1)]
expected = [f() for f in calls]
longest = 0.0
for f in calls * 3:
    t0 = time.monotonic()
    f()
    longest = max(longest, time.monotonic() - t0)


def same(a, b):
    if isinstance(a, tuple):
        return all(same(u, v) for u, v in zip(a, b))
    return np.array_equal(a, b)


if block_s:  # the control: an interrupt held back
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
print(json.dumps({"ready": time.monotonic(), "longest_call_s": longest}), flush=True)
n = 0
t_start = time.monotonic()
try:
    while True:
        for f in calls:
            f()
            n += 1
        if block_s and time.monotonic() - t_start > block_s:
            block_s = 0
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
except KeyboardInterrupt:
    t_int = time.monotonic()
    ok = [same(f(), e) for f, e in zip(calls, expected)]
    print(json.dumps({"interrupted": t_int, "calls": n, "ok": ok}), flush=True)
    sys.exit(0)
"""


def _interrupt_child(threads, block_s=0.0):
    """Start the loop, send SIGINT about a second in; return the child's
    report and how long after the signal its KeyboardInterrupt came (both
    sides read CLOCK_MONOTONIC, one clock for the whole machine)."""
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(convcore.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(threads), str(block_s)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(p.stdout.readline())
        time.sleep(1.0)
        t_sig = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, f"child exited with {p.returncode}\n{out}\n{err[-4000:]}"
    report = json.loads(out.splitlines()[0])
    return ready, report, report["interrupted"] - t_sig


@pytest.mark.parametrize("threads", [1, pytest.param(2, marks=pytest.mark.skipif(
    not _openmp.openmp_enabled(), reason="serial build (no OpenMP)"))])
def test_ctrl_c_stops_a_loop_of_calls_promptly_and_convcore_still_works(threads):
    ready, report, latency = _interrupt_child(threads)
    bound = INTERRUPT_SLACK_S + ready["longest_call_s"]
    print(f"\n{threads} thread(s): KeyboardInterrupt {latency * 1000:.0f} ms after SIGINT "
          f"(longest call {ready['longest_call_s'] * 1000:.0f} ms, bound {bound:.2f} s), "
          f"{report['calls']} calls before it")
    assert report["calls"] > 0
    assert 0 <= latency < bound
    assert all(report["ok"]), f"wrong answers after the interrupt: {report['ok']}"


def test_interrupt_latency_measurement_catches_a_late_interrupt():
    # negative control: SIGINT blocked for CONTROL_BLOCK_S of the loop
    ready, report, latency = _interrupt_child(1, block_s=CONTROL_BLOCK_S)
    bound = INTERRUPT_SLACK_S + ready["longest_call_s"]
    print(f"\ncontrol: KeyboardInterrupt {latency:.2f} s after SIGINT (bound {bound:.2f} s)")
    assert latency > bound
    assert all(report["ok"])
