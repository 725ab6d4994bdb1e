"""What each benchmarked op is timed against: zero-argument calls per
contender, built from one case's inputs.

Contenders, in table order:

* ``convcore``: the op under test.
* ``numpy``: the fastest plain NumPy (``convcore.bench.numpy_baselines``).
* ``reference``: ``convcore.reference``, the loop oracle.
* ``torch``: PyTorch CPU, when installed (forward and backward).
* ``onnxruntime``: a one-node ONNX model run by onnxruntime's CPU provider,
  when onnxruntime and onnx are installed (forward only: it has no
  backward).

Every call returns a new array, as every library does on its own: nobody is
handed a preallocated output, so nobody is spared the page faults of a
fresh one. A contender that cannot run is a :class:`Missing` with the
reason, shown in its column.
"""
import importlib

import convcore
from convcore import reference
from convcore.bench import numpy_baselines as nb

CONTENDERS = ("convcore", "numpy", "reference", "torch", "onnxruntime")
COMPARATORS = CONTENDERS[1:]


class Missing:
    """A contender that does not run on a case, and why (shown as
    ``n/a (why)``)."""

    def __init__(self, why):
        self.why = why

    def __repr__(self):
        return f"Missing({self.why!r})"


def optional(name):
    """Module `name`, or None when it is not installed (or fails to import).

    Examples
    --------
    >>> optional("a_module_that_is_not_there") is None
    True
    """
    try:
        return importlib.import_module(name)
    except Exception:  # not installed, or broken: either way not a contender
        return None


def versions():
    """Versions of the optional comparators, None where not installed."""
    out = {}
    for name in ("torch", "onnxruntime", "onnx", "threadpoolctl", "matplotlib"):
        m = optional(name)
        out[name] = getattr(m, "__version__", "unknown") if m else None
    return out


def _torch():
    t = optional("torch")
    return t if t is not None else Missing("not installed")


