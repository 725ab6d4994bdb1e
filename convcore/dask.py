"""convcore over Dask: inference and convolution on arrays larger than one
machine, on any ``dask.distributed`` cluster (or Dask's local schedulers).

:func:`predict` runs a :mod:`convcore.nn` model over a Dask array of images
chunked along the batch; :func:`conv2d` runs one convolution over a Dask
array chunked along the batch and, for large images, along H and W, each
output tile computed from its own input tile plus the halo the kernel needs,
so the stitched result equals :func:`convcore.conv2d` on the whole array bit
for bit (each output element of convcore's convolution is one sum in a fixed
order, whatever the array's size or the thread count).

Needs the ``dask`` extra: ``pip install "convcore[dask]"`` (``dask[array]``
and ``distributed``).

Examples
--------
>>> import numpy as np, dask.array as da, convcore, convcore.dask
>>> from convcore import nn
>>> x = da.random.default_rng(0).standard_normal((64, 3, 40, 40), chunks=(16, 3, 20, 20))
>>> w = np.random.default_rng(1).standard_normal((8, 3, 3, 3))
>>> y = convcore.dask.conv2d(x, w, stride=2, padding=1)
>>> y.shape, y.chunks[2]
((64, 8, 20, 20), (10, 10))
>>> bool((y.compute() == convcore.conv2d(x.compute(), w, stride=2, padding=1)).all())
True
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3, rng=0), nn.ReLU(), nn.Flatten(),
...                       nn.Linear(4 * 38 * 38, 10, rng=0))
>>> out = convcore.dask.predict(model, x.astype(np.float32), batch_size=32)
>>> out.shape, out.chunks[0]
((64, 10), (32, 32))
"""
try:
    import dask
    import dask.array as da
except ImportError as _e:  # the extra is not installed
    raise ImportError(
        "convcore.dask needs Dask (dask[array] and distributed): "
        "pip install convcore[dask]  (from a source tree: pip install '.[dask]')"
    ) from _e

import mmap
import os
import pickle

import numpy as np

import convcore
from convcore import nn
from convcore._params import as_array, compute_dtype
from convcore.functional import _Conv

__all__ = ["conv2d", "predict", "thread_share"]


# --------------------------------------------------------------- threads --

def _cores():
    """Cores this process may run on (affinity, cgroup-free fallback)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_share(cores, worker_threads):
    """convcore threads for one Dask worker thread: the machine's `cores`
    divided by the Dask worker threads running on that machine (all
    workers together), at least 1.

    Examples
    --------
    >>> from convcore.dask import thread_share
    >>> thread_share(16, 4), thread_share(16, 3), thread_share(2, 4)
    (4, 5, 1)
    """
    return max(1, int(cores) // max(1, int(worker_threads)))


def _host_threads(client):
    """{host: Dask worker threads on it} over the client's cluster now."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed before n_workers (all workers listed)
        info = client.scheduler_info()
    hosts = {}
    for w in info.get("workers", {}).values():
        hosts[w["host"]] = hosts.get(w["host"], 0) + int(w["nthreads"])
    return hosts


_worker_threads_cache = {}


def _set_worker_threads(hosts):
    """In a distributed worker, set convcore's (process-wide) thread count
    to this worker's share of its machine; elsewhere leave it alone.

    `hosts` is the cluster's {host: worker threads} seen when the graph was
    built (None when built without a client: the worker asks the scheduler
    once per process)."""
    try:
        from distributed import get_worker
        from distributed.comm import get_address_host
        worker = get_worker()
    except (ImportError, ValueError):
        return None
    host = get_address_host(worker.address)
    total = (hosts or {}).get(host)
    if total is None:
        total = _worker_threads_cache.get(host)
    if total is None:
        try:
            from distributed import get_client
            total = _host_threads(get_client()).get(host)
        except Exception:  # no scheduler reachable: count this worker alone
            total = None
        total = total or worker.state.nthreads
        _worker_threads_cache[host] = total
    n = thread_share(_cores(), total)
    if convcore.get_num_threads() != n:
        convcore.set_num_threads(n)
    return n


# --------------------------------------------------------------- predict --

def _client_or_default(client):
    if client is not None:
        return client
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):  # no distributed, or no client made
        return None


