"""Test helpers shared by the test modules: paths, a real HTTP server on 127.0.0.1, repo
copies, running dvc, tiny corpora, naive n-gram counts, running the charlm CLI in process.

Fixtures live in conftest.py; the tiny trained repository of the CLI tests in tiny_repo.py;
the fault suite's projects in faults/faultkit.py."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MIRROR = (ROOT.parent / "shared" / "corpora").resolve()


def mirror_folders(value: str | None) -> list[str]:
    """The folder entries of a `:`-separated CHARLM_MIRROR value (as charlm.data.download splits
    it: a ':' before '//' or a port number is part of a URL); base URLs are left out."""
    entries = re.split(r":(?!//)(?!\d+(?:/|$))", value or "")
    return [e.strip() for e in entries if e.strip() and "://" not in e]


def find_mirror(environ=os.environ) -> tuple[Path | None, list[str]]:
    """The corpus mirror the tests read: CHARLM_TEST_MIRROR if set, else ../shared/corpora,
    else the first folder of CHARLM_MIRROR; a mirror is a folder holding MANIFEST.tsv.
    Returns (the folder or None, every place looked at)."""
    if environ.get("CHARLM_TEST_MIRROR"):
        candidates = [environ["CHARLM_TEST_MIRROR"]]
    else:
        candidates = [str(SHARED_MIRROR)] + mirror_folders(environ.get("CHARLM_MIRROR"))
    for c in candidates:
        path = Path(c).expanduser()
        if (path / "MANIFEST.tsv").is_file():
            return path.resolve(), candidates
    return None, candidates

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: dict = {}

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        self.hits[path] = self.hits.get(path, 0) + 1
        route = self.routes.get(path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        kind, body = route.get("kind", "ok"), route.get("body", b"")
        if kind == "fail_once" and self.hits[path] == 1:
            self.send_error(503, "Service Unavailable")
            return
        if kind == "status":
            self.send_error(route["status"])
            return
        self.send_response(200)
        length = len(body) + (1000 if kind == "truncated" else 0)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if kind == "slow":
            time.sleep(route.get("delay", 3.0))
        try:
            if kind == "stall":       # half the body, then nothing for `delay` seconds
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(route.get("delay", 30.0))
                return
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if kind == "truncated":
            self.close_connection = True


class LocalServer:
    """A real HTTP server on 127.0.0.1: `serve(path, body, kind=...)` adds a route."""

    def __init__(self):
        handler = type("Handler", (_Handler,), {"routes": {}, "hits": {}})
        self.handler = handler
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, path: str, body: bytes = b"", **route) -> str:
        self.handler.routes[path] = {"body": body, **route}
        return self.base + path

    def hits(self, path: str) -> int:
        return self.handler.hits.get(path, 0)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def copy_repo(dest: Path) -> Path:
    """A fresh git + DVC repo at `dest` holding this checkout's code and pipeline files."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in ("charlm", "stages"):
        shutil.copytree(ROOT / d, dest / d, ignore=ignore)
    for f in ("dvc.yaml", "params.yaml", "corpora.yaml", ".dvcignore", ".gitignore"):
        if (ROOT / f).exists():
            shutil.copy2(ROOT / f, dest / f)
    (dest / ".dvc").mkdir()
    shutil.copytree(ROOT / ".dvc" / "plots", dest / ".dvc" / "plots")
    shutil.copy2(ROOT / ".dvc" / "config", dest / ".dvc" / "config")
    shutil.copy2(ROOT / ".dvc" / ".gitignore", dest / ".dvc" / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def toy_params(root: Path, corpus: str = "toy", models: dict | None = None) -> None:
    """dvc.yaml and params.yaml of a repository with one corpus (unfetched) and, for each
    `models` entry (name -> "{arch: ..., hidden_size: ...}"), a <corpus>-<name> pair: what
    the `charlm` commands need to find models by name."""
    models = models or {}
    pairs = ", ".join(f"{corpus}-{m}: {{corpus: {corpus}, model: {m}}}" for m in models)
    entries = ", ".join(f"{m}: {spec}" for m, spec in models.items())
    (root / "dvc.yaml").write_text("stages: {}\n")
    (root / "params.yaml").write_text(
        f"corpora:\n  {corpus}: {{sources: [{{url: {corpus}.txt, sha256: '{'0' * 64}'}}]}}\n"
        f"run:\n  corpora: [{corpus}]\n  pairs: {{{pairs}}}\n"
        f"train:\n  models: {{{entries}}}\n")


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`git ARGS` in `cwd` as a throwaway author (no signing): a test repo's commits."""
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True,
                          capture_output=True, text=True)


