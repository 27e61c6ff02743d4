"""Which BLAS a Python peer ran, for its JSON summary: a peer's figure means
little without its setup. Debian's numpy and torch call whatever
libblas.so.3 the alternatives system points to: the reference (netlib)
BLAS, many times slower, unless libopenblas0-pthread is installed; and
OpenBLAS picks a kernel for the processor (or the one OPENBLAS_CORETYPE
names). Imported by torch_peer.py, prototype_peer.py and
simulate_vs_torch.py (each puts bench/ on its path).
"""

import os

# Set on some machines for older OpenBLAS builds: they replace the kernel
# OpenBLAS detects. The benches run the peers without them.
OPENBLAS_TUNING_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def loaded_blas():
    """The BLAS-like libraries mapped into this process (Linux)."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and any(k in os.path.basename(parts[-1]).lower()
                                           for k in ("blas", "mkl", "blis")):
                    libs.add(os.path.realpath(parts[-1]))
    except OSError:
        pass
    return sorted(libs)


def blas_kernels():
    """What threadpoolctl sees of the BLAS and OpenMP libraries loaded:
    name, version, the kernel OpenBLAS picked ("architecture": Haswell,
    SkylakeX, ..., or Prescott, its generic fallback for a processor it
    does not know), threads. None without python3-threadpoolctl."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    keys = ("user_api", "internal_api", "version", "architecture", "threading_layer",
            "num_threads", "filepath")
    return [{k: info[k] for k in keys if k in info}
            for info in threadpoolctl.threadpool_info()]


def describe(kernels, libs=()):
    """'openblas 0.3.21 Prescott, 1 thread(s)' for the BLAS entries of
    blas_kernels(); the mapped libraries when threadpoolctl is absent."""
    if kernels is None:
        return "threadpoolctl absent; BLAS " + (", ".join(libs) or "?")
    blas = [k for k in kernels if k.get("user_api") == "blas"]
    if not blas:
        return "no BLAS library seen"
    return "; ".join(" ".join(str(k[f]) for f in ("internal_api", "version", "architecture")
                              if k.get(f)) + f", {k.get('num_threads')} thread(s)"
                     for k in blas)


def summary():
    """The fields a peer adds to its JSON summary."""
    libs = loaded_blas()
    kernels = blas_kernels()
    return {"blas": libs, "kernels": kernels, "kernel": describe(kernels, libs),
            "openblas_env": {k: os.environ.get(k)
                             for k in OPENBLAS_TUNING_VARS + ("OPENBLAS_NUM_THREADS",
                                                              "OMP_WAIT_POLICY")}}