def _from_memmap(mm, batch):
    """A memmapped (N, ...) array as a Dask array whose tasks reopen the
    file (workers must see the same path), so no task carries the data.
    None when `mm` is not a plain C-contiguous view of its file."""
    base = getattr(mm, "_mmap", None)
    if (not isinstance(base, mmap.mmap) or not mm.filename
            or not mm.flags.c_contiguous or mm.ndim < 1):
        return None
    start = np.frombuffer(base, np.uint8).ctypes.data
    gran = mmap.ALLOCATIONGRANULARITY
    offset = mm.offset - mm.offset % gran + (mm.ctypes.data - start)
    row = int(np.prod(mm.shape[1:], dtype=np.int64)) * mm.dtype.itemsize
    n = mm.shape[0]
    blocks = []
    for i0 in range(0, n, batch):
        k = min(batch, n - i0)
        blocks.append(da.from_delayed(
            dask.delayed(_read_rows, pure=True)(mm.filename, mm.dtype.str,
                                                offset + i0 * row, (k,) + mm.shape[1:]),
            shape=(k,) + mm.shape[1:], dtype=mm.dtype))
    return da.concatenate(blocks, axis=0) if blocks else None


def _read_rows(filename, dtype, offset, shape):
    return np.array(np.memmap(filename, dtype=np.dtype(dtype), mode="r",
                              offset=offset, shape=shape))


def _predict_block(block, model, hosts):
    _set_worker_threads(hosts)
    return np.asarray(model(block))


