"""Numerics profiles: the same bits on every x86-64 CPU, or the CPU's fastest kernels.

`portable` (the default) makes every library that computes a number people compare run
the same x86-64 AVX2 code path, whatever the CPU offers beyond it (AVX-512, AMX, bf16):

- PyTorch's own vectorised kernels (ATen): `ATEN_CPU_CAPABILITY=avx2`;
- oneDNN (the fused LSTM/GRU/RNN cores): `ONEDNN_MAX_CPU_ISA=AVX2`;
- MKL (matrix products): `MKL_CBWR=AVX2` (conditional numerical reproducibility; it
  also makes its results independent of the thread count);
- numpy (the n-gram): its AVX-512 dispatch targets off (`NPY_DISABLE_CPU_FEATURES`);
- torch's intra-op threads: 2 unless a param sets them (`train.common.threads`): oneDNN's
  LSTM splits its reductions by thread, so its bits follow the thread count.

`native` sets none of them: each library picks its fastest kernels, and numbers differ
from CPU to CPU in the last bits (docs/reproducibility.md measures both).

The profile comes from `CHARLM_NUMERICS` (dvc.yaml passes params.yaml's `numerics`) and
is applied when `charlm` is imported, before torch and numpy: the libraries read these
variables when they first compute, so importing charlm first is enough. `check()` proves
at start-up that the profile took effect (and refuses a CPU without AVX2): a process
that ran a kernel before charlm set the variables, or a CPU that cannot run the portable
kernels, gets one line naming the fix instead of numbers that differ.
"""

from __future__ import annotations

import functools
import os
import platform
import sys

from .errors import CharlmError

ENV = "CHARLM_NUMERICS"
PROFILES = ("portable", "native")
DEFAULT = "portable"
# numpy 2.x dispatch targets above AVX2 (X86_V3); disabling one this CPU lacks is a no-op
NUMPY_DISABLE = "X86_V4 AVX512_ICL AVX512_SPR"
PORTABLE_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2",
    "NPY_DISABLE_CPU_FEATURES": NUMPY_DISABLE,
}
PORTABLE_THREADS = 2
_HOW = f"set params.yaml's numerics (dvc exp run -S numerics=native) or {ENV}=native"


def profile() -> str:
    """The profile this process runs: CHARLM_NUMERICS, or portable when unset."""
    name = os.environ.get(ENV, "") or DEFAULT
    if name not in PROFILES:
        raise CharlmError(f"{ENV}={name!r}: must be one of {', '.join(PROFILES)}")
    return name


def apply() -> None:
    """Set the portable profile's variables (called by `import charlm`, before torch).

    Under portable they are set whatever they were (a stray ATEN_CPU_CAPABILITY=avx512
    must not win); under native (or an invalid name, reported by check()) nothing is
    touched."""
    if os.environ.get(ENV, "") in ("", "portable"):
        os.environ.update(PORTABLE_ENV)


def check() -> str:
    """Raise a CharlmError unless the profile is in effect; returns the profile's name.
    Under portable, torch's thread count is set to PORTABLE_THREADS.

    numpy is checked when it is loaded, torch when it is loaded (a stage that never
    imports torch pays nothing for it)."""
    name = profile()
    if name == "native":
        return name
    if platform.machine().lower() not in ("x86_64", "amd64"):
        raise CharlmError(f"numerics 'portable' runs x86-64 AVX2 kernels; this is a "
                          f"{platform.machine()} machine: {_HOW} (its numbers are its own)")
    if "numpy" in sys.modules:
        _check_numpy()
    if "torch" in sys.modules:
        _check_torch()
        sys.modules["torch"].set_num_threads(PORTABLE_THREADS)
    return name


def _check_numpy() -> None:
    import numpy as np

    features = np._core._multiarray_umath.__cpu_features__
    if not features.get("X86_V3", False):
        raise CharlmError(f"numerics 'portable' needs a CPU with AVX2 (x86-64-v3), which "
                          f"this one lacks: {_HOW}")
    if features.get("X86_V4", False):
        raise CharlmError("numerics 'portable' did not take effect for numpy (it was "
                          "imported before charlm): import charlm first, or " + _HOW)


def _check_torch() -> None:
    import torch

    cap = torch.backends.cpu.get_cpu_capability()
    if cap != "AVX2":
        why = ("this CPU has no AVX2" if not _cpu_has_avx2() else
               "torch ran a kernel before charlm set ATEN_CPU_CAPABILITY: import charlm first")
        raise CharlmError(f"numerics 'portable' did not take effect: torch's CPU kernels are "
                          f"{cap}, not AVX2 ({why}); or {_HOW}")
    isa = onednn_isa()
    if isa is not None and not isa.endswith("AVX2"):
        raise CharlmError(f"numerics 'portable' did not take effect: oneDNN runs '{isa}', not "
                          f"AVX2 (oneDNN ran before charlm set ONEDNN_MAX_CPU_ISA: import "
                          f"charlm first); or {_HOW}")
    if mkl_cbwr_branch() == MKL_CBWR_BRANCH_OFF:
        raise CharlmError(f"numerics 'portable' did not take effect: MKL runs without "
                          f"MKL_CBWR (it ran before charlm set it: import charlm first); "
                          f"or {_HOW}")


MKL_CBWR_BRANCH, MKL_CBWR_BRANCH_OFF = 1, 1     # mkl_service.h


@functools.lru_cache(maxsize=None)
def mkl_cbwr_branch() -> int | None:
    """MKL's code-path setting (mkl_cbwr_get(MKL_CBWR_BRANCH)) as the torch build linked it,
    or None where torch has no MKL or does not export it (e.g. ARM builds)."""
    import ctypes

    import torch

    lib = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        get = ctypes.CDLL(lib).mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    return get(MKL_CBWR_BRANCH)


def _cpu_has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return any(line.startswith("flags") and " avx2" in line for line in f)
    except OSError:
        return True


@functools.lru_cache(maxsize=None)
def onednn_isa() -> str | None:
    """The instruction set oneDNN dispatches to, from its verbose header (e.g. "Intel
    AVX2"); None when torch has no oneDNN or the header was already printed."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return None
    out = _capture_stdout(_run_tiny_lstm)
    for line in out.splitlines():
        if ",isa:" in line:
            return line.split(",isa:", 1)[1].strip()
    return None


def _run_tiny_lstm() -> None:
    import torch

    lstm = torch.nn.LSTM(4, 4)
    with torch.no_grad(), torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        lstm(torch.zeros(2, 1, 4))


def _capture_stdout(fn) -> str:
    """What `fn` writes to file descriptor 1 (oneDNN prints from C, not through sys.stdout)."""
    import tempfile

    sys.stdout.flush()
    with tempfile.TemporaryFile() as f:
        saved = os.dup(1)
        os.dup2(f.fileno(), 1)
        try:
            fn()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        f.seek(0)
        return f.read().decode("utf-8", "replace")
