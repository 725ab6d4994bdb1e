"""Large tensors: 64-bit indexing throughout, on tensors of more than 2**31
elements.

One child process (a crash there fails the test instead of killing the
run) builds one input plane of H x W = 2**16 x (2**15 + 37) float32 values
(2**31 + 2,424,832 elements, 8 GiB). On that single plane: conv2d forward
(stride 2, so its output is 2 GiB) and the weight gradient. On the same
memory seen as 4096 planes of 16 rows (the last ones wholly past element
2**31): max pooling with and without indices, average pooling. Then, with
the input freed, passes whose *output* has more than 2**31 elements:
max_pool2d_backward from indices into one 8 GiB plane (positions h * W + w
past 2**31), avg_pool2d_backward over the 4096 planes, conv2d_grad_input
over 4096 images of 16 rows.

Pooling and conv2d_grad_input keep per-thread copies of the planes a task
works on (pooling: the plane's stride phases, 1.25 planes; grad_input: the
padded gradient planes of a channel block), so on one 8 GiB plane they would
need 18 GiB or more: that is why they run on many smaller planes here.

Each result is checked on strips (rows, planes or images) at the start,
around flat element 2**31 (where an int32 offset wraps) and at the end,
against NumPy or convcore.reference on just those strips. Values are small
integers (x = a[h] * 256 + b[w] < 2**16, non-periodic along either axis,
so a read from a wrong row or column gives a different value; weights and
gradients in -3..3): every sum stays below 2**24, exact in float32 whatever
the order, and results are compared exactly, except the weight gradient
(sums of ~10**5 terms, to 1e-5; a wrong row changes it by percents).

Peak memory about 10.1 GiB (the input plane plus a 2 GiB result, or an
8 GiB result plus its gradient). Skipped, visibly, when /proc/meminfo's
MemAvailable is under LARGE_NEED_GIB.
"""
import json
import os
import subprocess
import sys

import pytest

import convcore

LARGE_NEED_GIB = 12.0


def _mem_available_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        return None
    return None