def predict(model, images, batch_size=None, client=None):
    """Run `model` over every image of a (large) array, lazily, in parallel.

    Parameters
    ----------
    model : convcore.nn.Module
        Run in inference mode (on a copy: `model` itself is not changed).
        It is shipped to each worker once: with a distributed client,
        scattered to all workers (``client.scatter(..., broadcast=True)``);
        otherwise held once in the graph as one delayed object.
    images : dask.array.Array, ndarray or numpy.memmap, (N, C, H, W)
        (or any (N, ...) the model takes). A NumPy array is wrapped and
        chunked along N; a memmap is read by the tasks from its file (the
        workers must see the same path). Only N may be chunked: other axes
        are merged into one chunk.
    batch_size : int, optional
        Images per task (the chunk size along N). Default: a Dask array's
        own chunks, else Dask's automatic chunk size.
    client : distributed.Client, optional
        The cluster to send the model to; default: the current default
        client if there is one, else none (Dask's local schedulers then
        run the graph; convcore's threads are left as they are there).

    Returns
    -------
    dask.array.Array, (N, ...)
        The model's outputs, chunked along N like the input (after
        `batch_size`), not computed: call ``.compute()`` (on the default
        client, if any), ``client.compute`` / ``client.persist`` with the
        client it was built for, and watch with
        ``dask.distributed.progress``.

    Notes
    -----
    In each distributed worker convcore's threads (process-wide) are set
    to ``cores // (Dask worker threads on that machine)``, at least 1
    (:func:`thread_share`), so workers never oversubscribe the CPU. Dask's
    local threaded scheduler runs several chunks at once in this process,
    whose thread count is left to you: ``convcore.set_num_threads(1)`` (or
    ``scheduler="synchronous"``, one chunk at a time on all threads). The
    outputs equal ``model(images)`` in one process bit for bit: every
    convcore op computes each output element the same way whatever the
    batch it is in.

    Examples
    --------
    >>> import numpy as np, convcore.dask
    >>> from convcore import nn
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3, rng=0))
    >>> x = np.random.default_rng(0).standard_normal((10, 1, 4, 4)).astype(np.float32)
    >>> y = convcore.dask.predict(model, x, batch_size=4)
    >>> y.chunks
    ((4, 4, 2), (3,))
    >>> bool((y.compute() == model(x)).all())
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"predict: model must be a convcore.nn.Module, got "
                        f"{type(model).__name__}")
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"predict: batch_size must be an int or None, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"predict: batch_size must be >= 1, got {batch_size}")
        batch_size = int(batch_size)
    if not isinstance(images, da.Array):
        if isinstance(images, np.memmap) and np.ndim(images) >= 1:
            mm = _from_memmap(images, batch_size or max(1, _auto_batch(images)))
            images = mm if mm is not None else np.asarray(images)
        if not isinstance(images, da.Array):
            arr = as_array(images, "images", "predict")
            if arr.ndim < 1:
                raise ValueError(f"predict: images must be (N, ...) with N the batch, "
                                 f"got shape {arr.shape}")
            images = da.from_array(arr, chunks=(batch_size or _auto_batch(arr),)
                                   + (-1,) * (arr.ndim - 1))
    if images.ndim < 1:
        raise ValueError(f"predict: images must be (N, ...) with N the batch, "
                         f"got shape {images.shape}")
    # N may be unknown (a filtered array): its chunks are then kept as they are
    if any(np.isnan(s) for s in images.shape[1:]) or (
            batch_size is not None and np.isnan(images.shape[0])):
        raise ValueError(f"predict: images has unknown chunk sizes (shape "
                         f"{images.shape}); call images.compute_chunk_sizes() first")
    images = images.rechunk({a: -1 for a in range(1, images.ndim)})
    if batch_size is not None:
        images = images.rechunk({0: batch_size})

    # one copy for the cluster, in inference mode and without the caches
    # (packed weights, saved forwards) the user's model may hold
    try:
        ship = pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, AttributeError, TypeError):  # e.g. a lambda inside
        import cloudpickle
        ship = cloudpickle.loads(cloudpickle.dumps(model))
    ship.eval()
    # the output's shape and dtype from one image, on this machine
    probe = np.asarray(ship(np.zeros((1,) + images.shape[1:], images.dtype)))
    if probe.ndim < 1 or probe.shape[0] != 1:
        raise ValueError(f"predict: the model must map a batch (N, ...) to outputs "
                         f"(N, ...); for input {(1,) + images.shape[1:]} it gave {probe.shape}")

    client = _client_or_default(client)
    if client is not None:
        model_ref = client.scatter(ship, broadcast=True, hash=False)
        hosts = _host_threads(client)
    else:
        model_ref = dask.delayed(ship, pure=False)
        hosts = None

    in_ind = "".join(chr(ord("a") + i) for i in range(images.ndim))
    out_ind = "a" + "".join(chr(ord("A") + i) for i in range(probe.ndim - 1))
    new_axes = {chr(ord("A") + i): s for i, s in enumerate(probe.shape[1:])}
    return da.blockwise(
        _predict_block, out_ind, images, in_ind, model_ref, None, hosts, None,
        new_axes=new_axes, concatenate=True, dtype=probe.dtype,
        meta=np.empty((0,) + probe.shape[1:], probe.dtype),
        # the model's reference is unique (no hash): two models on the same
        # images never share keys on a cluster
        name="convcore-predict-" + dask.base.tokenize(images, model_ref.key))


def _auto_batch(arr):
    """Images per chunk for a wrapped array: about 32 MiB a chunk."""
    per = max(1, int(np.prod(arr.shape[1:], dtype=np.int64)) * arr.dtype.itemsize)
    return max(1, min(arr.shape[0] or 1, (32 << 20) // per))


# ---------------------------------------------------------------- conv2d --

def _tile_bounds(chunks, out, stride, pad, span):
    """Output boundaries along one spatial axis: output o goes to the input
    chunk holding the centre of its window, o * stride - pad + (span-1)//2
    (with 'same' padding the output is chunked like the input), so each
    output tile reads its input chunk and a halo on either side."""
    bounds, b = [0], 0
    for c in chunks[:-1]:
        b += c
        o = min(out, max(0, -(-(b + pad - (span - 1) // 2) // stride)))
        if o > bounds[-1]:
            bounds.append(o)
    if out > bounds[-1]:
        bounds.append(out)
    return bounds


# Output tiles are computed from a multiple of this many rows and columns
# times the dilation (and cropped): Winograd's 4x4 output tiles (of each
# phase image, when dilated) then fall where they fall in the whole-array
# call, so each output is the same expression of the same inputs (in the
# direct path every output is one sum whatever its place).
_ALIGN = 4


def _aligned(o0, o1, out, dilation):
    """[o0, o1) widened to start at a multiple of _ALIGN * dilation and end
    at one or at the array's edge."""
    a = _ALIGN * dilation
    return o0 - o0 % a, min(out, -(-o1 // a) * a)


def _conv_tile(block, wb, rows, cols, crop, stride, dilation, groups, dtype):
    """One output tile: `block` holds the input rows/cols [r0, r1) x
    [c0, c1) clipped to the array; the zero padding outside it is put back
    here. `wb` is (weight, bias); `crop` the tile's rows and columns within
    the aligned output computed."""
    (r0, r1), (c0, c1) = rows, cols
    w, b = wb
    x = np.zeros(block.shape[:2] + (r1 - r0, c1 - c0), dtype)
    x[:, :, max(0, -r0):max(0, -r0) + block.shape[2],
      max(0, -c0):max(0, -c0) + block.shape[3]] = block
    y = convcore.conv2d(x, w, b, stride=stride, padding=0, dilation=dilation,
                        groups=groups)
    (i0, i1), (j0, j1) = crop
    return np.ascontiguousarray(y[:, :, i0:i1, j0:j1])


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """:func:`convcore.conv2d` over a Dask array, tile by tile, lazily.

    Parameters
    ----------
    x : dask.array.Array (or array_like), (N, C, H, W) or unbatched (C, H, W)
        May be chunked along N, H and W (chunks along C are merged into
        one). Its chunk sizes must be known.
    weight : array_like, (OC, C/groups, KH, KW)
    bias : array_like, (OC,), optional
    stride, padding, dilation, groups
        As :func:`convcore.conv2d`: ints or pairs; padding also 'same'
        (stride 1) or 'valid'.

    Returns
    -------
    dask.array.Array, (N, OC, OH, OW) or (OC, OH, OW)
        Chunked like `x` along N; along H and W, output row ``oh`` is in
        the tile of the input chunk holding the centre of its window
        (``oh * stride - pad + (dilation * (KH - 1)) // 2``): with
        ``padding='same'`` the output is chunked like `x`. dtype as
        :func:`convcore.conv2d`. Computed lazily; it equals
        ``convcore.conv2d`` on the whole array bit for bit.

    Notes
    -----
    Each output tile's task gets the input rows and columns its windows
    cover: its input chunk and a halo of about ``dilation * (kernel - 1) //
    2`` on each side, whatever the alignment of the chunk edges to the
    stride, widened so that the outputs it computes start at a multiple of
    4 (Winograd's output tile; the extra rows and columns are cropped).
    (``map_overlap`` keeps each output chunk the shape of its input chunk,
    which a stride breaks, so the overlapping tiles are cut here instead.)
    The task builds the zero padding at the array's borders itself and runs
    :func:`convcore.conv2d` on the tile with no padding.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convcore, convcore.dask
    >>> img = np.arange(2 * 1 * 9 * 9, dtype=np.float64).reshape(2, 1, 9, 9)
    >>> x = da.from_array(img, chunks=((1, 1), (1,), (4, 5), (5, 4)))
    >>> w = np.ones((1, 1, 3, 3))
    >>> y = convcore.dask.conv2d(x, w, padding="same", dilation=2)
    >>> y.chunks
    ((1, 1), (1,), (4, 5), (5, 4))
    >>> bool((y.compute() == convcore.conv2d(img, w, padding="same", dilation=2)).all())
    True
    """
    fn = "conv2d"
    if not isinstance(x, da.Array):
        x = da.asarray(as_array(x, "input", fn))
    w = as_array(weight.compute() if isinstance(weight, da.Array) else weight, "weight", fn)
    b = None if bias is None else as_array(
        bias.compute() if isinstance(bias, da.Array) else bias, "bias", fn)
    if any(np.isnan(s) for s in x.shape):
        raise ValueError(f"{fn}: input has unknown chunk sizes (shape {x.shape}); "
                         "call x.compute_chunk_sizes() first")
    dt = compute_dtype(fn, input=x, weight=w, bias=b)
    cv = _Conv(fn, 2, x.shape, w.shape, stride, padding, dilation, groups, dt)
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(
            f"{fn}: bias must have shape ({w.shape[0]},) (one per output "
            f"channel of weight {w.shape}), got {b.shape}")
    unbatched = cv.unbatched
    if unbatched:
        x = x[None]
    sh, sw, ph, pw, dh, dw, groups = cv.args
    N, C, H, W = x.shape
    _, OC, OH, OW = cv.out_shape
    KH, KW = w.shape[2:]
    span = (dh * (KH - 1) + 1, dw * (KW - 1) + 1)
    w = np.ascontiguousarray(w, dtype=dt)
    b = None if b is None else np.ascontiguousarray(b, dtype=dt)
    # the weights once in the graph, not in every task
    wb = dask.delayed((w, b), pure=True, traverse=False)
    x = x.rechunk({1: -1})

    row_b = _tile_bounds(x.chunks[2], OH, sh, ph, span[0])
    col_b = _tile_bounds(x.chunks[3], OW, sw, pw, span[1])
    grid = []
    for o0, o1 in zip(row_b[:-1], row_b[1:]):
        a0, a1 = _aligned(o0, o1, OH, dh)
        rows = (a0 * sh - ph, (a1 - 1) * sh - ph + span[0])
        line = []
        for q0, q1 in zip(col_b[:-1], col_b[1:]):
            b0, b1 = _aligned(q0, q1, OW, dw)
            cols = (b0 * sw - pw, (b1 - 1) * sw - pw + span[1])
            crop = ((o0 - a0, o1 - a0), (q0 - b0, q1 - b0))
            # the rows and columns of x the windows cover (none: all padding)
            r_lo, c_lo = min(max(0, rows[0]), H), min(max(0, cols[0]), W)
            tile = x[:, :, r_lo:max(r_lo, min(H, rows[1])),
                     c_lo:max(c_lo, min(W, cols[1]))].rechunk({2: -1, 3: -1})
            line.append(da.map_blocks(
                _conv_tile, tile, wb, rows, cols, crop, (sh, sw), (dh, dw),
                groups, dt, dtype=dt, chunks=(tile.chunks[0], (OC,), (o1 - o0,), (q1 - q0,)),
                meta=np.empty((0, 0, 0, 0), dt)))
        grid.append(line)
    out = da.block(grid)
    return out[0] if unbatched else out

