"""show_config(): how this build of convcore runs on this machine."""
import os
import platform

from convcore import _conv, _openmp


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
        "kernel_sets_compiled": _conv.kernel_sets(),
        "kernel_sets_usable": _conv.usable_kernel_sets(),
        "kernel_set": _conv.get_kernel_set(),
        "tiles": _conv.kernel_info(),
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
    print(f"  kernel sets built: {', '.join(c['kernel_sets_compiled'])}")
    print(f"  usable here:       {', '.join(c['kernel_sets_usable'])}"
          + (f" (CONVCORE_DISABLE_ISA={c['CONVCORE_DISABLE_ISA']})"
             if c["CONVCORE_DISABLE_ISA"] else ""))
    print(f"  kernel set chosen: {c['kernel_set']}: gemm float32 {t['float32']['gemm']}, "
          f"float64 {t['float64']['gemm']}; dot float32 {t['float32']['dot']}, "
          f"float64 {t['float64']['dot']}")
