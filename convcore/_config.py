"""show_config(): how this build of convcore runs on this machine."""
import os
import platform
import warnings

from convcore import _conv, _openmp


ALGORITHMS = ("auto", "direct", "winograd")


def set_conv_algorithm(name):
    """Choose how 3x3 stride-1 convolutions (dilated or not, no groups)
    run, for the whole process.

    Parameters
    ----------
    name : {"auto", "direct", "winograd"}
        ``"auto"`` (the default, or ``CONVCORE_CONV_ALGORITHM`` at import):
        Winograd F(4x4, 3x3) when the layer has at least 16 input and 16
        output channels, the direct (GEMM) path otherwise; for the forward,
        the input gradient (padding <= 2 x dilation) and the weight
        gradient. A dilated layer runs as dilation[0] x dilation[1]
        undilated ones, on the phases of its input and output. ``"direct"``:
        never Winograd. ``"winograd"``: Winograd for every such layer,
        whatever its channels. The choice never depends on the image size,
        so a layer's results do not change with the batch or a crop (see
        :func:`convcore.dask.conv2d`). Winograd rounds differently from the
        direct path: in float32 the two differ by about 1e-6 to 1e-5 of the
        output's largest magnitude. Each output of a 4x4 tile is computed
        from the tile's whole 6x6 input patch, so an infinity or NaN in the
        input reaches the outputs of its tile whose windows miss it (NaN
        there, where the direct path gives a finite value), and float32
        inputs near 1e36 can overflow in the transforms.

    Examples
    --------
    >>> import convcore
    >>> convcore.set_conv_algorithm("direct")
    >>> convcore.get_conv_algorithm()
    'direct'
    >>> convcore.set_conv_algorithm("auto")
    """
    if not isinstance(name, str) or name.strip().lower() not in ALGORITHMS:
        raise ValueError(f"set_conv_algorithm: name must be one of {ALGORITHMS}, "
                         f"got {name!r}")
    _conv.set_conv_algorithm(name.strip().lower())


def get_conv_algorithm():
    """The algorithm choice in force: "auto", "direct" or "winograd" (see
    :func:`set_conv_algorithm`).

    Examples
    --------
    >>> import convcore
    >>> convcore.get_conv_algorithm()
    'auto'
    """
    return _conv.get_conv_algorithm()


def _algorithm_from_env():
    raw = os.environ.get("CONVCORE_CONV_ALGORITHM", "").strip()
    if raw:
        try:
            set_conv_algorithm(raw)
        except ValueError:
            warnings.warn(f"CONVCORE_CONV_ALGORITHM={raw!r} ignored: expected one of "
                          f"{ALGORITHMS}", RuntimeWarning, stacklevel=3)


_algorithm_from_env()


def config():
    """The facts show_config() prints, as a dict."""
    import convcore
    from convcore import __version__

    return {
        "version": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "build": _conv.build_mode(),
        "openmp": _openmp.openmp_enabled(),
        "num_threads": _openmp.get_num_threads(),
        "fork_serial": _openmp.fork_serial(),
        "omp_wait": convcore._omp_wait,
        "cpu_features": _conv.cpu_features(),
        "cache_l2_bytes": _conv.cache_l2_bytes(),
        "kernel_sets_compiled": _conv.kernel_sets(),
        "kernel_sets_usable": _conv.usable_kernel_sets(),
        "kernel_set": _conv.get_kernel_set(),
        "tiles": _conv.kernel_info(),
        "conv_algorithm": _conv.get_conv_algorithm(),
        "CONVCORE_DISABLE_ISA": os.environ.get("CONVCORE_DISABLE_ISA", ""),
    }


def show_config():
    """Print version, OpenMP status, threads, CPU features and kernels chosen.

    Examples
    --------
    >>> import convcore
    >>> convcore.show_config()  # doctest: +SKIP
    convcore 0.1.0 (Python 3.11.7, x86_64)
      build:             release
      openmp:            on, 2 threads
      ...
    """
    c = config()
    t = c["tiles"]
    print(f"convcore {c['version']} (Python {c['python']}, {c['machine']})")
    print(f"  build:             {c['build']}"
          + (" (Cython bounds, wraparound and initialization checks on)"
             if c["build"] == "debug" else ""))
    print(f"  openmp:            {'on' if c['openmp'] else 'OFF (serial build)'}, "
          f"{c['num_threads']} threads; spin {c['omp_wait']}")
    if c["fork_serial"]:
        print("                     serial: a forked process (OpenMP threads do not survive fork)")
    print(f"  cpu features:      {', '.join(c['cpu_features']) or 'none used'}")
    print(f"  L2 cache:          {c['cache_l2_bytes'] // 1024} KiB per core (sizes the cache blocking)")
    print(f"  kernel sets built: {', '.join(c['kernel_sets_compiled'])}")
    print(f"  usable here:       {', '.join(c['kernel_sets_usable'])}"
          + (f" (CONVCORE_DISABLE_ISA={c['CONVCORE_DISABLE_ISA']})"
             if c["CONVCORE_DISABLE_ISA"] else ""))
    print(f"  kernel set chosen: {c['kernel_set']}: gemm float32 {t['float32']['gemm']}, "
          f"float64 {t['float64']['gemm']}; pixels float32 {t['float32']['pixels']}, "
          f"float64 {t['float64']['pixels']}; dot float32 {t['float32']['dot']}, "
          f"float64 {t['float64']['dot']}")
    print(f"  conv algorithm:    {c['conv_algorithm']} (3x3 stride 1: Winograd F(4x4, 3x3) "
          + {"auto": "from 16 input and 16 output channels, direct below",
             "direct": "never", "winograd": "always"}[c["conv_algorithm"]] + ")")