CHILD = r"""
import json, sys, time
import numpy as np
import convcore as cc
from convcore import reference as ref

H, W = 1 << 16, (1 << 15) + 37
assert H * W > 2**31
HB = 2**31 // W  # the row holding flat element 2**31
results = []


def hwm_gib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20


def record(op, t0, checks, **extra):
    results.append(dict(op=op, seconds=round(time.perf_counter() - t0, 2),
                        peak_gib=round(hwm_gib(), 2), checks=checks, **extra))
    print(json.dumps(results[-1]), flush=True)


def strips(n_rows, k, step):
    # k output rows at the start, around the one reading input row HB (the
    # row of element 2**31; output row o starts at input row o * step), and
    # at the end
    mid = min(max(HB // step - k // 2, 0), n_rows - k)
    return [(0, k), (mid, mid + k), (n_rows - k, n_rows)]


def pattern(n, mult, mod, scale):
    return ((np.arange(n, dtype=np.int64) * mult) % mod).astype(np.float32) * scale


def plane(rows, cols, seed):
    out = np.empty((1, 1, rows, cols), np.float32)
    np.add(pattern(rows, 7919 + seed, 251, 256.0)[:, None],
           pattern(cols, 104729 + seed, 241, 1.0)[None, :], out=out[0, 0])
    return out


def small(shape, seed):
    a = ((np.arange(np.prod(shape)) * (37 + seed)) % 7 - 3).astype(np.float32)
    return a.reshape(shape)


def exact(name, got, want):
    ok = got.shape == want.shape and np.array_equal(got, want)
    err = float(np.max(np.abs(got.astype(np.float64) - want))) if got.shape == want.shape else None
    return dict(what=name, ok=bool(ok), max_abs_err=err)


w = small((1, 1, 3, 3), 0)
t0 = time.perf_counter()
x = plane(H, W, 0)
record("fill input plane (8 GiB)", t0, [])

# conv2d, stride 2: output row o reads input rows 2o..2o+2
t0 = time.perf_counter()
y = cc.conv2d(x, w, stride=2)
OH, OW = y.shape[2:]
checks = []
for o0, o1 in strips(OH, 3, 2):
    want = ref.conv2d(x[:, :, 2 * o0:2 * o1 + 1].astype(np.float64), w.astype(np.float64), stride=2)
    checks.append(exact(f"conv2d rows {o0}:{o1}", y[:, :, o0:o1], want))
# control: the same comparison against the reference one output row down
# (what a result read or written one row off would match) must fail
want = ref.conv2d(x[:, :, 2 * o0 + 2:2 * o1 + 3].astype(np.float64), w.astype(np.float64),
                  stride=2)
control = exact("CONTROL conv2d vs the next rows", y[:, :, o0:o1], want)
record("conv2d 3x3 s2 fwd", t0, checks, control=control)

# weight gradient: grad_output zero except strips (start, 2**31, end), so
# the exact answer is a sum over those strips only
t0 = time.perf_counter()
go = y
go.fill(0)
parts = strips(OH, 2, 2)
for i, (o0, o1) in enumerate(parts):
    go[0, 0, o0:o1] = small((o1 - o0, OW), i + 1)
gw = cc.conv2d_grad_weight(go, x, w.shape, stride=2)
want = sum(ref.conv2d_grad_weight(go[:, :, o0:o1].astype(np.float64),
                                  x[:, :, 2 * o0:2 * o1 + 1].astype(np.float64),
                                  w.shape, stride=2) for o0, o1 in parts)
rel = float(np.max(np.abs(gw - want)) / np.max(np.abs(want)))
record("conv2d_grad_weight 3x3 s2", t0,
       [dict(what="grad_weight (strips)", ok=rel < 1e-5, max_rel_err=rel)])
del y, go

# Pooling keeps a per-thread copy of the plane it works on (its stride
# phases, padded: 1.25 planes), so pooling one 8 GiB plane would need
# 18 GiB or more. The same memory seen as 4096 planes of 16 rows puts the
# last planes wholly past element 2**31: plane offsets (and the outputs'
# offsets) in 64 bits.
P = 16
xs = x.reshape(1, H // P, P, W)
PB = 2**31 // (P * W)  # the plane holding element 2**31


def plane_strips(n_planes, k):
    mid = min(PB - k // 2, n_planes - k)
    return [(0, k), (mid, mid + k), (n_planes - k, n_planes)]


for name, fn, red in (("max_pool2d 2x2", cc.max_pool2d, np.max),
                      ("avg_pool2d 2x2", cc.avg_pool2d, np.mean)):
    t0 = time.perf_counter()
    p = fn(xs, 2)
    OH, OW = p.shape[2:]
    checks = []
    for c0, c1 in plane_strips(H // P, 3):
        blk = xs[0, c0:c1, :, :2 * OW].astype(np.float64)
        want = red(blk.reshape(c1 - c0, OH, 2, OW, 2), axis=(2, 4))
        checks.append(exact(f"{name} planes {c0}:{c1}", p[0, c0:c1], want))
    record(name + f" ({H // P} planes of {P}x{W})", t0, checks)
    del p

t0 = time.perf_counter()
mo, idx = cc.max_pool2d(xs, 4, return_indices=True)
OH, OW = mo.shape[2:]
checks = []
for c0, c1 in plane_strips(H // P, 3):
    blk = xs[0, c0:c1, :, :4 * OW].reshape(c1 - c0, OH, 4, OW, 4).transpose(0, 1, 3, 2, 4)
    blk = blk.reshape(c1 - c0, OH, OW, 16)
    am = blk.argmax(axis=3)
    want_idx = ((4 * np.arange(OH)[:, None] + am // 4) * W
                + 4 * np.arange(OW)[None, :] + am % 4)
    checks.append(exact(f"max_pool2d 4x4 values planes {c0}:{c1}", mo[0, c0:c1],
                        blk.max(axis=3)))
    checks.append(dict(what=f"max_pool2d 4x4 indices planes {c0}:{c1}",
                       ok=bool(np.array_equal(idx[0, c0:c1], want_idx))))
record(f"max_pool2d 4x4 return_indices ({H // P} planes)", t0, checks)
del mo, idx, xs, x

# --- outputs of more than 2**31 elements -----------------------------------
# max_pool2d_backward, 4x4 windows of the one big plane, from indices made
# here (the forward on that plane would need its 10 GiB copy): each window's
# pick (dh, dw) varies, and positions h * W + w run past 2**31. The input is
# needed for its shape only.
t0 = time.perf_counter()
OH, OW = H // 4, W // 4
# window (oh, ow) picks row oh % 4 and column (3 * ow) % 4 of itself
idx = np.empty((1, 1, OH, OW), np.int64)
rows = np.arange(OH, dtype=np.int64)
cols = np.arange(OW, dtype=np.int64)
np.add(((4 * rows + rows % 4) * W)[:, None], (4 * cols + 3 * cols % 4)[None, :],
       out=idx[0, 0])
go = plane(OH, OW, 3)
gin = cc.max_pool2d_backward(go, np.broadcast_to(np.float32(0), (1, 1, H, W)), 4,
                             indices=idx)
checks = [dict(what="max_pool2d_backward index past 2**31",
               ok=bool(idx[0, 0, -1, -1] > 2**31), max_index=int(idx[0, 0, -1, -1]))]
for o0, o1 in strips(OH, 3, 4):
    want = np.zeros((4 * (o1 - o0), W))
    np.put(want, (idx[0, 0, o0:o1] - 4 * o0 * W).ravel(), go[0, 0, o0:o1].ravel())
    checks.append(exact(f"max_pool2d_backward rows {4 * o0}:{4 * o1}",
                        gin[0, 0, 4 * o0:4 * o1], want))
record("max_pool2d_backward 4x4 (indices)", t0, checks)
del gin, go, idx

# avg_pool2d_backward 2x2 over the 4096 planes: each input cell gets a
# quarter of its window's gradient; the dropped last column gets 0
t0 = time.perf_counter()
go = plane(H // 2, W // 2, 1).reshape(1, H // P, P // 2, W // 2)
gin = cc.avg_pool2d_backward(go, (1, H // P, P, W), 2)
checks = []
for c0, c1 in plane_strips(H // P, 3):
    want = np.zeros((c1 - c0, P, W))
    want[:, :, :W - 1] = np.repeat(np.repeat(go[0, c0:c1], 2, axis=1), 2, axis=2) / 4
    checks.append(exact(f"avg_pool2d_backward planes {c0}:{c1}", gin[0, c0:c1], want))
record(f"avg_pool2d_backward 2x2 ({H // P} planes)", t0, checks)
del gin, go

# conv2d_grad_input, stride 2, over 4096 images of 16 rows: its drivers
# keep a padded copy of the gradient planes of the channel block a thread
# works on, so one 8 GiB plane would need 18 GiB here
t0 = time.perf_counter()
NI = H // P
OH, OW = (P - 3) // 2 + 1, (W - 3) // 2 + 1
go = plane(NI * OH, OW, 2).reshape(NI, 1, OH, OW)
np.remainder(go, 7, out=go)
go -= 3
gin = cc.conv2d_grad_input(go, w, (NI, 1, P, W), stride=2)
checks = []
for c0, c1 in plane_strips(NI, 3):
    want = ref.conv2d_grad_input(go[c0:c1].astype(np.float64), w.astype(np.float64),
                                 (c1 - c0, 1, P, W), stride=2)
    checks.append(exact(f"conv2d_grad_input images {c0}:{c1}", gin[c0:c1], want))
record(f"conv2d_grad_input 3x3 s2 ({NI} images of {P}x{W})", t0, checks)
"""


