"""Property-based tests (hypothesis) over the public ops.

Valid calls: random shapes, strides, padding, dilation, groups, dtypes and
memory layouts, each compared with ``convcore.reference``. Invalid calls:
one argument replaced by a value from a table of bad values (negative,
zero, huge, wrong types, mismatched shapes, zero-size dimensions, NaN/inf),
each giving a ValueError/TypeError or a documented result, never a crash.

Runs are derandomized (the same examples every run, no example database).
``CONVCORE_FUZZ_EXAMPLES=N`` sets the examples per test (default 100; the
slow test runs 10x); ``CONVCORE_FUZZ_REPORT=1`` prints how many calls ran
and how many distinct invalid-argument classes were tried.
"""
import atexit
import collections
import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import convcore  # noqa: E402
from convcore import reference as ref  # noqa: E402
from helpers import assert_matches  # noqa: E402

EXAMPLES = int(os.environ.get("CONVCORE_FUZZ_EXAMPLES", "100"))
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None,
                    deadline=None, suppress_health_check=list(HealthCheck))

CALLS = collections.Counter()      # valid calls checked against the reference
INVALID = collections.Counter()    # invalid calls, by class


def _report():
    if os.environ.get("CONVCORE_FUZZ_REPORT"):
        print(f"\nfuzz: {sum(CALLS.values())} valid calls {dict(CALLS)}; "
              f"{sum(INVALID.values())} invalid calls in {len(INVALID)} classes")


atexit.register(_report)

DTYPES = st.sampled_from([np.float32, np.float64])


def _layout(data, a):
    """The same values as `a` in a C-contiguous, Fortran-ordered or strided
    (every other element of a larger array) layout."""
    kind = data.draw(st.sampled_from(["c", "f", "strided", "negative"]))
    if kind == "f":
        return np.asfortranarray(a)
    if kind == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if kind == "negative" and a.ndim:
        return np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    return a


def _array(data, shape, dtype, key):
    r = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label=key))
    return _layout(data, r.standard_normal(shape).astype(dtype))


@st.composite
def conv_case(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    Cg, OCg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    N = draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4),
                                                         st.integers(1, 4))))
    dilation = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3),
                                                           st.integers(1, 3))))
    padding = draw(st.one_of(st.integers(0, 3),
                             st.tuples(st.integers(0, 3), st.integers(0, 3)),
                             st.sampled_from(["valid", "same"])))
    if padding == "same":
        stride = 1
    return dict(N=N, C=Cg * groups, H=H, W=W, OC=OCg * groups, KH=KH, KW=KW,
                kw=dict(stride=stride, padding=padding, dilation=dilation,
                        groups=groups))


@SETTINGS
@given(case=conv_case(), dtype=DTYPES, bias=st.booleans(),
       unbatched=st.booleans(), data=st.data())
