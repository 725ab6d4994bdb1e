"""Bad inputs: each raises the right error type, with a message that names the
argument and what it got, before any kernel runs.

An autouse fixture swaps the Cython drivers out for a guard that fails the
test if any of them is reached, so every case here also shows that the error
comes from the Python front, before any work (or any crash) happens.
"""
import re

import numpy as np
import pytest

import convcore
from convcore import functional

F = convcore


class _NoKernels:
    def __getattr__(self, name):
        raise AssertionError(f"driver _conv.{name} reached with bad input")


@pytest.fixture(autouse=True)
def no_kernels(monkeypatch):
    monkeypatch.setattr(functional, "_conv", _NoKernels())


def z(*shape, dtype=np.float64):
    return np.zeros(shape, dtype)


X = z(1, 3, 5, 5)      # input
W = z(2, 3, 3, 3)      # weight
GO = z(1, 2, 3, 3)     # grad_output of conv2d(X, W)
X1 = z(1, 3, 7)
W1 = z(2, 3, 3)
GO1 = z(1, 2, 5)

LONGDOUBLE = np.dtype(np.longdouble)

# (id, callable, exception, regex the message must match)
CASES = [
    # --- ndim
    ("input_2d", lambda: F.conv2d(z(3, 5), W), ValueError,
     r"conv2d: input must be 4-D \(N, C, H, W\) or 3-D \(C, H, W\), got shape \(3, 5\)"),
    ("input_5d", lambda: F.conv2d(z(1, 1, 3, 5, 5), W), ValueError,
     r"input must be 4-D .*got shape \(1, 1, 3, 5, 5\)"),
    ("weight_3d", lambda: F.conv2d(X, z(2, 3, 3)), ValueError,
     r"conv2d: weight must be 4-D \(OC, C/groups, KH, KW\), got shape \(2, 3, 3\)"),
    ("weight_5d", lambda: F.conv2d(X, z(2, 3, 3, 3, 1)), ValueError,
     r"weight must be 4-D .*got shape \(2, 3, 3, 3, 1\)"),
    ("weight_shape_3d", lambda: F.conv2d_grad_weight(GO, X, (2, 3, 3)), ValueError,
     r"conv2d_grad_weight: weight must be 4-D .*got shape \(2, 3, 3\)"),
    ("input_shape_2d", lambda: F.conv2d_grad_input(GO, W, (5, 5)), ValueError,
     r"conv2d_grad_input: input must be 4-D .*got shape \(5, 5\)"),
    # --- channels and groups
    ("channels_mismatch", lambda: F.conv2d(z(1, 4, 5, 5), W), ValueError,
     r"input has C=4 channels but weight \(2, 3, 3, 3\) with groups=1 expects C = 3"),
    ("channels_mismatch_groups", lambda: F.conv2d(z(1, 4, 5, 5), z(4, 1, 3, 3), groups=2),
     ValueError, r"C=4 channels but weight \(4, 1, 3, 3\) with groups=2 expects C = 1 \* 2 = 2"),
    ("C_not_divisible_by_groups", lambda: F.conv2d(z(1, 4, 5, 5), z(3, 2, 3, 3), groups=3),
     ValueError, r"input channels C=4 \(input shape \(1, 4, 5, 5\)\) are not divisible by groups=3"),
    ("OC_not_divisible_by_groups", lambda: F.conv2d(z(1, 4, 5, 5), z(3, 2, 3, 3), groups=2),
     ValueError, r"weight out_channels 3 .*not divisible by groups=2"),
    ("groups_0", lambda: F.conv2d(X, W, groups=0), ValueError, r"groups must be >= 1, got 0"),
    ("C_0", lambda: F.conv2d(z(1, 0, 5, 5), z(2, 0, 3, 3)), ValueError,
     r"input has 0 channels .*zero channels"),
    ("kernel_size_0", lambda: F.conv2d(X, z(2, 3, 0, 3)), ValueError,
     r"kernel size must be >= 1, got weight shape \(2, 3, 0, 3\)"),
    # --- geometry
    ("kernel_larger_than_input", lambda: F.conv2d(z(1, 3, 2, 5), W), ValueError,
     r"kernel \(3, 3\) .*larger than the padded input \(2, 5\)"),
    ("kernel_larger_dilated", lambda: F.conv2d(z(1, 3, 4, 4), W, dilation=2), ValueError,
     r"span \(5, 5\)\) is larger than the padded input \(4, 4\)"),
    ("kernel_larger_padded", lambda: F.conv2d(z(1, 3, 1, 1), z(2, 3, 4, 4), padding=1),
     ValueError, r"larger than the padded input \(3, 3\)"),
    ("stride_0", lambda: F.conv2d(X, W, stride=0), ValueError,
     r"stride must be >= 1, got \(0, 0\)"),
    ("stride_negative", lambda: F.conv2d(X, W, stride=-1), ValueError,
     r"stride must be >= 1, got \(-1, -1\)"),
    ("stride_1_0", lambda: F.conv2d(X, W, stride=(1, 0)), ValueError,
     r"stride must be >= 1, got \(1, 0\)"),
    ("dilation_0", lambda: F.conv2d(X, W, dilation=0), ValueError,
     r"dilation must be >= 1, got \(0, 0\)"),
    ("padding_negative", lambda: F.conv2d(X, W, padding=-1), ValueError,
     r"padding must be >= 0, got \(-1, -1\)"),
    ("padding_negative_pair", lambda: F.conv2d(X, W, padding=(0, -2)), ValueError,
     r"padding must be >= 0, got \(0, -2\)"),
    ("same_with_stride_2", lambda: F.conv2d(X, W, padding="same", stride=2), ValueError,
     r"padding='same' needs stride 1, got stride=\(2, 2\)"),
    ("same_with_stride_1_2", lambda: F.conv2d(X, W, padding="same", stride=(1, 2)),
     ValueError, r"padding='same' needs stride 1"),
    ("padding_unknown", lambda: F.conv2d(X, W, padding="full"), ValueError,
     r"padding must be 'valid', 'same', an int or a sequence of 2 ints, got 'full'"),
    ("padding_upper_case", lambda: F.conv2d(X, W, padding="SAME"), ValueError,
     r"padding must be .*got 'SAME'"),
    ("stride_len_3", lambda: F.conv2d(X, W, stride=(1, 2, 3)), ValueError,
     r"stride must be an int or a sequence of 2 ints, got \(1, 2, 3\)"),
    ("padding_len_1", lambda: F.conv2d(X, W, padding=(1,)), ValueError,
     r"padding must be an int or a sequence of 2 ints, got \(1,\)"),
    ("dilation_list_len_3", lambda: F.conv2d(X, W, dilation=[1, 1, 1]), ValueError,
     r"dilation must be an int or a sequence of 2 ints, got \[1, 1, 1\]"),
    # --- non-int arguments
    ("stride_float", lambda: F.conv2d(X, W, stride=2.5), TypeError,
     r"conv2d: stride must be an int, got float 2.5"),
    ("stride_float_in_pair", lambda: F.conv2d(X, W, stride=(1, 2.0)), TypeError,
     r"stride must be an int, got float 2.0"),
    ("stride_bool", lambda: F.conv2d(X, W, stride=True), TypeError,
     r"stride must be an int, got True"),
    ("dilation_float", lambda: F.conv2d(X, W, dilation=1.5), TypeError,
     r"dilation must be an int, got float 1.5"),
    ("padding_float", lambda: F.conv2d(X, W, padding=1.5), TypeError,
     r"padding must be an int, got float 1.5"),
    ("groups_float", lambda: F.conv2d(X, W, groups=1.0), TypeError,
     r"groups must be an int, got float 1.0"),
    ("stride_none", lambda: F.conv2d(X, W, stride=None), TypeError,
     r"stride must be an int, got NoneType None"),
    # --- bias
    ("bias_too_long", lambda: F.conv2d(X, W, z(3)), ValueError,
     r"bias must have shape \(2,\) .*got \(3,\)"),
    ("bias_2d", lambda: F.conv2d(X, W, z(2, 1)), ValueError,
     r"bias must have shape \(2,\) .*got \(2, 1\)"),
    ("bias_scalar", lambda: F.conv2d(X, W, 1.0), ValueError,
     r"bias must have shape \(2,\) .*got \(\)"),
    # --- dtypes
    ("input_complex", lambda: F.conv2d(X.astype(complex), W), TypeError,
     r"conv2d: input has unsupported dtype complex128"),
    ("weight_complex64", lambda: F.conv2d(X, W.astype(np.complex64)), TypeError,
     r"weight has unsupported dtype complex64"),
    ("bias_complex", lambda: F.conv2d(X, W, z(2, dtype=complex)), TypeError,
     r"bias has unsupported dtype complex128"),
    ("grad_output_complex", lambda: F.conv2d_backward(GO.astype(complex), X, W), TypeError,
     r"conv2d_backward: grad_output has unsupported dtype complex128"),
    ("input_bool", lambda: F.conv2d(X.astype(bool), W), TypeError,
     r"input has unsupported dtype bool"),
    ("weight_bool", lambda: F.conv2d_grad_input(GO, W.astype(bool), X.shape), TypeError,
     r"conv2d_grad_input: weight has unsupported dtype bool"),
    ("input_object", lambda: F.conv2d(X.astype(object), W), TypeError,
     r"input has unsupported dtype object"),
    ("input_string", lambda: F.conv2d(np.full((1, 3, 5, 5), "a"), W), TypeError,
     r"input has unsupported dtype <U1"),
    ("input_bytes", lambda: F.conv2d(np.full((1, 3, 5, 5), b"a"), W), TypeError,
     r"input has unsupported dtype \|S1"),
    pytest.param(
        "input_longdouble", lambda: F.conv2d(X.astype(np.longdouble), W), TypeError,
        r"input has dtype " + re.escape(str(LONGDOUBLE)),
        marks=pytest.mark.skipif(LONGDOUBLE.itemsize <= 8,
                                 reason="long double is float64 on this platform")),
    pytest.param(
        "grad_output_longdouble",
        lambda: F.conv2d_grad_weight(GO.astype(np.longdouble), X, W.shape), TypeError,
        r"conv2d_grad_weight: grad_output has dtype " + re.escape(str(LONGDOUBLE)),
        marks=pytest.mark.skipif(LONGDOUBLE.itemsize <= 8,
                                 reason="long double is float64 on this platform")),
    ("input_none", lambda: F.conv2d(None, W), TypeError, r"input must be an array, got None"),
    ("input_ragged", lambda: F.conv2d([[1.0, 2.0], [3.0]], W), TypeError,
     r"input could not be read as an array"),
    # --- grad_output shape
    ("backward_grad_output", lambda: F.conv2d_backward(z(1, 2, 3, 4), X, W), ValueError,
     r"conv2d_backward: grad_output has shape \(1, 2, 3, 4\), expected \(1, 2, 3, 3\)"),
    ("backward_grad_output_oc", lambda: F.conv2d_backward(z(1, 3, 3, 3), X, W), ValueError,
     r"grad_output has shape \(1, 3, 3, 3\), expected \(1, 2, 3, 3\)"),
    ("backward_grad_output_batch", lambda: F.conv2d_backward(z(2, 2, 3, 3), X, W), ValueError,
     r"grad_output has shape \(2, 2, 3, 3\), expected \(1, 2, 3, 3\)"),
    ("backward_grad_output_unbatched", lambda: F.conv2d_backward(z(1, 2, 3, 3), X[0], W),
     ValueError, r"grad_output has shape \(1, 2, 3, 3\), expected \(2, 3, 3\)"),
    ("grad_input_grad_output", lambda: F.conv2d_grad_input(z(1, 2, 4, 3), W, X.shape),
     ValueError, r"conv2d_grad_input: grad_output has shape \(1, 2, 4, 3\), expected "
     r"\(1, 2, 3, 3\)"),
    ("grad_weight_grad_output", lambda: F.conv2d_grad_weight(z(1, 2, 2, 2), X, W.shape),
     ValueError, r"conv2d_grad_weight: grad_output has shape \(1, 2, 2, 2\), expected "
     r"\(1, 2, 3, 3\)"),
    ("grad_weight_grad_output_stride", lambda: F.conv2d_grad_weight(GO, X, W.shape, stride=2),
     ValueError, r"grad_output has shape \(1, 2, 3, 3\), expected \(1, 2, 2, 2\)"),
    # --- shape arguments
    ("input_shape_negative", lambda: F.conv2d_grad_input(GO, W, (1, 3, -5, 5)), ValueError,
     r"input_shape must not have negative sizes, got \(1, 3, -5, 5\)"),
    ("input_shape_int", lambda: F.conv2d_grad_input(GO, W, 5), TypeError,
     r"input_shape must be a sequence of ints, got 5"),
    ("weight_shape_none", lambda: F.conv2d_grad_weight(GO, X, None), TypeError,
     r"weight_shape must be a sequence of ints, got None"),
    ("input_shape_float", lambda: F.conv2d_grad_input(GO, W, (1, 3, 5.7, 5)), TypeError,
     r"input_shape"),
    ("weight_shape_float", lambda: F.conv2d_grad_weight(GO, X, (2, 3, 3.5, 3)), TypeError,
     r"weight_shape"),
    # --- conv1d
    ("conv1d_input_4d", lambda: F.conv1d(X, W1), ValueError,
     r"conv1d: input must be 3-D \(N, C, L\) or 2-D \(C, L\), got shape \(1, 3, 5, 5\)"),
    ("conv1d_input_1d", lambda: F.conv1d(z(7), W1), ValueError,
     r"conv1d: input must be 3-D .*got shape \(7,\)"),
    ("conv1d_weight_4d", lambda: F.conv1d(X1, W), ValueError,
     r"conv1d: weight must be 3-D \(OC, C/groups, K\), got shape \(2, 3, 3, 3\)"),
    ("conv1d_channels", lambda: F.conv1d(z(1, 4, 7), W1), ValueError,
     r"conv1d: input has C=4 channels but weight \(2, 3, 3\)"),
    ("conv1d_groups", lambda: F.conv1d(z(1, 4, 7), z(3, 2, 3), groups=2), ValueError,
     r"conv1d: weight out_channels 3 .*not divisible by groups=2"),
    ("conv1d_C_0", lambda: F.conv1d(z(1, 0, 7), z(2, 0, 3)), ValueError, r"0 channels"),
    ("conv1d_K_0", lambda: F.conv1d(X1, z(2, 3, 0)), ValueError,
     r"kernel size must be >= 1, got weight shape \(2, 3, 0\)"),
    ("conv1d_kernel_larger", lambda: F.conv1d(z(1, 3, 2), W1), ValueError,
     r"conv1d: kernel \(3,\) .*larger than the padded input \(2,\)"),
    ("conv1d_stride_pair", lambda: F.conv1d(X1, W1, stride=(1, 1)), ValueError,
     r"conv1d: stride must be an int or a sequence of 1 ints, got \(1, 1\)"),
    ("conv1d_stride_0", lambda: F.conv1d(X1, W1, stride=0), ValueError,
     r"stride must be >= 1, got \(0,\)"),
    ("conv1d_stride_float", lambda: F.conv1d(X1, W1, stride=2.5), TypeError,
     r"conv1d: stride must be an int, got float 2.5"),
    ("conv1d_dilation_0", lambda: F.conv1d(X1, W1, dilation=0), ValueError,
     r"dilation must be >= 1, got \(0,\)"),
    ("conv1d_padding_negative", lambda: F.conv1d(X1, W1, padding=-1), ValueError,
     r"padding must be >= 0, got \(-1,\)"),
    ("conv1d_same_stride2", lambda: F.conv1d(X1, W1, padding="same", stride=2), ValueError,
     r"conv1d: padding='same' needs stride 1"),
    ("conv1d_padding_unknown", lambda: F.conv1d(X1, W1, padding="causal"), ValueError,
     r"padding must be 'valid', 'same', an int or a sequence of 1 ints, got 'causal'"),
    ("conv1d_complex", lambda: F.conv1d(X1.astype(complex), W1), TypeError,
     r"conv1d: input has unsupported dtype complex128"),
    ("conv1d_bias", lambda: F.conv1d(X1, W1, z(3)), ValueError,
     r"conv1d: bias must have shape \(2,\)"),
    ("conv1d_backward_grad_output", lambda: F.conv1d_backward(z(1, 2, 4), X1, W1), ValueError,
     r"conv1d_backward: grad_output has shape \(1, 2, 4\), expected \(1, 2, 5\)"),
    ("conv1d_grad_input_grad_output", lambda: F.conv1d_grad_input(z(1, 2, 4), W1, X1.shape),
     ValueError, r"conv1d_grad_input: grad_output has shape \(1, 2, 4\), expected \(1, 2, 5\)"),
    ("conv1d_grad_weight_grad_output",
     lambda: F.conv1d_grad_weight(z(1, 2, 6), X1, W1.shape), ValueError,
     r"conv1d_grad_weight: grad_output has shape \(1, 2, 6\), expected \(1, 2, 5\)"),
    ("conv1d_grad_input_shape_4d", lambda: F.conv1d_grad_input(GO1, W1, (1, 3, 7, 1)),
     ValueError, r"conv1d_grad_input: input must be 3-D .*got shape \(1, 3, 7, 1\)"),
]