def _ort_session(op_type, x, inits, attrs, threads):
    """A session running one `op_type` node on input ``x`` (with constant
    inputs `inits`, a list of arrays), or a Missing."""
    ort, onnx = optional("onnxruntime"), optional("onnx")
    if ort is None or onnx is None:
        return Missing("not installed")
    from onnx import TensorProto, helper, numpy_helper

    elem = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}[str(x.dtype)]
    names = [f"c{i}" for i in range(len(inits))]
    node = helper.make_node(op_type, ["x"] + names, ["y"], **attrs)
    graph = helper.make_graph(
        [node], op_type.lower(), [helper.make_tensor_value_info("x", elem, x.shape)],
        [helper.make_tensor_value_info("y", elem, None)],
        initializer=[numpy_helper.from_array(a, n) for a, n in zip(inits, names)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every onnxruntime since 1.10 reads
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    # an idle onnxruntime pool spins by default, stealing the cores from
    # whichever contender runs next in the interleaved timing
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        sess = ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:  # e.g. no float64 kernel for this op
        if "NOT_IMPLEMENTED" in str(e):
            return Missing(f"no {x.dtype} {op_type} in onnxruntime")
        return Missing(f"onnxruntime failed: {str(e).splitlines()[0][:50]}")
    return lambda: sess.run(None, {"x": x})[0]


def conv2d(L, pass_, x, w, b, go, threads, with_reference=True):
    """Calls of every contender for one pass of conv layer `L`.

    Parameters
    ----------
    L : workload.Layer
    pass_ : {'fwd', 'bwd_data', 'bwd_weights'}
    x, w, b, go : ndarray
        Input, weight, bias and output gradient (``workload.make_inputs``).
    threads : int
        onnxruntime's thread count (the others follow their global setting).
    with_reference : bool
        Whether the loop reference runs (it takes seconds on large layers).

    Returns
    -------
    dict of str -> callable or Missing, in ``CONTENDERS`` order

    Examples
    --------
    >>> import numpy as np
    >>> from convcore.bench import workload
    >>> L = workload.layer("tiny_3x3")
    >>> x, w, b, go = workload.make_inputs(L, "float32", np.random.default_rng(0))
    >>> calls = conv2d(L, "fwd", x, w, b, go, threads=1)
    >>> calls["convcore"]().shape
    (2, 5, 10, 10)
    """
    a = dict(stride=L.stride, padding=L.pad, dilation=L.dil, groups=L.groups)
    calls = {}
    calls["convcore"] = {
        "fwd": lambda: convcore.conv2d(x, w, b, **a),
        "bwd_data": lambda: convcore.conv2d_grad_input(go, w, x.shape, **a),
        "bwd_weights": lambda: convcore.conv2d_grad_weight(go, x, w.shape, **a),
    }[pass_]
    calls["numpy"] = {
        "fwd": lambda: nb.conv2d_fwd(x, w, b, L),
        "bwd_data": lambda: nb.conv2d_bwd_data(go, w, x.shape, L),
        "bwd_weights": lambda: nb.conv2d_bwd_weights(go, x, L),
    }[pass_]
    calls["reference"] = {
        "fwd": lambda: reference.conv2d(x, w, b, **a),
        "bwd_data": lambda: reference.conv2d_grad_input(go, w, x.shape, **a),
        "bwd_weights": lambda: reference.conv2d_grad_weight(go, x, w.shape, **a),
    }[pass_] if with_reference else Missing("large; --reference all")
    torch = _torch()
    if isinstance(torch, Missing):
        calls["torch"] = torch
    else:
        tx, tw, tb, tgo = (torch.from_numpy(v) for v in (x, w, b, go))
        s, p, d = [L.stride] * 2, [L.pad] * 2, [L.dil] * 2
        cb = torch.ops.aten.convolution_backward
        calls["torch"] = {
            "fwd": lambda: torch.nn.functional.conv2d(tx, tw, tb, s, p, d, L.groups),
            "bwd_data": lambda: cb(tgo, tx, tw, None, s, p, d, False, [0, 0], L.groups,
                                   [True, False, False])[0],
            "bwd_weights": lambda: cb(tgo, tx, tw, None, s, p, d, False, [0, 0], L.groups,
                                      [False, True, False])[1],
        }[pass_]
    if pass_ != "fwd":
        calls["onnxruntime"] = Missing("fwd only")
    else:
        calls["onnxruntime"] = _ort_session(
            "Conv", x, [w, b],
            dict(kernel_shape=[L.K, L.K], strides=[L.stride] * 2, pads=[L.pad] * 4,
                 dilations=[L.dil] * 2, group=L.groups), threads)
    return calls


def pool2d(P, pass_, x, go, idx, threads, with_reference=True):
    """Calls of every contender for one pass of pooling layer `P`.

    `go` is the output gradient and `idx` the forward's indices (max
    pooling); the other arguments are as in :func:`conv2d`.
    """
    k, s, p = P.K, P.stride, P.pad
    mx = P.kind == "max"
    calls = {}
    if pass_ == "fwd":
        calls["convcore"] = (lambda: convcore.max_pool2d(x, k, s, p)) if mx else \
            (lambda: convcore.avg_pool2d(x, k, s, p))
        calls["numpy"] = lambda: nb.pool2d_fwd(x, P)
        calls["reference"] = (lambda: reference.max_pool2d(x, k, s, p)) if mx else \
            (lambda: reference.avg_pool2d(x, k, s, p))
    else:
        calls["convcore"] = (lambda: convcore.max_pool2d_backward(go, x, k, s, p, indices=idx)) \
            if mx else (lambda: convcore.avg_pool2d_backward(go, x.shape, k, s, p))
        calls["numpy"] = lambda: nb.pool2d_bwd(go, x, P, idx)
        calls["reference"] = (lambda: reference.max_pool2d_backward(go, x, k, s, p, indices=idx)) \
            if mx else (lambda: reference.avg_pool2d_backward(go, x.shape, k, s, p))
    if not with_reference:
        calls["reference"] = Missing("--reference all")
    torch = _torch()
    if isinstance(torch, Missing):
        calls["torch"] = torch
    else:
        tf = torch.nn.functional
        tx, tgo = torch.from_numpy(x), torch.from_numpy(go)
        if pass_ == "fwd":
            calls["torch"] = (lambda: tf.max_pool2d(tx, k, s, p)) if mx else \
                (lambda: tf.avg_pool2d(tx, k, s, p))
        elif mx:
            tidx = torch.from_numpy(idx)
            calls["torch"] = lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                tgo, tx, [k, k], [s, s], [p, p], [1, 1], False, tidx)
        else:
            calls["torch"] = lambda: torch.ops.aten.avg_pool2d_backward(
                tgo, tx, [k, k], [s, s], [p, p], False, True, None)
    if pass_ != "fwd":
        calls["onnxruntime"] = Missing("fwd only")
    else:
        attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)
        if not mx:
            attrs["count_include_pad"] = 1  # PyTorch's default, and convcore's
        calls["onnxruntime"] = _ort_session("MaxPool" if mx else "AveragePool", x, [],
                                            attrs, threads)
    return calls


_ONNX_ACT = {"relu": ("Relu", {}), "leaky_relu": ("LeakyRelu", {"alpha": 0.01}),
             "sigmoid": ("Sigmoid", {}), "tanh": ("Tanh", {})}


def activation(A, x, threads):
    """Calls of every contender for activation `A` (forward) on `x`.

    ``convcore.reference``'s activations are already vectorized NumPy: they
    are the ``numpy`` contender, and ``reference`` is left out.
    """
    name = A.fn
    calls = {
        "convcore": lambda: getattr(convcore, name)(x),
        "numpy": lambda: getattr(reference, name)(x),
        "reference": Missing("= numpy here"),
    }
    torch = _torch()
    if isinstance(torch, Missing):
        calls["torch"] = torch
    else:
        tx = torch.from_numpy(x)
        fn = torch.nn.functional.leaky_relu if name == "leaky_relu" else getattr(torch, name)
        calls["torch"] = lambda: fn(tx)
    op, attrs = _ONNX_ACT[name]
    calls["onnxruntime"] = _ort_session(op, x, [], attrs, threads)
    return calls