def set_params(repo: Path, overrides: list[str], file: str = "params.yaml") -> None:
    """Apply `dvc exp run -S`-style overrides to a repo's params file (DVC's own code)."""
    from dvc.utils.hydra import apply_overrides
    apply_overrides(repo / file, overrides)


SMALL_NGRAM = ["ngram.max_order=3", "ngram.smoothings=[kneser_ney]", "ngram.sample_orders=[2,3]",
               "evaluate.sample.chars=40"]


def small_repo(dest: Path, params: list[str] = (), corpus: str = "tinyshakespeare",
               max_chars: int = 100_000) -> Path:
    """copy_repo with a small n-gram, `corpus` cut to `max_chars` and `params` applied,
    committed (DVCLive needs a commit): a fresh repo where `dvc exp run` takes seconds."""
    repo = copy_repo(dest)
    set_params(repo, [*SMALL_NGRAM, *params])
    set_params(repo, [f"++corpora.{corpus}.max_chars={max_chars}"], file="corpora.yaml")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "params")
    return repo


def run_dvc(args: list[str], cwd: Path, env: dict | None = None, check: bool = True):
    """Run the `dvc` of this interpreter's environment in `cwd`."""
    full_env = {**os.environ, "DVC_NO_ANALYTICS": "1", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


PYTHON = sys.executable


# --------------------------------------------------------------------------- tiny corpora

WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "it", "was", "big"]


def tiny_text(n_words: int = 6000, seed: int = 0) -> str:
    """`n_words` random words of WORDS, a sentence ('.' and a newline) every ninth."""
    rng = np.random.default_rng(seed)
    words = rng.choice(WORDS, n_words)
    return " ".join(w + (".\n" if i % 9 == 8 else "") for i, w in enumerate(words))


def markov_text(n: int, alphabet: str, seed: int) -> str:
    """A text with structure (a random order-2 Markov chain), so that KN's counts-of-counts
    are populated and the discounts are estimated rather than fallen back."""
    rng = np.random.default_rng(seed)
    a = len(alphabet)
    trans = rng.dirichlet(np.full(a, 0.3), size=(a, a))
    out = [0, 1]
    for _ in range(n - 2):
        out.append(int(rng.choice(a, p=trans[out[-2], out[-1]])))
    return "".join(alphabet[i] for i in out)


# --------------------------------------------------------------------------- n-gram counting

def naive_counts(ids: list[int], pad: int, max_order: int) -> dict[tuple, int]:
    """Every gram of 1..max_order+1 ids of `ids` padded with `max_order` pads, counted by a loop."""
    s = [pad] * max_order + ids
    c = Counter()
    for j in range(max_order, len(s)):
        for k in range(1, max_order + 2):
            c[tuple(s[j - k + 1:j + 1])] += 1
    return c


def decode_gram(counts, k: int, r: int) -> tuple:
    """The ids of row `r` of the order-`k` table of an NgramCounts."""
    sizes = counts.sizes
    out = []
    while k >= 1:
        key = int(counts.keys[k - 1][r])
        out.append(key // sizes[k - 1])
        r = key % sizes[k - 1]
        k -= 1
    return tuple(reversed(out))


# --------------------------------------------------------------------------- the CLI in process

def run_cli(argv: list[str], capsys, monkeypatch=None, stdin: bytes | None = None):
    """(exit status, stdout, stderr) of `charlm ARGV`, in this process."""
    from charlm.cli.main import main
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def exp_overrides(cmd: str) -> list[str]:
    """The `-S` values of a `dvc exp run` command line."""
    import shlex
    tokens = shlex.split(cmd, comments=True)
    return [tokens[i + 1] for i, t in enumerate(tokens) if t == "-S"]


def apply_exp_run(tmp_path: Path, overrides: list[str]):
    """This checkout's params.yaml (and corpora.yaml) copied to tmp_path with `overrides`
    applied by DVC's own override code, then loaded and validated by charlm."""
    from dvc.utils.hydra import apply_overrides

    from charlm.params import load_params
    p = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", p)
    shutil.copy(ROOT / "corpora.yaml", tmp_path / "corpora.yaml")
    corpora = [o.split(":", 1)[1] for o in overrides if o.startswith("corpora.yaml:")]
    if corpora:                                   # DVC's `file:key=value` form
        apply_overrides(tmp_path / "corpora.yaml", corpora)
    apply_overrides(p, [o for o in overrides if not o.startswith("corpora.yaml:")])
    return load_params(p)
