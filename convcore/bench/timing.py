"""Interleaved timing: contenders alternated call by call, so that a drift of
the machine (another process, the clock, the caches) hits all of them alike;
medians, and the spread that says when a row is not to be trusted.
"""
import gc
import math
import statistics
import time


def time_call(fn):
    """Seconds one call of `fn` takes (its result is dropped at once)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(fns, counts, on_sample=None):
    """Time the contenders alternately until each has its number of samples.

    Round r calls, in turn, every contender that still needs samples,
    starting one further along the list each round, so that no contender
    always runs first (after an idle pause) or last. A contender that needs
    fewer samples (a slow one) drops out of the later rounds, never out of
    the first ones: its samples are spread over the same stretch of time as
    the others'. The garbage collector is off while timing.

    Parameters
    ----------
    fns : dict of str -> callable
        Zero-argument calls, each already warmed up.
    counts : dict of str -> int
        Samples wanted per contender (>= 1).
    on_sample : callable, optional
        Called with no argument after each sample (progress bars).

    Returns
    -------
    dict of str -> list of float
        Seconds per call, in the order measured.

    Examples
    --------
    >>> s = interleaved({"a": lambda: None, "b": lambda: None}, {"a": 3, "b": 1})
    >>> len(s["a"]), len(s["b"])
    (3, 1)
    """
    names = list(fns)
    for n in names:
        if counts.get(n, 0) < 1:
            raise ValueError(f"interleaved: counts[{n!r}] must be >= 1, "
                             f"got {counts.get(n)!r}")
    samples = {n: [] for n in names}
    rounds = max(counts[n] for n in names) if names else 0
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for i in range(len(names)):
                n = names[(r + i) % len(names)]
                if len(samples[n]) < counts[n]:
                    samples[n].append(time_call(fns[n]))
                    if on_sample is not None:
                        on_sample()
    finally:
        if was_enabled:
            gc.enable()
    return samples


def samples_for(estimate, budget, lo, hi):
    """Samples to take of a call that lasts `estimate` seconds: as many as
    fit in `budget` seconds, at least `lo`, at most `hi`.

    Examples
    --------
    >>> samples_for(0.01, 0.5, 3, 15), samples_for(2.0, 0.5, 3, 15)
    (15, 3)
    """
    if estimate <= 0:
        return hi
    return max(lo, min(hi, int(budget / estimate)))


def summary(samples):
    """Median, min, max and max/min of a list of seconds.

    Examples
    --------
    >>> summary([1.0, 3.0, 2.0])
    {'median': 2.0, 'min': 1.0, 'max': 3.0, 'spread': 3.0}
    """
    lo, hi = min(samples), max(samples)
    return {"median": statistics.median(samples), "min": lo, "max": hi,
            "spread": hi / lo if lo > 0 else math.inf}


def geomean(values):
    """Geometric mean of the positive finite values (None if there are none).

    Examples
    --------
    >>> geomean([1.0, 4.0, None])
    2.0
    """
    vs = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not vs:
        return None
    return math.exp(sum(math.log(v) for v in vs) / len(vs))