def test_conv2d_random_valid_calls(case, dtype, bias, unbatched, data):
    c, kw = case, case["kw"]
    xs = (c["C"], c["H"], c["W"]) if unbatched else (c["N"], c["C"], c["H"], c["W"])
    x = _array(data, xs, dtype, "x")
    w = _array(data, (c["OC"], c["C"] // kw["groups"], c["KH"], c["KW"]), dtype, "w")
    b = _array(data, (c["OC"],), dtype, "b") if bias else None
    try:
        e = ref.conv2d(x, w, b, **kw)
    except ValueError:  # kernel larger than the padded input
        with pytest.raises(ValueError, match="larger than the padded input"):
            convcore.conv2d(x, w, b, **kw)
        INVALID["conv2d:kernel-larger-than-padded-input"] += 1
        return
    y = convcore.conv2d(x, w, b, **kw)
    assert_matches(y, e, dtype, rtol32=1e-4, rtol64=1e-10)
    go = _array(data, y.shape, dtype, "go")
    egx, egw, egb = ref.conv2d_backward(go, x, w, **kw)
    gx, gw, gb = convcore.conv2d_backward(go, x, w, **kw)
    assert_matches(gx, egx, dtype, rtol32=1e-4, rtol64=1e-10)
    assert_matches(gw, egw, dtype, rtol32=1e-4, rtol64=1e-10)
    assert_matches(gb, egb, dtype, rtol32=1e-4, rtol64=1e-10)
    CALLS["conv2d"] += 2


@st.composite
def pool_case(draw):
    k = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.integers(1, 4),
                            st.tuples(st.integers(1, 5), st.integers(1, 5))))
    padding = draw(st.tuples(st.integers(0, k[0] // 2), st.integers(0, k[1] // 2)))
    return dict(shape=(draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                       draw(st.integers(1, 11)), draw(st.integers(1, 11))),
                kw=dict(kernel_size=k, stride=stride, padding=padding,
                        ceil_mode=draw(st.booleans())),
                dilation=draw(st.integers(1, 3)),
                count_include_pad=draw(st.booleans()))


@SETTINGS
@given(case=pool_case(), dtype=DTYPES, special=st.booleans(), data=st.data())
def test_pooling_random_valid_calls(case, dtype, special, data):
    kw = case["kw"]
    x = _array(data, case["shape"], dtype, "x")
    if special:  # NaN, inf and repeated values: the max's rules on ties and NaN
        r = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        x = np.where(r.random(x.shape) < 0.2,
                     r.choice([np.nan, np.inf, -np.inf, 0.0, -0.0], x.shape),
                     np.round(x)).astype(dtype)
    mkw = dict(kw, dilation=case["dilation"])
    try:
        e, eidx = ref.max_pool2d(x, **mkw, return_indices=True)
    except ValueError:
        with pytest.raises(ValueError):
            convcore.max_pool2d(x, **mkw)
        INVALID["max_pool2d:window-larger-than-padded-input"] += 1
    else:
        y, idx = convcore.max_pool2d(x, **mkw, return_indices=True)
        np.testing.assert_array_equal(y, e.astype(dtype))
        np.testing.assert_array_equal(idx, eidx)
        if not special:  # (gradients at ties and NaN: the oracle's own tests)
            go = _array(data, y.shape, dtype, "go")
            assert_matches(convcore.max_pool2d_backward(go, x, **mkw, indices=idx),
                           ref.max_pool2d_backward(go, x, **mkw), dtype)
        CALLS["max_pool2d"] += 2
    akw = dict(kw, count_include_pad=case["count_include_pad"])
    try:
        e = ref.avg_pool2d(x, **akw)
    except ValueError:
        with pytest.raises(ValueError):
            convcore.avg_pool2d(x, **akw)
        return
    y = convcore.avg_pool2d(x, **akw)
    np.testing.assert_allclose(y, e, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-5, equal_nan=True)
    go = _array(data, y.shape, dtype, "go")
    assert_matches(convcore.avg_pool2d_backward(go, x.shape, **akw),
                   ref.avg_pool2d_backward(go, x.shape, **akw), dtype,
                   rtol32=1e-4, rtol64=1e-10)
    CALLS["avg_pool2d"] += 2


@SETTINGS
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=4), dtype=DTYPES,
       special=st.booleans(), slope=st.floats(-2, 2), data=st.data())
def test_elementwise_and_softmax_random_valid_calls(shape, dtype, special, slope, data):
    x = _array(data, tuple(shape), dtype, "x") if shape else np.asarray(
        data.draw(st.floats(-50, 50)), dtype)
    if special and x.size:  # every third value NaN, +-inf or huge, in turn
        x = x.copy()
        x.flat[::3] = np.resize(np.array([np.nan, np.inf, -np.inf, 1e30, -1e30],
                                         dtype), len(x.flat[::3]))
    for name, args in [("relu", ()), ("leaky_relu", (slope,)), ("sigmoid", ()),
                       ("tanh", ())]:
        got = getattr(convcore, name)(x, *args)
        exp = getattr(ref, name)(x, *args)
        np.testing.assert_allclose(got, exp, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-6, equal_nan=True)
        assert got.dtype == dtype and got.shape == x.shape
        CALLS[name] += 1
    if x.ndim and not special:
        axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
        got = convcore.softmax(x, axis=axis)
        assert got.shape == x.shape
        if x.size:
            np.testing.assert_allclose(got, ref.softmax(x, axis=axis), rtol=1e-5, atol=1e-7)
        CALLS["softmax"] += 1


@SETTINGS
@given(N=st.integers(0, 5), fin=st.integers(1, 7), fout=st.integers(1, 6),
       dtype=DTYPES, bias=st.booleans(), data=st.data())
def test_linear_and_cross_entropy_random_valid_calls(N, fin, fout, dtype, bias, data):
    x = _array(data, (N, fin), dtype, "x")
    w = _array(data, (fout, fin), dtype, "w")
    b = _array(data, (fout,), dtype, "b") if bias else None
    assert_matches(convcore.linear(x, w, b), ref.linear(x, w, b), dtype,
                   rtol32=1e-4, rtol64=1e-10)
    CALLS["linear"] += 1
    if N:
        t = np.random.default_rng(N).integers(0, fout, N)
        for reduction in ("mean", "sum", "none"):
            np.testing.assert_allclose(
                convcore.cross_entropy(x @ w.T, t, reduction),
                ref.cross_entropy(x @ w.T, t, reduction), rtol=1e-4, atol=1e-5)
            CALLS["cross_entropy"] += 1


# --------------------------------------------------------------------------
# invalid arguments
# --------------------------------------------------------------------------

# (kind, value): the bad values tried in place of an int-or-pair argument
BAD_VALUES = [
    ("negative", -1), ("zero", 0), ("huge", 2**62), ("over-int64", 2**64),
    ("min-int64", -2**63), ("float", 1.5), ("float-int", 2.0), ("nan", float("nan")),
    ("inf", float("inf")), ("bool", True), ("none", None), ("str", "x"),
    ("short-tuple", (1,)), ("long-tuple", (1, 2, 3)), ("empty-list", []),
    ("object", object()), ("np-float", np.float32(1)), ("mixed-negative", (1, -1)),
    ("pair-with-zero", (0, 1)), ("pair-huge", (1, 2**62)), ("complex", 1j),
    ("array-2d", np.ones((2, 2), int)), ("bytes", b"1"),
]

_X = np.ones((2, 3, 8, 8), np.float32)
_W = np.ones((4, 3, 3, 3), np.float32)

# (op, argument): how each bad value is put in
BAD_SLOTS = {
    "conv2d:stride": lambda v: convcore.conv2d(_X, _W, stride=v),
    "conv2d:padding": lambda v: convcore.conv2d(_X, _W, padding=v),
    "conv2d:dilation": lambda v: convcore.conv2d(_X, _W, dilation=v),
    "conv2d:groups": lambda v: convcore.conv2d(_X, _W, groups=v),
    "conv2d_grad_input:input_shape": lambda v: convcore.conv2d_grad_input(
        np.ones((2, 4, 6, 6), np.float32), _W, v),
    "conv2d_grad_weight:weight_shape": lambda v: convcore.conv2d_grad_weight(
        np.ones((2, 4, 6, 6), np.float32), _X, v),
    "conv1d:padding": lambda v: convcore.conv1d(_X[:, :, 0], _W[:, :, 0], padding=v),
    "max_pool2d:kernel_size": lambda v: convcore.max_pool2d(_X, v),
    "max_pool2d:stride": lambda v: convcore.max_pool2d(_X, 2, stride=v),
    "max_pool2d:padding": lambda v: convcore.max_pool2d(_X, 3, padding=v),
    "max_pool2d:dilation": lambda v: convcore.max_pool2d(_X, 2, dilation=v),
    "avg_pool2d:kernel_size": lambda v: convcore.avg_pool2d(_X, v),
    "avg_pool2d:stride": lambda v: convcore.avg_pool2d(_X, 2, stride=v),
    "avg_pool1d:kernel_size": lambda v: convcore.avg_pool1d(_X[:, :, 0], v),
    "adaptive_avg_pool2d:output_size": lambda v: convcore.adaptive_avg_pool2d(_X, v),
    "flatten:start_dim": lambda v: convcore.flatten(_X, v),
    "softmax:axis": lambda v: convcore.softmax(_X, axis=v),
    "leaky_relu:negative_slope": lambda v: convcore.leaky_relu(_X, v),
    "cross_entropy:target": lambda v: convcore.cross_entropy(np.ones((2, 3)), v),
}

# (class, call): bad arrays, each a class of its own
BAD_ARRAYS = {
    "conv2d:input-2d": lambda: convcore.conv2d(_X[0, 0], _W),
    "conv2d:input-5d": lambda: convcore.conv2d(_X[None], _W),
    "conv2d:channel-mismatch": lambda: convcore.conv2d(_X[:, :2], _W),
    "conv2d:weight-3d": lambda: convcore.conv2d(_X, _W[0]),
    "conv2d:bias-shape": lambda: convcore.conv2d(_X, _W, np.ones(3, np.float32)),
    "conv2d:kernel-too-large": lambda: convcore.conv2d(_X[:, :, :2, :2], _W),
    "conv2d:zero-channels": lambda: convcore.conv2d(_X[:, :0], _W[:, :0]),
    "conv2d:zero-batch": lambda: convcore.conv2d(_X[:0], _W),
    "conv2d:zero-height": lambda: convcore.conv2d(_X[:, :, :0], _W),
    "conv2d:zero-out-channels": lambda: convcore.conv2d(_X, _W[:0]),
    "conv2d:int-input": lambda: convcore.conv2d(_X.astype(int), _W),
    "conv2d:bool-input": lambda: convcore.conv2d(_X > 0, _W),
    "conv2d:complex-input": lambda: convcore.conv2d(_X.astype(complex), _W),
    "conv2d:object-input": lambda: convcore.conv2d(_X.astype(object), _W),
    "conv2d:float16-input": lambda: convcore.conv2d(_X.astype(np.float16), _W),
    "conv2d:nan-input": lambda: convcore.conv2d(np.full_like(_X, np.nan), _W),
    "conv2d:inf-weight": lambda: convcore.conv2d(_X, np.full_like(_W, np.inf)),
    "conv2d:string-input": lambda: convcore.conv2d("x", _W),
    "conv2d:ragged-list": lambda: convcore.conv2d([[1, 2], [3]], _W),
    "conv2d:same-with-stride": lambda: convcore.conv2d(_X, _W, stride=2, padding="same"),
    "conv2d:groups-not-dividing": lambda: convcore.conv2d(_X, _W, groups=2),
    "conv2d_backward:grad-shape": lambda: convcore.conv2d_backward(_X, _X, _W),
    "max_pool2d:pad-over-half": lambda: convcore.max_pool2d(_X, 2, padding=2),
    "max_pool2d:indices-shape": lambda: convcore.max_pool2d_backward(
        np.ones((2, 3, 4, 4), np.float32), _X, 2, indices=np.zeros((1,), np.int64)),
    "max_pool2d:indices-out-of-range": lambda: convcore.max_pool2d_backward(
        np.ones((2, 3, 4, 4), np.float32), _X, 2,
        indices=np.full((2, 3, 4, 4), 10**6, np.int64)),
    "avg_pool2d_backward:grad-shape": lambda: convcore.avg_pool2d_backward(
        _X, _X.shape, 2),
    "linear:feature-mismatch": lambda: convcore.linear(np.ones((2, 3)), np.ones((4, 5))),
    "linear:weight-1d": lambda: convcore.linear(np.ones((2, 3)), np.ones(3)),
    "cross_entropy:label-out-of-range": lambda: convcore.cross_entropy(
        np.ones((2, 3)), np.array([0, 3])),
    "cross_entropy:negative-label": lambda: convcore.cross_entropy(
        np.ones((2, 3)), np.array([0, -1])),
    "cross_entropy:reduction": lambda: convcore.cross_entropy(
        np.ones((2, 3)), np.array([0, 1]), reduction="avg"),
    "cross_entropy:logits-3d": lambda: convcore.cross_entropy(
        np.ones((2, 3, 1)), np.array([0, 1])),
    "softmax:empty-axis": lambda: convcore.softmax(np.ones((3, 0))),
    "relu:empty": lambda: convcore.relu(np.ones((0, 4), np.float32)),
    "set_num_threads:zero": lambda: convcore.set_num_threads(0),
}


def _check_outcome(call):
    """A ValueError/TypeError naming something, or a result that is an
    array (or NumPy scalar) of a float dtype: never another exception."""
    try:
        out = call()
    except (ValueError, TypeError) as e:
        assert str(e), "an error must say what was wrong"
        return "error"
    for a in out if isinstance(out, tuple) else (out,):
        assert isinstance(a, (np.ndarray, np.generic)), type(a)
        assert a.dtype.kind in "fi", a.dtype
    return "result"


@SETTINGS
@given(slot=st.sampled_from(sorted(BAD_SLOTS)), bad=st.sampled_from(BAD_VALUES))
def test_bad_argument_values_give_errors_or_documented_results(slot, bad):
    kind, value = bad
    _check_outcome(lambda: BAD_SLOTS[slot](value))
    INVALID[f"{slot}={kind}"] += 1


@pytest.mark.parametrize("name", sorted(BAD_ARRAYS))
def test_bad_arrays_give_errors_or_documented_results(name):
    try:
        _check_outcome(BAD_ARRAYS[name])
    finally:
        convcore.set_num_threads(None)
    INVALID[name] += 1
    # convcore stays usable after each
    y = convcore.conv2d(_X, _W)
    assert np.array_equal(y, np.full((2, 4, 6, 6), 27, np.float32))


@pytest.mark.parametrize("call, result_shape", [
    # regressions: these crashed (pooling with a huge stride), hung (adaptive
    # pooling to an impossible size) or gave NumPy's message instead of ours
    (lambda: convcore.max_pool2d(_X, 2, stride=2**62), (2, 3, 1, 1)),
    (lambda: convcore.avg_pool2d(_X, 2, stride=(1, 2**62)), (2, 3, 7, 1)),
    (lambda: convcore.max_pool2d(_X, 2, 2**62, 0, 1, True), (2, 3, 1, 1)),
    (lambda: convcore.softmax(np.ones((3, 0))), (3, 0)),
    (lambda: convcore.log_softmax(np.ones((0, 3)), axis=0), (0, 3)),
])
def test_edge_results(call, result_shape):
    assert call().shape == result_shape


def test_huge_stride_pooling_matches_the_reference():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 9)).astype(np.float32)
    for s in [(2**62, 1), (1, 2**40), 2**62]:
        np.testing.assert_array_equal(convcore.max_pool2d(x, 3, s, 1),
                                      ref.max_pool2d(x, 3, s, 1))
        np.testing.assert_allclose(convcore.avg_pool2d(x, 3, s, 1),
                                   ref.avg_pool2d(x, 3, s, 1), rtol=1e-6)


