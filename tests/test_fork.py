"""Fork safety: a multiprocessing child runs convcore after the parent ran it
on two OpenMP threads, with each start method; a hang fails the test (the
script runs in its own process group, killed whole after a timeout)."""
import json
import multiprocessing
import textwrap

import pytest

from convcore import _openmp

from helpers import python_env, run_python

TIMEOUT_S = 120  # a child that hangs is killed then; a working run takes seconds

SCRIPT = textwrap.dedent(
    """
    import json
    import multiprocessing as mp
    import sys

    import numpy as np

    import convcore
    from convcore import _openmp, reference

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 8, 40, 40)).astype(np.float32)
    W = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)


    def work():
        # every call splits across the threads, however small
        _openmp._set_min_thread_work(0)
        convcore.set_num_threads(2)
        return convcore.conv2d(X, W, padding=1)


    def child(q):
        out = work()
        q.put((convcore.get_num_threads(), convcore._config.config()["fork_serial"], out))


    if __name__ == "__main__":
        method, parent_threads = sys.argv[1], int(sys.argv[2])
        convcore.set_num_threads(parent_threads)
        _openmp._set_min_thread_work(0)
        expected = convcore.conv2d(X, W, padding=1)
        ctx = mp.get_context(method)
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        threads, serial, out = q.get()
        p.join()
        print(json.dumps(dict(
            threads=threads, fork_serial=serial, exitcode=p.exitcode,
            same=bool(np.array_equal(out, expected)),
            close=bool(np.allclose(out, reference.conv2d(X, W, padding=1),
                                   rtol=1e-4, atol=1e-4)))))
    """)


def _run(tmp_path, method, parent_threads):
    script = tmp_path / "fork_child.py"
    script.write_text(SCRIPT)
    rc, out, err = run_python([str(script), method, str(parent_threads)], TIMEOUT_S,
                              python_env(OMP_NUM_THREADS="2"))
    if rc is None:
        pytest.fail(f"start method {method!r}: no result within {TIMEOUT_S} s "
                    f"(the child hung)\n{err}")
    assert rc == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _methods():
    return [pytest.param(m, marks=pytest.mark.skipif(
        m not in multiprocessing.get_all_start_methods(),
        reason=f"start method {m!r} not available on this platform"))
        for m in ("fork", "spawn", "forkserver")]


@pytest.mark.parametrize("method", _methods())
def test_child_after_parent_used_threads(tmp_path, method):
    r = _run(tmp_path, method, parent_threads=2)
    assert r["exitcode"] == 0
    assert r["same"] and r["close"]
    openmp = _openmp.openmp_enabled()
    if method == "fork":
        # OpenMP's pool did not survive: serial, and says so (through
        # get_num_threads and show_config's facts)
        assert r["fork_serial"] == openmp
        assert r["threads"] == 1
    else:
        assert not r["fork_serial"]
        assert r["threads"] == (2 if openmp else 1)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="no fork on this platform")
def test_forked_child_is_serial_even_when_parent_ran_serially(tmp_path):
    # convcore cannot tell whether the (shared) OpenMP pool is alive in the
    # parent: another library may have used it, so every forked child is
    # serial (test_coexist checks a child forked after PyTorch used it)
    r = _run(tmp_path, "fork", parent_threads=1)
    assert r["exitcode"] == 0 and r["same"] and r["close"]
    assert r["fork_serial"] == _openmp.openmp_enabled()
    assert r["threads"] == 1


PROBE_SCRIPT = textwrap.dedent(
    """
    import json
    import multiprocessing as mp

    import numpy as np

    import convcore
    from convcore import _openmp, _peak

    X = np.ones(1 << 16, np.float32)


    def child(q):
        y = np.empty_like(X)
        _peak.stream_copy(X, y, 2)
        s = np.empty(2, np.float32)
        _peak.stream_sum(X, s)
        f = np.empty(2, np.float32)
        _peak.fma_probe(f, 100)
        q.put(bool(np.array_equal(y, X)) and float(s.sum()) == X.size)


    if __name__ == "__main__":
        _openmp._set_min_thread_work(0)
        convcore.set_num_threads(2)
        convcore.conv2d(np.ones((2, 8, 40, 40), np.float32),
                        np.ones((16, 8, 3, 3), np.float32), padding=1)
        y = np.empty_like(X)
        _peak.stream_copy(X, y, 2)  # the probes' own threads, in the parent
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=child, args=(q,))
        p.start()
        ok = q.get()
        p.join()
        print(json.dumps(dict(ok=ok, exitcode=p.exitcode)))
    """)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="no fork on this platform")
def test_peak_probes_in_a_forked_child(tmp_path):
    # the benchmark's probes start their own parallel regions: in a forked
    # child they must run serially like the kernels, not hang
    script = tmp_path / "probe_child.py"
    script.write_text(PROBE_SCRIPT)
    rc, out, err = run_python([str(script)], TIMEOUT_S, python_env(OMP_NUM_THREADS="2"))
    if rc is None:
        pytest.fail(f"no result within {TIMEOUT_S} s (the forked child hung)\n{err}")
    assert rc == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    assert r == dict(ok=True, exitcode=0)
