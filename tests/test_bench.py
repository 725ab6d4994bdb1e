"""The benchmark machinery (convcore.bench, convcore._peak): baselines that
compute the right thing, peak probes that run, wrong results reported as
errors, and a smoke run of ``python -m convcore.bench``. No timing is
asserted anywhere: only structure and correctness."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import convcore
from convcore import _peak, reference
from convcore._progress import Progress
from convcore.bench import contenders as cont
from convcore.bench import numpy_baselines as nb
from convcore.bench import peak, report, timing, workload
from convcore.bench.workload import Layer, Pool

from helpers import assert_matches, rng

# the NumPy baselines on small shapes that exercise what the workload does:
# a LeNet layer, stride + dilation + ragged edge, groups, depthwise
CONV_CASES = [
    Layer("lenet_c1_n4", 4, 1, 32, 6, 5, 1, 0, 1, 1),
    Layer("strided_dilated_odd", 2, 4, 11, 6, 3, 2, 2, 2, 1),
    Layer("grouped_s2", 2, 6, 9, 4, 3, 2, 1, 1, 2),
    Layer("depthwise", 2, 8, 10, 8, 3, 1, 1, 1, 8),
]
POOL_CASES = [
    Pool("max_3x3s2p1", "max", 2, 3, 13, 3, 2, 1),
    Pool("max_2x2", "max", 2, 3, 10, 2, 2, 0),
    Pool("avg_2x2", "avg", 2, 3, 10, 2, 2, 0),
    Pool("avg_3x3s1p1", "avg", 2, 3, 9, 3, 1, 1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("L", CONV_CASES, ids=lambda L: L.name)
def test_numpy_im2col_matches_reference(L, dtype):
    x, w, b, go = workload.make_inputs(L, dtype, rng("im2col", L.name, dtype))
    assert go.shape[2:] == (workload.out_size(L),) * 2
    a = dict(stride=L.stride, padding=L.pad, dilation=L.dil, groups=L.groups)
    assert_matches(nb.conv2d_fwd(x, w, b, L), reference.conv2d(x, w, b, **a), dtype)
    assert_matches(nb.conv2d_bwd_data(go, w, x.shape, L),
                   reference.conv2d_grad_input(go, w, x.shape, **a), dtype)
    # a layout-free tensordot result: its values are what the bench compares
    assert_matches(nb.conv2d_bwd_weights(go, x, L),
                   reference.conv2d_grad_weight(go, x, w.shape, **a), dtype,
                   contiguous=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("P", POOL_CASES, ids=lambda P: P.name)
def test_numpy_pooling_matches_reference(P, dtype):
    g = rng("pool", P.name, dtype)
    x = g.standard_normal((P.N, P.C, P.H, P.H)).astype(dtype)
    k, s, p = P.K, P.stride, P.pad
    if P.kind == "max":
        want, idx = reference.max_pool2d(x, k, s, p, return_indices=True)
        go = g.standard_normal(want.shape).astype(dtype)
        want_bwd = reference.max_pool2d_backward(go, x, k, s, p, indices=idx)
    else:
        want, idx = reference.avg_pool2d(x, k, s, p), None
        go = g.standard_normal(want.shape).astype(dtype)
        want_bwd = reference.avg_pool2d_backward(go, x.shape, k, s, p)
    assert_matches(nb.pool2d_fwd(x, P), want, dtype, contiguous=False)
    assert_matches(nb.pool2d_bwd(go, x, P, idx), want_bwd, dtype)


def test_workload_names_are_unique_and_sets_resolve():
    names = workload.SETS["all"] + workload.SETS["tiny"]
    assert len(names) == len(set(names))
    for set_name in workload.SETS:
        layers, pools, acts = workload.select([set_name])
        assert len(layers) + len(pools) + len(acts) == len(workload.SETS[set_name])
    with pytest.raises(ValueError, match="unknown name 'nope'"):
        workload.select(["nope"])


# ---------------------------------------------------------------- probes --

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_peak_probes_compute_what_they_say(kernel_set, dtype):
    chains, lanes = _peak.fma_shape(dtype)
    assert chains >= 8 and lanes >= 1
    out = np.zeros(2, dtype)
    _peak.fma_probe(out, 1000)
    assert np.all(np.isfinite(out)) and out[0] == out[1]
    x = np.arange(1001, dtype=dtype)  # a length no thread split or vector divides
    sums = np.zeros(3, dtype)
    _peak.stream_sum(x, sums)
    assert sums.sum() == x.sum()
    y = np.zeros_like(x)
    _peak.stream_copy(x, y, 3)
    np.testing.assert_array_equal(y, x)


def test_peak_probe_bad_arguments():
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        _peak.fma_shape("int8")
    with pytest.raises(ValueError, match="y must have the length of x"):
        _peak.stream_copy(np.zeros(4), np.zeros(3), 1)
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        peak.fma_peak(0)
    with pytest.raises(ValueError, match="threads must be an int >= 1"):
        peak.memory_peak(1.5)


def test_peak_measurements_have_their_fields():
    f = peak.fma_peak(1, "float64", seconds=0.002, repeats=2)
    assert f["gflops"] == max(f["samples"]) > 0 and len(f["samples"]) == 2
    assert f["kernel_set"] == convcore._conv.get_kernel_set()
    m = peak.memory_peak(2, nbytes=1 << 20, repeats=2)
    assert m["gbps"] == max(m["read_gbps"], m["copy_gbps"]) > 0


# ---------------------------------------------------------------- timing --

def test_interleaved_alternates_and_counts():
    order = []
    fns = {n: (lambda n=n: order.append(n)) for n in "abc"}
    s = timing.interleaved(fns, {"a": 3, "b": 1, "c": 2})
    assert {n: len(v) for n, v in s.items()} == {"a": 3, "b": 1, "c": 2}
    # rotation: each round starts one further along; slow ones drop out late
    assert order == ["a", "b", "c", "c", "a", "a"]
    with pytest.raises(ValueError, match=r"counts\['a'\] must be >= 1"):
        timing.interleaved(fns, {"a": 0, "b": 1, "c": 1})


def test_progress_bar_only_on_terminals():
    import io

    quiet = io.StringIO()
    p = Progress(3, stream=quiet)
    p.step("x")
    p.close()
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    p = Progress(2, stream=loud, force=True, width=2)
    p.step("conv2d_fwd lenet")
    p.close()
    assert "[#.] 1/2 conv2d_fwd lenet" in loud.getvalue()


# ---------------------------------------------------------------- report --

def test_expand_ops():
    assert report.expand_ops("activation,conv2d_fwd") == ["conv2d_fwd", "activation_fwd"]
    with pytest.raises(ValueError, match="--ops: unknown op 'conv3d'"):
        report.expand_ops("conv3d")


def test_wrong_result_is_an_error_not_a_speed(monkeypatch, restore_threads):
    real = cont.conv2d

    def broken(*args, **kwargs):
        calls = real(*args, **kwargs)
        good = calls["convcore"]
        calls["convcore"] = lambda: good() * 1.01  # fast and 1% wrong
        return calls

    monkeypatch.setattr(cont, "conv2d", broken)
    row = report.measure_row("conv2d_fwd", workload.layer("tiny_3x3"), "float32", 1,
                             "quick", "small", repeat=1)
    cc = row["contenders"]["convcore"]
    assert cc["status"] == "error" and "wrong result" in cc["reason"]
    assert "samples" not in cc and row["speedup"] == {}
    assert row["checked_against"] == "reference"


def test_contender_exception_is_reported_in_its_row(monkeypatch, restore_threads):
    real = cont.pool2d

    def failing(*args, **kwargs):
        calls = real(*args, **kwargs)
        calls["numpy"] = lambda: 1 / 0
        return calls

    monkeypatch.setattr(cont, "pool2d", failing)
    row = report.measure_row("pool2d_fwd", workload.layer("tiny_maxpool_3x3s2"), "float64",
                             1, "quick", "small", repeat=1)
    r = row["contenders"]
    assert r["numpy"]["status"] == "error" and "ZeroDivisionError" in r["numpy"]["reason"]
    assert r["convcore"]["status"] == "ok" and "numpy" not in row["speedup"]
    assert "reference" in row["speedup"]


# ------------------------------------------------------------------ smoke --

def _bench(args, tmp_path, block=()):
    """Run ``python -m convcore.bench args`` on the convcore under test."""
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(convcore.__file__)))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    # set, so that the command does not re-execute itself (which would
    # drop the modules blocked here): test_bench_sets_blas_timeout checks that
    env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    code = ("import sys, runpy\n"
            f"for m in {list(block)!r}: sys.modules[m] = None  # as if not installed\n"
            f"sys.argv = ['convcore.bench'] + {list(args)!r}\n"
            "runpy.run_module('convcore.bench', run_name='__main__', alter_sys=True)\n")
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_bench_sets_blas_timeout(tmp_path):
    """The command line re-executes itself once with OpenBLAS's idle-spin
    timeout short (NumPy's spinning BLAS workers held a core through the
    next contender's 2-thread call), and leaves a user's value alone."""
    env = dict(os.environ)
    env.pop("OPENBLAS_THREAD_TIMEOUT", None)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(convcore.__file__)))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    for given, expected in [(None, "4"), ("7", "7")]:
        if given is not None:
            env["OPENBLAS_THREAD_TIMEOUT"] = given
        out = tmp_path / f"env{expected}.json"
        r = subprocess.run([sys.executable, "-m", "convcore.bench", "--quick", "--layers", "tiny",
                            "--ops", "activation_fwd", "--threads", "1", "--repeat", "1",
                            "--reference", "none", "--no-progress", "--json", str(out)],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        doc = json.loads(out.read_text())
        assert doc["environment"]["env"]["OPENBLAS_THREAD_TIMEOUT"] == expected


def test_bench_quick_smoke(tmp_path):
    """The README's command, on the tiny layer set: every table, the
    peaks, geometric means, and a JSON with every measurement. torch and
    onnxruntime are hidden, as on a machine without them: their columns
    must say so, never fail."""
    out_json = tmp_path / "bench.json"
    png = tmp_path / "bench.png"
    plotting = cont.optional("matplotlib") is not None  # an optional extra
    r = _bench(["--quick", "--layers", "tiny", "--threads", "1", "--repeat", "2",
                "--json", str(out_json)] + (["--plot", str(png)] if plotting else []),
               tmp_path, block=("torch", "onnxruntime"))
    assert r.returncode == 0, r.stdout + r.stderr
    if plotting:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = r.stdout
    for needle in ["benchmark report (quick mode, float32, 1 thread)", "peak (measured",
                   "GFLOP/s float32", "cpu features:", "geometric mean over all"]:
        assert needle in text, needle
    for op in report.OPS:
        assert f"== {op} (" in text, op
    assert text.count("geomean") == len(report.OPS)
    assert "n/a (not installed)" in text
    assert "ERROR" not in text

    doc = json.loads(out_json.read_text())
    assert {"schema", "created", "argv", "options", "environment", "peak", "results",
            "geomeans", "errors"} <= set(doc)
    assert doc["schema"] == report.SCHEMA and doc["errors"] == 0
    assert {"cpu", "cpu_features", "kernel_set", "threads", "dtype", "versions",
            "numpy", "python", "openmp"} <= set(doc["environment"])
    assert doc["environment"]["versions"]["torch"] is None
    assert doc["peak"]["fma"]["gflops"] > 0 and doc["peak"]["memory"]["gbps"] > 0
    layers, pools, acts = workload.select(["tiny"])
    assert len(doc["results"]) == 3 * len(layers) + 2 * len(pools) + len(acts)
    for row in doc["results"]:
        assert {"op", "layer", "work", "rate_unit", "checked_against", "contenders",
                "speedup", "noisy"} <= set(row)
        # activations: the reference is the vectorized NumPy contender
        assert row["checked_against"] == ("numpy" if row["family"] == "activation"
                                          else "reference")
        assert list(row["contenders"]) == list(cont.CONTENDERS)
        cc = row["contenders"]["convcore"]
        assert cc["status"] == "ok" and len(cc["samples"]) == 2
        assert {"median", "min", "max", "spread", "rate", "pct_peak"} <= set(cc)
        assert row["contenders"]["torch"] == {"status": "n/a", "reason": "not installed"}
        assert "numpy" in row["speedup"]


@pytest.mark.parametrize("args, message", [
    (["--ops", "conv3d"], "--ops: unknown op 'conv3d'"),
    (["--layers", "resnet_9000"], "--layers: layer: unknown name 'resnet_9000'"),
    (["--threads", "0"], "--threads: expected an integer >= 1, got 0"),
    (["--ops", "activation", "--layers", "tiny_3x3"], "no (op, layer) pair to run"),
])
def test_bench_bad_options(tmp_path, args, message):
    r = _bench(args, tmp_path)
    assert r.returncode == 2
    assert message in r.stderr


def test_bench_plot_without_matplotlib_says_what_to_install(tmp_path):
    r = _bench(["--layers", "tiny", "--plot", str(tmp_path / "p.png")], tmp_path,
               block=("matplotlib",))
    assert r.returncode == 2
    assert "--plot needs matplotlib" in r.stderr and "pip install" in r.stderr
    assert not (tmp_path / "p.png").exists()


def test_unbuilt_source_tree_hands_over_to_the_built_copy(tmp_path):
    """`pip install . && python -m convcore.bench` runs where pip ran: the
    unbuilt source tree comes first on sys.path there."""
    src = tmp_path / "convcore"
    src.mkdir()
    init = os.path.join(os.path.dirname(os.path.abspath(convcore.__file__)), "__init__.py")
    with open(init) as f:
        src.joinpath("__init__.py").write_text(f.read())
    built_parent = os.path.dirname(os.path.dirname(os.path.abspath(convcore.__file__)))
    code = "import convcore; print(convcore.__path__[0]); print(convcore.get_num_threads())"
    env = dict(os.environ, PYTHONPATH=built_parent)
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert os.path.realpath(r.stdout.split()[0]) == os.path.realpath(
        os.path.dirname(convcore.__file__))
    # no built copy anywhere: a message that says how to build
    env = dict(os.environ, PYTHONPATH="", PYTHONNOUSERSITE="1")
    r = subprocess.run([sys.executable, "-S", "-c", "import convcore"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "which is not built: run `python setup.py build_ext --inplace`" in r.stderr
