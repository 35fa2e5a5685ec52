"""Numerics profiles (charlm/core/numerics.py): the portable profile gives the same bits on every
x86-64 CPU, its start-up check refuses a setting that did not take effect, and no tracked
output records a fact of the machine.

The golden bits below were computed under the portable profile by tests/numerics/probe.py
(torch 2.13.0, numpy 2.4.6 as locked in requirements.lock). The same probe under `native`
on an AVX-512 CPU gives other bits in every number (checked below where the CPU has
AVX-512), so the comparison fails if a kernel outside the portable set ran; on an
AVX2-only CPU the start-up check tests stand guard instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from charlm.core import numerics
from charlm.core.errors import CharlmError

from helpers import ROOT

PROBE = ROOT / "tests" / "numerics" / "probe.py"
# AdamW fused since 103b190 (its CPU kernel dispatches by ATEN_CPU_CAPABILITY like every other
# ATen kernel): these bits were measured on an AVX2-only EPYC
GOLDEN = {
    "rnn": {"best_val_bpc": "0x1.8cb8a7c1cbff3p+0", "weights": "08f1c202eea8e04c",
            "test_log2p": "-0x1.26c8e627a98c4p+11", "dynamic_log2p": "-0x1.ec23ee2d14fe0p+9"},
    "lstm": {"best_val_bpc": "0x1.8d0d414d9970fp+1", "weights": "e63bf63e148047b4",
             "test_log2p": "-0x1.27a5891e2e9a0p+12", "dynamic_log2p": "-0x1.c750ff5a63105p+10"},
    "gru": {"best_val_bpc": "0x1.e5f7653db132fp+0", "weights": "03731b4656de96e8",
            "test_log2p": "-0x1.69eaad594200ap+11", "dynamic_log2p": "-0x1.156b7066ac556p+10"},
}
LOCKED = ("2.13.0", "2.4.6")      # torch, numpy: the versions the golden bits are for


def _env(**over: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in numerics.PORTABLE_ENV and k != numerics.ENV}
    return {**env, "PYTHONPATH": str(ROOT), **over}


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(**env),
                          capture_output=True, text=True, timeout=120)


def _probe(tmp: Path, **env: str) -> dict:
    r = subprocess.run([sys.executable, str(PROBE), str(tmp)], cwd=ROOT, env=_env(**env),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _has_avx512() -> bool:
    try:
        return "avx512f" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def test_profile_comes_from_the_environment_and_a_bad_name_is_refused(monkeypatch):
    monkeypatch.delenv(numerics.ENV, raising=False)
    assert numerics.profile() == "portable"
    monkeypatch.setenv(numerics.ENV, "native")
    assert numerics.check() == "native"
    monkeypatch.setenv(numerics.ENV, "fast")
    with pytest.raises(CharlmError, match="CHARLM_NUMERICS='fast': must be one of portable, native"):
        numerics.check()


def test_import_charlm_sets_the_portable_variables_over_stray_ones():
    code = "import os, charlm; print(' '.join(os.environ[k] for k in %r))" % (
        list(numerics.PORTABLE_ENV),)
    r = _python(code, ATEN_CPU_CAPABILITY="avx512", MKL_CBWR="AUTO")
    assert r.stdout.split() == " ".join(numerics.PORTABLE_ENV.values()).split(), r.stderr
    r = _python(code.replace("os.environ[k]", "os.environ.get(k, '-')"), CHARLM_NUMERICS="native")
    assert r.stdout.split() == ["-"] * 4, "native must leave the libraries' own choice"


@pytest.mark.slow
@pytest.mark.skipif((torch.__version__.split("+")[0], np.__version__) != LOCKED,
                    reason=f"the golden bits are for torch {LOCKED[0]}, numpy {LOCKED[1]}")
def test_portable_training_and_scoring_give_the_golden_bits(tmp_path):
    """rnn, lstm and gru: best val bpc, the weights, static and dynamic log2 P on test, equal
    to the bit to what every x86-64 CPU computes; the machine's own default thread count
    (here forced to 1) does not enter: portable runs 2 threads unless a param says."""
    got = _probe(tmp_path / "p", OMP_NUM_THREADS="1")
    assert (got["profile"], got["capability"], got["threads"]) == ("portable", "AVX2", 2)
    assert got["runs"] == GOLDEN
    summary = json.loads((tmp_path / "p" / "lstm" / "summary.json").read_text())
    assert summary["numerics"] == "portable"
    assert not {"threads", "torch", "cpu", "cpu_capability"} & set(summary), \
        "machine facts belong in timing.json, not in the tracked summary"
    timing = json.loads((tmp_path / "p" / "lstm" / "checkpoint" / "timing.json").read_text())
    assert {"threads", "torch", "cpu_capability"} <= set(timing)
    if _has_avx512():        # the comparison has teeth: this CPU's own kernels differ
        native = _probe(tmp_path / "n", CHARLM_NUMERICS="native")["runs"]
        for arch, numbers in native.items():
            assert all(numbers[k] != GOLDEN[arch][k] for k in numbers), (arch, numbers)


def test_no_onednn_kernel_above_avx2_runs_under_portable():
    """oneDNN's own log of every primitive a training step of an LSTM and a GRU runs."""
    code = ("import charlm, torch\n"
            "for cls in (torch.nn.LSTM, torch.nn.GRU):\n"
            "    m = cls(8, 16, num_layers=2)\n"
            "    m(torch.randn(5, 3, 8))[0].sum().backward()\n")
    r = _python(code, ONEDNN_VERBOSE="1")
    assert r.returncode == 0, r.stderr
    execs = [ln for ln in r.stdout.splitlines() if ",exec,cpu," in ln]
    assert any(",rnn," in ln for ln in execs), r.stdout[:2000]
    above = [ln for ln in execs if "avx512" in ln or "amx" in ln]
    assert not above, above[:3]
    assert "isa:Intel AVX2" in r.stdout


