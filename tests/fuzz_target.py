"""Coverage-guided fuzz target (atheris) for convcore's argument parsing and
kernel dispatch: the input bytes choose an op, array shapes (zero-size
dimensions included), dtypes, layouts and every int-or-pair argument,
negative and huge values included. A call may return a result or raise
ValueError/TypeError; any other exception, or a crash of the process, is a
finding.

    python tests/fuzz_target.py -max_total_time=30 -rss_limit_mb=8192

(tests/test_fuzz_atheris.py runs it for a bounded time.)
"""
import sys

import atheris

with atheris.instrument_imports(include=["convcore"]):
    import numpy as np

    import convcore

convcore.set_num_threads(1)

_INTS = [0, 1, 2, 3, 5, -1, -2, 2**31, 2**62, 2**63 - 1, -2**63, 7]


def _int(fdp):
    """Mostly small ints, sometimes one of the edge values above."""
    if fdp.ConsumeIntInRange(0, 7) == 0:
        return _INTS[fdp.ConsumeIntInRange(0, len(_INTS) - 1)]
    return fdp.ConsumeIntInRange(0, 5)


def _arg(fdp):
    """An int-or-pair argument, or now and then something of the wrong kind."""
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind < 5:
        return _int(fdp)
    if kind < 8:
        return (_int(fdp), _int(fdp))
    return [1.5, None, "same", "valid", (1, 2, 3), float("nan")][
        fdp.ConsumeIntInRange(0, 5)]


def _array(fdp, ndim):
    shape = tuple(fdp.ConsumeIntInRange(0, 6) for _ in range(ndim))
    dtype = [np.float32, np.float64, np.int32, np.float16][fdp.ConsumeIntInRange(0, 3)]
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) % 7 - 3
    a = a.astype(dtype)
    if ndim and fdp.ConsumeBool():
        a = np.asfortranarray(a)
    return a


def _ndim(fdp, usual):
    return usual if fdp.ConsumeIntInRange(0, 4) else fdp.ConsumeIntInRange(0, 5)


OPS = [
    lambda f: convcore.conv2d(_array(f, _ndim(f, 4)), _array(f, _ndim(f, 4)), None,
                              _arg(f), _arg(f), _arg(f), _int(f)),
    lambda f: convcore.conv2d_backward(_array(f, 4), _array(f, 4), _array(f, 4),
                                       _arg(f), _arg(f), _arg(f), _int(f)),
    lambda f: convcore.conv2d_grad_input(_array(f, 4), _array(f, 4),
                                         (_int(f), _int(f), _int(f), _int(f)),
                                         _arg(f), _arg(f), _arg(f), _int(f)),
    lambda f: convcore.conv2d_grad_weight(_array(f, 4), _array(f, 4),
                                          (_int(f), _int(f), _int(f), _int(f)),
                                          _arg(f), _arg(f), _arg(f), _int(f)),
    lambda f: convcore.conv1d(_array(f, _ndim(f, 3)), _array(f, 3), None, _arg(f),
                              _arg(f), _arg(f), _int(f)),
    lambda f: convcore.max_pool2d(_array(f, _ndim(f, 4)), _arg(f), _arg(f), _arg(f),
                                  _arg(f), f.ConsumeBool(), f.ConsumeBool()),
    lambda f: convcore.max_pool2d_backward(_array(f, 4), _array(f, 4), _arg(f),
                                           _arg(f), _arg(f), _arg(f), f.ConsumeBool()),
    lambda f: convcore.avg_pool2d(_array(f, _ndim(f, 4)), _arg(f), _arg(f), _arg(f),
                                  f.ConsumeBool(), f.ConsumeBool()),
    lambda f: convcore.avg_pool2d_backward(_array(f, 4), tuple(_int(f) for _ in range(4)),
                                           _arg(f), _arg(f), _arg(f)),
    lambda f: convcore.adaptive_avg_pool2d(_array(f, _ndim(f, 4)), _arg(f)),
    lambda f: convcore.max_pool1d(_array(f, _ndim(f, 3)), _arg(f), _arg(f), _arg(f)),
    lambda f: convcore.leaky_relu(_array(f, _ndim(f, 2)), f.ConsumeFloat()),
    lambda f: convcore.sigmoid_backward(_array(f, _ndim(f, 2)), _array(f, _ndim(f, 2))),
    lambda f: convcore.linear(_array(f, _ndim(f, 2)), _array(f, _ndim(f, 2))),
    lambda f: convcore.flatten(_array(f, _ndim(f, 3)), _arg(f)),
    lambda f: convcore.softmax(_array(f, _ndim(f, 2)), _arg(f)),
    lambda f: convcore.cross_entropy(_array(f, _ndim(f, 2)),
                                     np.array([_int(f), _int(f)])),
]


def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    op = OPS[fdp.ConsumeIntInRange(0, len(OPS) - 1)]
    try:
        op(fdp)
    except (ValueError, TypeError):
        pass
    except MemoryError:  # a request larger than the machine: documented
        pass


if __name__ == "__main__":
    # an address-space cap turns legitimate but huge requests (an adaptive
    # pooling to 2**31 columns is one) into the MemoryError they would give
    # on a smaller machine, instead of libFuzzer's out-of-memory stop
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
