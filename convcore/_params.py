"""Argument normalization and validation: the one place for the output-size
formula, dtype rules and the error messages users see."""
import operator
import sys

import numpy as np

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _int(value, what):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be an int, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{what} must be an int, got {type(value).__name__} {value!r}"
        ) from None


# the largest stride, dilation, padding or kernel span accepted: offsets in
# the kernels' tables stay far from 64-bit overflow whatever the input size
INDEX_LIMIT = 2**31 - 1


def check_elements(fn, what, shape):
    """Refuse a result no array could hold (more bytes, at 8 per element,
    than the address space), before anything sizes a buffer from it."""
    n = 1
    for v in shape:
        n *= int(v)
    if n > sys.maxsize // 8:
        raise ValueError(
            f"{fn}: the {what} would have shape {tuple(int(v) for v in shape)} "
            f"({n} elements), more than any array can hold")


def tuple_arg(value, name, fn, nd):
    """Normalize an int-or-sequence argument to a tuple of `nd` ints."""
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != nd:
            raise ValueError(
                f"{fn}: {name} must be an int or a sequence of {nd} ints, "
                f"got {value!r}"
            )
        return tuple(_int(v, f"{fn}: {name}") for v in value)
    v = _int(value, f"{fn}: {name}")
    return (v,) * nd


def compute_dtype(fn, **arrays):
    """The dtype a call computes in: np.result_type of its array arguments,
    float16 promoted to float32 and integers to float64 (NumPy's habit)."""
    common = None  # the usual call: every array already float32 (or float64)
    for a in arrays.values():
        if a is not None:
            if common is None:
                common = a.dtype
            elif a.dtype is not common:
                break
    else:
        if common is _F32 or common is _F64:
            return common
    dtypes = []
    for name, a in arrays.items():
        if a is None:
            continue
        dt = a.dtype
        if dt.kind == "f":
            if dt.itemsize > 8:
                raise TypeError(
                    f"{fn}: {name} has dtype {dt}; supported: float16/32/64 "
                    "and integers (computed as float32 or float64)"
                )
        elif dt.kind not in "iu":
            raise TypeError(
                f"{fn}: {name} has unsupported dtype {dt}; expected a real "
                "floating point or integer array (float32/float64 computed)"
            )
        dtypes.append(dt)
    dt = np.result_type(*dtypes)
    if dt.kind in "iu":
        return np.dtype(np.float64)
    if dt.itemsize < 4:
        return np.dtype(np.float32)
    return dt


def as_array(value, name, fn):
    if isinstance(value, np.ndarray):
        return value
    if value is None:
        raise TypeError(f"{fn}: {name} must be an array, got None")
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{fn}: {name} could not be read as an array: {e}") from None
    return arr