@pytest.mark.slow
def test_tensors_over_2_31_elements():
    avail = _mem_available_gib()
    if avail is None or avail < LARGE_NEED_GIB:
        pytest.skip(f"needs {LARGE_NEED_GIB} GiB of MemAvailable (peak use about 10.1 GiB), "
                    f"have {avail if avail is None else round(avail, 1)} GiB")
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(convcore.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                       text=True, timeout=900)
    records = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    print(f"\nMemAvailable {avail:.1f} GiB before; per step (seconds include the checks):")
    for r in records:
        print(f"  {r['op']:52s} {r['seconds']:6.2f} s  peak RSS so far {r['peak_gib']:5.2f} GiB")
    assert p.returncode == 0, (f"child exited with {p.returncode}\n"
                               f"stdout:\n{p.stdout[-4000:]}\nstderr:\n{p.stderr[-4000:]}")
    assert len(records) == 9, p.stdout
    # a result one row off would have been caught
    assert records[1]["op"] == "conv2d 3x3 s2 fwd"
    assert records[1]["control"]["ok"] is False, records[1]["control"]
    bad = [c for r in records for c in r["checks"] if not c["ok"]]
    assert not bad, bad
    # the strips around element 2**31 were really checked
    assert sum(len(r["checks"]) for r in records) == 26