@pytest.mark.parametrize("call, pattern", [
    (lambda: convcore.conv2d(_X, _W, padding=2**30), "output would have shape"),
    (lambda: convcore.conv2d(_X, _W, padding=2**62), "2\\*\\*31 - 1"),
    (lambda: convcore.adaptive_avg_pool2d(_X, 2**31), "output would have shape"),
    (lambda: convcore.max_pool2d(_X, 2**16, padding=2**15), "more than 2\\*\\*31"),
    (lambda: convcore.flatten(_X, 1.0), "start_dim must be an int"),
])
def test_impossible_requests_are_refused_with_our_message(call, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        call()


@pytest.mark.slow
def test_fuzz_longer_run(tmp_path):
    """Ten times the examples, in a child process (the counts it prints are
    the figures the reliability note quotes)."""
    import subprocess
    import sys
    env = dict(os.environ, CONVCORE_FUZZ_EXAMPLES=str(10 * EXAMPLES),
               CONVCORE_FUZZ_REPORT="1")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p",
                        "no:cacheprovider", "-m", "not slow", __file__],
                       env=env, capture_output=True, text=True, timeout=1500,
                       cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "fuzz:" in r.stdout
    print(r.stdout[r.stdout.index("fuzz:"):].splitlines()[0])


@pytest.mark.parametrize("call", [
    # found by the atheris target: 'same' padding of a 2**63-1 kernel
    # overflowed a C size in the weight gradient
    lambda: convcore.conv2d_grad_weight(np.ones((3, 3, 3, 3), np.float32),
                                        np.ones((3, 3, 3, 3), np.float32),
                                        (3, 3, 2**63 - 1, 3), 1, "same", (3, 3)),
    lambda: convcore.conv2d(_X, _W, stride=2**31),
    lambda: convcore.conv2d(_X, _W, dilation=(1, 2**40)),
])
def test_offsets_beyond_31_bits_are_refused(call):
    with pytest.raises(ValueError, match="2\\*\\*31 - 1"):
        call()