def conv_geometry(fn, x_shape, w_shape, stride, padding, dilation, groups, nd,
                  shown_shape=None, check_size=True):
    """Validate a convolution and return its geometry.

    `x_shape` is batched (N, C, *spatial) and `w_shape` (OC, C/groups,
    *kernel), both with `nd` spatial dims. Returns
    ``(out_spatial, stride, pad_before, dilation, groups)``, each a tuple of
    `nd` ints except groups; padding 'same' pads `pad_before` on top/left and
    the rest (possibly one more) on bottom/right, as PyTorch does.
    `shown_shape` is the input shape as the caller gave it (for messages);
    `check_size=False` skips the output's element count (a layer checking
    its arguments against a stand-in input).
    """
    shown = tuple(x_shape if shown_shape is None else shown_shape)
    N, C = x_shape[0], x_shape[1]
    OC, Cg = w_shape[0], w_shape[1]
    spatial = x_shape[2:]
    ksize = w_shape[2:]
    groups = _int(groups, f"{fn}: groups")
    stride = tuple_arg(stride, "stride", fn, nd)
    dilation = tuple_arg(dilation, "dilation", fn, nd)
    if groups < 1:
        raise ValueError(f"{fn}: groups must be >= 1, got {groups}")
    if min(stride) < 1:
        raise ValueError(f"{fn}: stride must be >= 1, got {stride}")
    if min(dilation) < 1:
        raise ValueError(f"{fn}: dilation must be >= 1, got {dilation}")
    if C == 0 or Cg == 0:
        raise ValueError(
            f"{fn}: input has {C} channels and weight {w_shape} expects {Cg} per "
            "group; a convolution over zero channels is meaningless"
        )
    if min(ksize) < 1:
        raise ValueError(f"{fn}: kernel size must be >= 1, got weight shape {w_shape}")
    if C % groups:
        raise ValueError(
            f"{fn}: input channels C={C} (input shape {shown}) are not "
            f"divisible by groups={groups}"
        )
    if OC % groups:
        raise ValueError(
            f"{fn}: weight out_channels {OC} (weight shape {w_shape}) are not "
            f"divisible by groups={groups}"
        )
    if Cg * groups != C:
        raise ValueError(
            f"{fn}: input has C={C} channels but weight {w_shape} with "
            f"groups={groups} expects C = {Cg} * {groups} = {Cg * groups} "
            f"(input shape {shown})"
        )
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, ksize))
    if isinstance(padding, str):
        if padding == "valid":
            pad = (0,) * nd
            padded = spatial
        elif padding == "same":
            if max(stride) != 1:
                raise ValueError(
                    f"{fn}: padding='same' needs stride 1, got stride={stride}"
                )
            pad = tuple((s - 1) // 2 for s in span)
            padded = tuple(h + s - 1 for h, s in zip(spatial, span))
        else:
            raise ValueError(
                f"{fn}: padding must be 'valid', 'same', an int or a sequence "
                f"of {nd} ints, got {padding!r}"
            )
    else:
        pad = tuple_arg(padding, "padding", fn, nd)
        if min(pad) < 0:
            raise ValueError(f"{fn}: padding must be >= 0, got {pad}")
        padded = tuple(h + 2 * p for h, p in zip(spatial, pad))
    for what, v in (("stride", stride), ("dilation", dilation),
                    ("padding", pad), ("kernel span D*(K-1)+1", span)):
        if max(v) > INDEX_LIMIT:
            raise ValueError(
                f"{fn}: {what} {v} is larger than {INDEX_LIMIT} (2**31 - 1), "
                "the most a kernel offset may be")
    out = tuple((hp - s) // st + 1 for hp, s, st in zip(padded, span, stride))
    if min(out) < 1 or min(hp - s for hp, s in zip(padded, span)) < 0:
        raise ValueError(
            f"{fn}: kernel {ksize} with dilation {dilation} (span {span}) is "
            f"larger than the padded input {padded} (input shape {shown}, "
            f"padding {padding!r}); output size would be < 1"
        )
    if check_size:
        check_elements(fn, "output", (N, OC) + out)
    return out, stride, pad, dilation, groups


_MEMO = {}
_MEMO_SIZE = 1024


def memoized(make, *args):
    """``make(*args)``, built once for each distinct argument list and then
    reused: per-call validation of a call seen before costs one dict lookup.

    Only plain arguments are looked up: exact ints, strings, None, dtypes and
    tuples of exact ints (shapes). A float 1.0 or True compares equal to 1
    yet must still be refused, so a call holding any other value builds
    afresh (and raises as it should). A call that raises stores nothing. The
    objects made must not change after construction (they are shared)."""
    for v in args:
        t = type(v)
        if t is tuple:
            for e in v:
                if type(e) is not int:
                    return make(*args)
        elif not (t is int or t is str or v is None or isinstance(v, np.dtype)):
            return make(*args)
    key = (make,) + args
    obj = _MEMO.get(key)
    if obj is None:
        obj = make(*args)
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        _MEMO[key] = obj
    return obj


def shape_arg(value, name, fn):
    """A shape argument (input_shape, weight_shape) as a tuple of ints >= 0."""
    try:
        shape = tuple(_int(v, f"{fn}: {name}") for v in value)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be a sequence of ints, got {value!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{fn}: {name} must not have negative sizes, got {shape}")
    return shape