@pytest.mark.parametrize("setup,match", [
    # a kernel ran before charlm set the variables (or a CPU without AVX2): torch's own
    ("import os; os.environ['ATEN_CPU_CAPABILITY'] = 'default'; import torch; "
     "torch.ones(8).sum()", "torch's CPU kernels are DEFAULT, not AVX2"),
    # oneDNN already fixed its instruction set
    ("import os; os.environ.update(ONEDNN_MAX_CPU_ISA='SSE41', ATEN_CPU_CAPABILITY='avx2'); "
     "import torch; "
     "torch.nn.LSTM(4, 4)(torch.zeros(2, 1, 4))", "oneDNN runs 'Intel SSE4.1', not AVX2"),
    # MKL already ran a matrix product without MKL_CBWR
    ("import os; os.environ.update(ONEDNN_MAX_CPU_ISA='AVX2', ATEN_CPU_CAPABILITY='avx2'); "
     "import torch; a = torch.randn(64, 64); a @ a", "MKL runs without MKL_CBWR"),
])
def test_check_refuses_a_setting_that_did_not_take_effect(setup, match):
    code = (f"{setup}\nimport charlm\nfrom charlm.core import numerics\n"
            "try:\n    numerics._check_torch()\nexcept Exception as e:\n    print(e)\n")
    r = _python(code)
    assert match in r.stdout, (r.stdout, r.stderr)
    assert "import charlm first" in r.stdout


def test_check_refuses_numpy_imported_first():
    """On an AVX-512 CPU numpy imported before charlm dispatches AVX-512 kernels: refused.
    On an AVX2-only CPU it has none to dispatch, the numbers are the portable ones: accepted."""
    r = _python("import numpy, charlm\nfrom charlm.core import numerics\ntry:\n"
                "    print(numerics.check())\nexcept Exception as e:\n    print(e)\n")
    if _has_avx512():
        assert "did not take effect for numpy" in r.stdout, r.stderr
    else:
        assert r.stdout.strip() == "portable", (r.stdout, r.stderr)


@pytest.mark.parametrize("argv,env,match", [
    (["-m", "charlm.cli", "models"], {"CHARLM_NUMERICS": "fast"},
     "error: CHARLM_NUMERICS='fast': must be one of portable, native"),
    (["-m", "stages.prepare", "tinyshakespeare"], {"CHARLM_NUMERICS": "native"},
     "error: numerics: params.yaml says 'portable' but this process runs 'native'"),
])
def test_entry_points_refuse_a_broken_setting_in_one_line(argv, env, match):
    r = subprocess.run([sys.executable, *argv], cwd=ROOT, env=_env(**env),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.startswith(match), \
        r.stderr
