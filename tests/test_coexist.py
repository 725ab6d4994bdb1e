"""Coexistence with other OpenMP users in one process: scikit-learn (its own
libgomp) and PyTorch (a libgomp.so.1 of its own, which the dynamic linker
shares with convcore's when both are loaded). In fresh processes, imported
in both orders, both libraries' threaded work runs and agrees with a
reference, no "OMP: Error #15" (two OpenMP runtimes clashing) appears, and
nothing hangs (the process group is killed after a timeout)."""
import importlib.util
import json
import textwrap

import pytest

from convcore import _openmp
from helpers import python_env, run_python

TIMEOUT_S = 180

HAVE_SKLEARN = importlib.util.find_spec("sklearn") is not None
HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_sklearn = pytest.mark.skipif(not HAVE_SKLEARN, reason="scikit-learn not installed")
needs_torch = pytest.mark.skipif(
    not HAVE_TORCH, reason="PyTorch not installed (optional: pip install torch==2.13.0)")

SCRIPT = textwrap.dedent(
    """
    import importlib
    import json
    import sys

    import numpy as np

    order = sys.argv[1].split(",")
    mods = {name: importlib.import_module(name) for name in order}
    import convcore
    from convcore import _openmp, reference

    _openmp._set_min_thread_work(0)  # every call splits across the threads
    convcore.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 40, 40)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    ref = reference.conv2d(x, w, padding=1)
    out = {}

    def convcore_ok():
        return bool(np.allclose(convcore.conv2d(x, w, padding=1), ref,
                                rtol=1e-4, atol=1e-4))

    out["convcore_before"] = convcore_ok()
    if "sklearn" in mods:
        from sklearn.cluster import KMeans
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import adjusted_rand_score
        # well-separated blobs: KMeans (OpenMP threads in sklearn's own
        # libgomp) must find them exactly
        centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
        labels = np.repeat(np.arange(3), 2000)
        pts = centers[labels] + rng.standard_normal((6000, 2))
        km = KMeans(n_clusters=3, n_init=2, random_state=0).fit(pts)
        out["kmeans_ari"] = float(adjusted_rand_score(labels, km.labels_))
        lr = LogisticRegression(max_iter=200).fit(pts, labels)
        out["logreg_acc"] = float(lr.score(pts, labels))
    if "torch" in mods:
        torch = mods["torch"]
        torch.set_num_threads(2)
        t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                       padding=1).numpy()
        out["torch_ok"] = bool(np.allclose(t, ref, rtol=1e-4, atol=1e-4))
        out["torch_threads"] = torch.get_num_threads()
    out["convcore_after"] = convcore_ok()
    out["convcore_threads"] = convcore.get_num_threads()
    from threadpoolctl import threadpool_info
    out["openmp_libs"] = sorted({i["filepath"] for i in threadpool_info()
                                 if i["user_api"] == "openmp"})
    print(json.dumps(out))
    """)

FORK_SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp
    import sys

    import numpy as np

    first = sys.argv[1]
    if first == "torch":
        import torch
        import convcore
    else:
        import convcore
        import torch
    from convcore import _openmp

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 40, 40)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)


    def child(q):
        _openmp._set_min_thread_work(0)
        convcore.set_num_threads(2)
        q.put((convcore.get_num_threads(), convcore.conv2d(x, w, padding=1)))


    if __name__ == "__main__":
        torch.set_num_threads(2)
        t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                       padding=1).numpy()
        q = mp.get_context("fork").Queue()
        p = mp.get_context("fork").Process(target=child, args=(q,))
        p.start()
        threads, got = q.get()
        p.join()
        print(threads, p.exitcode, bool(np.allclose(got, t, rtol=1e-4, atol=1e-4)))
    """)


def _run(tmp_path, script, *args):
    path = tmp_path / "coexist.py"
    path.write_text(script)
    rc, out, err = run_python([str(path), *args], TIMEOUT_S, python_env(OMP_NUM_THREADS="2"))
    assert rc is not None, f"{args}: no result within {TIMEOUT_S} s (hung)\n{err}"
    assert "OMP: Error #15" not in err, err
    assert rc == 0, err
    return out.strip().splitlines()[-1]


@needs_sklearn
@pytest.mark.parametrize("order", ["convcore,sklearn", "sklearn,convcore"])
def test_with_sklearn(tmp_path, order):
    r = json.loads(_run(tmp_path, SCRIPT, order))
    assert r["convcore_before"] and r["convcore_after"], r
    assert r["kmeans_ari"] == 1.0, r
    assert r["logreg_acc"] > 0.99, r
    assert r["convcore_threads"] == (2 if _openmp.openmp_enabled() else 1), r
    if _openmp.openmp_enabled():  # convcore's libgomp and scikit-learn's own
        assert len(r["openmp_libs"]) >= 2, r


@needs_torch
@pytest.mark.parametrize("order", ["convcore,torch", "torch,convcore"])
def test_with_torch(tmp_path, order):
    r = json.loads(_run(tmp_path, SCRIPT, order))
    assert r["convcore_before"] and r["convcore_after"] and r["torch_ok"], r
    assert r["torch_threads"] == 2, r


@needs_torch
@needs_sklearn
def test_with_sklearn_and_torch(tmp_path):
    r = json.loads(_run(tmp_path, SCRIPT, "sklearn,torch,convcore"))
    assert r["convcore_before"] and r["convcore_after"] and r["torch_ok"], r
    assert r["kmeans_ari"] == 1.0, r


@needs_torch
@pytest.mark.parametrize("first", ["torch", "convcore"])
def test_fork_child_after_torch_used_threads(tmp_path, first):
    # PyTorch's threads live in the libgomp convcore shares: a forked child
    # must not wait for them (convcore runs serially there)
    threads, exitcode, ok = _run(tmp_path, FORK_SCRIPT, first).split()
    assert (threads, exitcode, ok) == ("1", "0", "True")
