"""Faults around files: a full disk, a download killed mid-file, two `dvc repro` at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT, copy_repo, run_dvc, set_params

DISK_FULL = r"""
import resource, signal, sys
from charlm.core.entry import run_main
from charlm.core.fsutil import write_bytes
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # get EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
run_main(lambda: write_bytes(sys.argv[1], b"x" * 100_000))
"""


def test_full_disk_gives_clear_error_and_keeps_previous_file(tmp_path):
    target = tmp_path / "checkpoint.bin"
    target.write_bytes(b"previous good content")
    proc = subprocess.run([sys.executable, "-c", DISK_FULL, str(target)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write" in lines[0] and "File too large" in lines[0]
    assert target.read_bytes() == b"previous good content"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.bin"]


def _mirror_path(url: str) -> str:
    return "/" + url.split("://", 1)[1]


@pytest.mark.slow
def test_download_killed_mid_file_leaves_nothing_taken_as_complete(server, mirror, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    from charlm.params import load_params
    spec = load_params(repo / "params.yaml").corpus("tinyshakespeare")
    url, body = spec.urls()[0], (mirror / _mirror_path(spec.urls()[0])[1:]).read_bytes()
    server.serve(_mirror_path(url), body, kind="stall", delay=60)
    env = {**os.environ, "CHARLM_MIRROR": server.base}
    proc = subprocess.Popen([sys.executable, "-m", "stages.download", "tinyshakespeare"],
                            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cache = repo / "data" / "cache"
    deadline = time.time() + 20
    while time.time() < deadline and not any(cache.glob(".*.tmp")):
        time.sleep(0.1)
    temps = list(cache.glob(".*.tmp"))
    assert temps, "the download never started"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (cache / spec.sources[0].sha256).exists()
    assert not (repo / "data" / "raw" / "tinyshakespeare.txt").exists()
    # the next run (mirror now healthy) starts clean and completes
    server.serve(_mirror_path(url), body)
    done = subprocess.run([sys.executable, "-m", "stages.download", "tinyshakespeare"],
                          cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (repo / "data" / "raw" / "tinyshakespeare.txt").read_bytes() == body
    assert not list(cache.glob(".*.tmp"))


@pytest.mark.slow
def test_second_concurrent_dvc_repro_is_refused(server, mirror, tmp_path):
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, ["run.corpora=[tinyshakespeare]", "~run.pairs", "+run.pairs={}"])
    from charlm.params import load_params
    spec = load_params(repo / "params.yaml").corpus("tinyshakespeare")
    url = spec.urls()[0]
    body = (mirror / _mirror_path(url)[1:]).read_bytes()
    server.serve(_mirror_path(url), body, kind="slow", delay=6)
    env = {**os.environ, "CHARLM_MIRROR": server.base, "DVC_NO_ANALYTICS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "download"], cwd=repo,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline and server.hits(_mirror_path(url)) == 0:
        time.sleep(0.1)
    assert server.hits(_mirror_path(url)) == 1, "first repro never reached the download"
    second = run_dvc(["repro", "download"], repo, {"CHARLM_MIRROR": server.base}, check=False)
    assert second.returncode != 0
    assert "lock" in (second.stderr + second.stdout).lower()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert (repo / "data" / "raw" / "tinyshakespeare.txt").read_bytes() == body
    assert "up to date" in run_dvc(["status", "download"], repo).stdout
