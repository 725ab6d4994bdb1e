"""convcore.dask: predict on a LocalCluster equals one process bit for bit,
with each worker on its share of the cores and surviving a killed worker;
conv2d over tiles equals convcore.conv2d on the whole array bit for bit;
without Dask, convcore still imports and convcore.dask says what to install."""
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import convcore  # noqa: E402
import convcore.dask as ccd  # noqa: E402
from convcore import nn  # noqa: E402
from helpers import rng as keyed_rng  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def lenet5(seed=0):
    r = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, rng=r), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, rng=r), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120, rng=r), nn.ReLU(), nn.Linear(120, 84, rng=r), nn.ReLU(),
        nn.Linear(84, 10, rng=r))


class Slow(nn.Module):
    """Identity that takes `seconds`: makes a predict last long enough to
    kill a worker in the middle of it."""

    def __init__(self, seconds):
        self.seconds = seconds

    def forward(self, x):
        time.sleep(self.seconds)
        return x


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, worker_dashboard_address=None)
    c = distributed.Client(cluster, set_as_default=False)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def images(n, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal((n, 1, 32, 32)).astype(dtype)


# ----------------------------------------------------------------- predict

def test_predict_on_cluster_is_bitwise_single_process(client):
    model = lenet5()
    x = images(300)
    expected = model.eval()(x)
    model.train()  # predict runs a copy in eval mode and leaves this one alone
    # odd batches: the GEMM of the Linear layers picks its row tile from the
    # batch size, and the conv tiles pixels across the batch
    y = ccd.predict(model, x, batch_size=37, client=client)
    assert y.shape == (300, 10) and y.chunks[0] == (37,) * 8 + (4,)
    got = client.compute(y).result()
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    assert model.training
    # a Dask array input keeps its chunks along N; other axes are merged
    xd = da.from_array(x, chunks=(64, 1, 16, 32))
    y2 = ccd.predict(model, xd, client=client)
    assert y2.chunks[0] == xd.chunks[0]
    assert np.array_equal(client.compute(y2).result(), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_rows_do_not_depend_on_the_batch(dtype):
    """What makes predict bitwise: convcore's GEMM picks its row tile from
    the batch size (MR or MR2 rows) yet sums each element in the same order."""
    r = keyed_rng("linear-batch", dtype)
    x = r.standard_normal((97, 400)).astype(dtype)
    w, b = r.standard_normal((120, 400)).astype(dtype), r.standard_normal(120).astype(dtype)
    full = convcore.linear(x, w, b)
    for m in range(1, 40):
        assert np.array_equal(convcore.linear(x[:m], w, b), full[:m]), m
        assert np.array_equal(convcore.linear(x[m:], w, b), full[m:]), m


def test_workers_run_their_share_of_the_cores(client):
    ccd.predict(lenet5(), images(8), batch_size=4, client=client).compute(scheduler=client)
    share = ccd.thread_share(ccd._cores(), 2)  # 2 workers x 1 thread on this machine
    assert client.run(convcore.get_num_threads) == {a: share for a in client.run(os.getpid)}
    assert ccd.thread_share(16, 4) == 4 and ccd.thread_share(2, 4) == 1
    # a graph built without a client: each worker asks the scheduler itself
    client.run(convcore.set_num_threads, None)
    client.run(lambda: ccd._worker_threads_cache.clear())
    y = ccd.predict(lenet5(), images(8), batch_size=4)
    client.compute(y).result()
    assert set(client.run(convcore.get_num_threads).values()) == {share}


def test_model_travels_once_not_per_task(client):
    model = lenet5()
    size = len(pickle.dumps(model))
    x = da.zeros((64, 1, 32, 32), chunks=(2, 1, 32, 32), dtype=np.float32)  # 32 tasks
    # held once in the graph (local schedulers) ...
    graph = dict(ccd.predict(model, x).__dask_graph__())
    assert len(pickle.dumps(graph)) < 1.5 * size
    # ... or scattered to the workers ahead, the graph only naming it
    graph = dict(ccd.predict(model, x, client=client).__dask_graph__())
    assert len(pickle.dumps(graph)) < 0.2 * size


def test_predict_without_a_client_on_local_schedulers():
    model = lenet5(1)
    x = images(50, seed=1, dtype=np.float64)  # float64 input: float32 weights promote
    expected = model.eval()(x)
    for scheduler in ("threads", "sync"):
        got = ccd.predict(model, x, batch_size=16).compute(scheduler=scheduler)
        assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_predict_reads_a_memmap_from_its_file(tmp_path):
    x = images(400, seed=2)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=x.dtype, shape=x.shape)
    mm[:] = x
    mm.flush()
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    model = lenet5()
    y = ccd.predict(model, mm[8:], batch_size=70)  # a view past the file's header
    graph = dict(y.__dask_graph__())
    # the tasks name the file, not the data (the model is in the graph once)
    assert len(pickle.dumps(graph)) < len(pickle.dumps(model)) + x.nbytes // 10
    assert np.array_equal(y.compute(scheduler="sync"), model.eval()(x[8:]))


def test_two_models_on_the_same_images_never_share_keys(client):
    x = da.zeros((16, 1, 32, 32), chunks=8, dtype=np.float32)
    a, b = lenet5(0), lenet5(1)
    ya, yb = ccd.predict(a, x, client=client), ccd.predict(b, x, client=client)
    assert ya.name != yb.name
    ya = client.persist(ya)
    assert not np.array_equal(client.compute(yb).result(), client.compute(ya).result())


def test_predict_keeps_unknown_batch_chunks():
    model = lenet5()
    x = images(60, seed=4)
    keep = x[:, 0, 0, 0] > 0
    xd = da.from_array(x, chunks=(16, 1, 32, 32))
    y = ccd.predict(model, xd[da.from_array(keep, chunks=16)])
    assert np.isnan(y.shape[0])
    assert np.array_equal(y.compute(scheduler="sync"), model.eval()(x[keep]))


def test_predict_bad_arguments():
    with pytest.raises(TypeError, match="convcore.nn.Module"):
        ccd.predict(lambda x: x, images(2))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        ccd.predict(lenet5(), images(2), batch_size=0)
    with pytest.raises(ValueError, match=r"input has C=3 channels.*\(1, 3, 32, 32\)"):
        ccd.predict(lenet5(), np.zeros((4, 3, 32, 32), np.float32))


def test_pickled_layers_leave_their_caches_behind():
    model = lenet5()
    x = images(4)
    y = model(x)  # training mode: saves inputs; packs the conv weights
    assert model[0]._x is not None and model[0]._packed
    copy = pickle.loads(pickle.dumps(model))
    for layer in copy:
        for name in ("_x", "_y", "_shape", "_saved_fwd"):
            assert getattr(layer, name, None) is None
        assert getattr(layer, "_packed", {}) == {}
    assert np.array_equal(copy(x), y)


def test_a_worker_killed_mid_predict_loses_nothing(client):
    model = nn.Sequential(lenet5(), Slow(0.15))
    x = images(480, seed=3)
    expected = model.eval()(x)
    y = ccd.predict(model, x, batch_size=16, client=client)  # 30 tasks, ~2.3 s on 2 workers
    pids = client.run(os.getpid)
    fut = client.compute(y)
    # wait until a worker holds finished results, then kill it outright
    deadline = time.monotonic() + 30
    victim = None
    while victim is None and time.monotonic() < deadline:
        for addr, held in client.has_what().items():
            if sum(1 for k in held if "convcore-predict" in str(k)) >= 2:
                victim = addr
                break
        time.sleep(0.05)
    assert victim is not None, "no worker finished two tasks in 30 s"
    assert not fut.done()
    os.kill(pids[victim], signal.SIGKILL)
    got = fut.result(timeout=120)
    assert np.array_equal(got, expected)
    client.wait_for_workers(2, timeout=60)  # the nanny brings it back
    assert pids[victim] not in client.run(os.getpid).values()


# ------------------------------------------------------------------ conv2d

def test_conv2d_spatial_chunks_unaligned_stride_dilation_padding(client):
    r = keyed_rng("conv2d-spatial")
    img = r.standard_normal((3, 4, 45, 38)).astype(np.float32)
    w = r.standard_normal((6, 2, 3, 3)).astype(np.float32)
    b = r.standard_normal(6).astype(np.float32)
    # chunk edges at 7, 20, 33 rows and 11, 24 columns: none on the stride-3 grid
    x = da.from_array(img, chunks=((2, 1), (1, 3), (7, 13, 13, 12), (11, 13, 14)))
    kw = dict(stride=3, padding=(2, 3), dilation=2, groups=2)
    y = ccd.conv2d(x, w, b, **kw)
    expected = convcore.conv2d(img, w, b, **kw)
    assert y.shape == expected.shape and y.dtype == expected.dtype
    assert y.numblocks[2] > 1 and y.numblocks[3] > 1 and y.chunks[0] == (2, 1)
    assert np.array_equal(client.compute(y).result(), expected)  # on the cluster
    assert np.array_equal(y.compute(scheduler="threads"), expected)


@pytest.mark.parametrize("algorithm", ["auto", "winograd"])
def test_conv2d_winograd_tiles_bitwise(algorithm):
    """3x3 stride-1 layers with enough channels go through Winograd, whose
    4x4 output tiles make each output depend on where its tile falls: the
    tasks align their outputs to the whole array's tile grid."""
    previous = convcore.get_conv_algorithm()
    convcore.set_conv_algorithm(algorithm)
    try:
        r = keyed_rng("conv2d-winograd", algorithm)
        C, OC = (16, 20) if algorithm == "auto" else (3, 5)
        assert convcore._conv.conv_algorithm("fwd", C, OC, 3, 3) == "winograd"
        img = r.standard_normal((3, C, 29, 26)).astype(np.float32)
        w = r.standard_normal((OC, C, 3, 3)).astype(np.float32)
        b = r.standard_normal(OC).astype(np.float32)
        for chunks, padding in [(((2, 1), (C,), (5, 9, 15), (7, 6, 13)), 1),
                                (((3,), (C,), (1, 28), (13, 13)), 0),
                                (((1, 2), (C,), (10, 10, 9), (3, 3, 20)), 2),
                                (((3,), (C,), (29,), (9, 8, 9)), "same")]:
            x = da.from_array(img, chunks=chunks)
            for dilation in (1, 2, (3, 2)):
                y = ccd.conv2d(x, w, b, padding=padding, dilation=dilation)
                expected = convcore.conv2d(img, w, b, padding=padding, dilation=dilation)
                assert np.array_equal(y.compute(scheduler="threads"), expected), (
                    chunks, padding, dilation)
    finally:
        convcore.set_conv_algorithm(previous)


def _splits(r, n):
    """Random chunk sizes summing to n (sizes of 1 included)."""
    if n < 2:
        return (n,)
    cuts = sorted(set(r.integers(1, n, size=r.integers(0, min(4, n - 1) + 1)).tolist()))
    edges = [0] + cuts + [n]
    return tuple(b - a for a, b in zip(edges[:-1], edges[1:]))


def test_conv2d_randomized_sweep_bitwise():
    r = keyed_rng("conv2d-sweep")
    checked = rejected = 0
    with dask.config.set(scheduler="threads"):
        while checked < 240:
            groups = int(r.choice([1, 1, 2, 3]))
            C = groups * int(r.integers(1, 3))
            OC = groups * int(r.integers(1, 3))
            N = int(r.integers(1, 4))
            H, W = (int(v) for v in r.integers(1, 24, size=2))
            KH, KW = (int(v) for v in r.integers(1, 5, size=2))
            stride = tuple(int(v) for v in r.integers(1, 4, size=2))
            dilation = tuple(int(v) for v in r.integers(1, 4, size=2))
            padding = [int(r.integers(0, 4)), tuple(int(v) for v in r.integers(0, 4, size=2)),
                       "valid", "same"][int(r.integers(0, 4))]
            if padding == "same" and r.random() < 0.7:
                stride = (1, 1)
            if r.random() < 0.5:  # an int where a pair may go
                stride = stride[0]
            dtype = [np.float32, np.float64][int(r.integers(0, 2))]
            img = r.standard_normal((N, C, H, W)).astype(dtype)
            w = r.standard_normal((OC, C // groups, KH, KW)).astype(dtype)
            b = r.standard_normal(OC).astype(dtype) if r.random() < 0.5 else None
            x = da.from_array(img, chunks=(_splits(r, N), _splits(r, C), _splits(r, H),
                                           _splits(r, W)))
            kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
            try:
                expected = convcore.conv2d(img, w, b, **kw)
            except ValueError as e:  # kernel larger than the input, 'same' with stride
                with pytest.raises(ValueError) as got:
                    ccd.conv2d(x, w, b, **kw)
                assert str(got.value) == str(e)
                rejected += 1
                continue
            y = ccd.conv2d(x, w, b, **kw)
            got = y.compute()
            assert got.dtype == expected.dtype and got.shape == expected.shape
            assert np.array_equal(got, expected), (img.shape, x.chunks, w.shape, kw)
            checked += 1
    print(f"{checked} configurations bitwise equal, {rejected} rejected alike")
    assert rejected > 10  # the validation path was exercised too


def test_conv2d_merges_channel_chunks_and_takes_unbatched_input():
    r = keyed_rng("conv2d-unbatched")
    img = r.standard_normal((6, 20, 17))
    w = r.standard_normal((4, 6, 3, 2))
    x = da.from_array(img, chunks=(2, 6, 5))
    y = ccd.conv2d(x, w, padding="same")
    assert y.shape == (4, 20, 17) and y.chunks[1:] == x.chunks[1:]  # 'same': chunked like x
    assert np.array_equal(y.compute(scheduler="sync"), convcore.conv2d(img, w, padding="same"))
    # dtypes promote as convcore.conv2d's do: float16 -> float32, integers -> float64
    for xi, wi in ((img.astype(np.float16), w.astype(np.float16)),
                   ((img * 10).astype(np.int16), w.astype(np.float32))):
        expected = convcore.conv2d(xi, wi, stride=2)
        got = ccd.conv2d(da.from_array(xi, chunks=(6, 7, 5)), wi, stride=2)
        assert got.dtype == expected.dtype and np.array_equal(got.compute(), expected)


def test_conv2d_bad_arguments_name_the_shapes():
    x = da.zeros((2, 4, 10, 10), chunks=(1, 4, 5, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"input has C=4 channels but weight \(2, 3, 3, 3\)"):
        ccd.conv2d(x, np.zeros((2, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        ccd.conv2d(x, np.zeros((2, 4, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="'same' needs stride 1"):
        ccd.conv2d(x, np.zeros((2, 4, 3, 3)), stride=2, padding="same")
    with pytest.raises(ValueError, match=r"input must be 4-D.*\(10, 10\)"):
        ccd.conv2d(x[0, 0], np.zeros((2, 4, 3, 3)))
    with pytest.raises(TypeError, match="unsupported dtype"):
        ccd.conv2d(x.astype(bool), np.zeros((2, 4, 3, 3)))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        ccd.conv2d(x[x[:, 0, 0, 0] > 0], np.zeros((2, 4, 3, 3)))


# ---------------------------------------------------------- the example

def test_example_set_is_lazy_seeded_and_labelled():
    pytest.importorskip("sklearn")
    from convcore.examples import dask_digits
    from convcore.preprocessing import ChannelStandardizer
    src = images(12, seed=5)
    src_y = np.arange(12) % 10
    scaler = ChannelStandardizer().fit(src)
    x, y = dask_digits.make_images(src, src_y, 250, 100, 7, scaler)
    assert x.shape == (250, 1, 32, 32) and x.chunks[0] == (100, 100, 50) and y.shape == (250,)
    assert len(pickle.dumps(dict(x.__dask_graph__()))) < src.nbytes * 2  # no images inside
    got = x.compute(scheduler="sync")
    x1, y1 = dask_digits.make_chunk(src, src_y, 7, 1, 100)
    assert np.array_equal(got[100:200], scaler.transform(x1)) and np.array_equal(y[100:200], y1)
    assert not np.array_equal(got[:100], got[100:200])


@pytest.mark.slow
def test_example_command(capsys):
    pytest.importorskip("sklearn")
    from convcore.examples import dask_digits
    res = dask_digits.run(["--images", "3000", "--epochs", "2", "--batch-size", "500",
                           "--dashboard", ":0"])
    out = capsys.readouterr()
    assert "dashboard: http" in out.out and "images/s" in out.out
    assert "100% Completed" in out.out  # Dask's progress bar
    assert res["accuracy"] > 0.5


# -------------------------------------------------------------- no Dask

def test_without_dask_convcore_imports_and_convcore_dask_says_what_to_install():
    code = (
        "import sys\n"
        "sys.modules['dask'] = None  # import dask now raises ImportError\n"
        "import convcore, numpy as np\n"
        "assert convcore.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)))[0, 0, 0, 0] == 9\n"
        "try:\n"
        "    import convcore.dask\n"
        "except ImportError as e:\n"
        "    print(e)\n"
        "else:\n"
        "    raise SystemExit('convcore.dask imported without dask')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install convcore[dask]" in out.stdout
