"""convcore's benchmarks, shipped with the package.

``python -m convcore.bench`` (or ``convcore-bench``) prints, on this machine,
how fast each op runs, how close to the machine's measured peak, and how
much faster than plain NumPy, the loop reference and, when installed,
PyTorch and onnxruntime. Pieces, also used by the pytest-benchmark suite in
the repository's ``benchmarks/``:

* ``workload``: the named layer shapes;
* ``numpy_baselines``: the fastest plain-NumPy versions of the ops;
* ``contenders``: the calls timed against each other;
* ``timing``: interleaved timing, medians, spread, a progress bar;
* ``peak``: FMA-throughput and memory-bandwidth probes;
* ``report``: the report itself.
"""