def _param(c):
    if hasattr(c, "values"):  # already a pytest.param (with marks)
        return pytest.param(*c.values, marks=c.marks, id=c.values[0])
    return pytest.param(*c, id=c[0])


@pytest.mark.parametrize("name,fn,exc,pattern", [_param(c) for c in CASES])
def test_bad_input(name, fn, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fn()


@pytest.mark.parametrize("shape,fn_name", [((4, 5, 5), "conv2d"), ((4, 7), "conv1d")])
def test_channel_mismatch_message_shows_the_callers_shape(shape, fn_name):
    # an unbatched call: the message should quote the shape the caller gave,
    # not the internal batched (1, C, ...) shape
    w = W if fn_name == "conv2d" else W1
    with pytest.raises(ValueError, match=r"C=4 channels") as info:
        getattr(F, fn_name)(z(*shape), w)
    assert str(shape) in str(info.value), str(info.value)


def test_bad_inputs_leave_arguments_untouched_and_module_usable(monkeypatch):
    x = np.arange(75, dtype=np.float32).reshape(1, 3, 5, 5)
    w = np.ones((2, 3, 3, 3), np.float32)
    go = np.ones((1, 2, 4, 4), np.float32)  # wrong shape: (1, 2, 3, 3) expected
    x0, w0, go0 = x.copy(), w.copy(), go.copy()
    with pytest.raises(ValueError, match="grad_output"):
        F.conv2d_backward(go, x, w)
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(x, w, stride=0)
    assert np.array_equal(x, x0) and np.array_equal(w, w0) and np.array_equal(go, go0)
    # the real drivers still work afterwards
    monkeypatch.undo()
    out = F.conv2d(x, w)
    assert out.shape == (1, 2, 3, 3)
    assert out[0, 0, 0, 0] == x[0, :, :3, :3].sum()


@pytest.mark.parametrize("call,bad", [
    (lambda **k: F.conv2d(X, W, **k), dict(stride=1.0)),
    (lambda **k: F.conv2d(X, W, **k), dict(stride=True)),
    (lambda **k: F.conv2d(X, W, **k), dict(padding=np.float64(1))),
    (lambda **k: F.conv2d(X, W, **k), dict(groups=True)),
    (lambda **k: F.max_pool2d(X, **k), dict(kernel_size=2.0)),
    (lambda **k: F.avg_pool2d(X, **k), dict(kernel_size=True)),
])
def test_a_call_seen_before_does_not_let_an_equal_bad_argument_through(
        monkeypatch, call, bad):
    # validation is memoized per argument list; 1.0 and True compare equal
    # to 1, so the valid call goes first and the bad one must still fail
    monkeypatch.undo()
    good = {k: (1 if k in ("stride", "groups", "padding") else 2) for k in bad}
    call(**good)
    call(**good)
    with pytest.raises(TypeError, match="must be an int"):
        call(**bad)


def test_memoized_validation_stays_bounded_and_tables_read_only(monkeypatch):
    from convcore import _params
    monkeypatch.undo()
    for n in range(_params._MEMO_SIZE + 10):
        F.max_pool2d(z(1, 1, 2, n + 2), 2)
    assert len(_params._MEMO) <= _params._MEMO_SIZE
    pc = convcore._cnn_ops._pool_call("max_pool2d", 2, (1, 1, 4, 4), 2, None, 0, 1,
                                      False)
    hs, ws = pc.first_cells()
    with pytest.raises(ValueError, match="read-only"):
        hs[0] = 5
