"""The fuzzer's work folder: a copy of the tiny trained repository (a git repository, with
metrics/summary.json for the gate), an inputs folder of every kind of file, a pristine copy of both."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

from .common import CORPUS
from .trees import _force_rmtree, diff, snapshot


class Workdir:
    """Setting up and restoring the trees (a part of `Fuzzer`)."""

    def _setup(self, source: Path) -> None:
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        shutil.copytree(source, self.repo, symlinks=True,
                        ignore=shutil.ignore_patterns(".git"))
        self._summary_and_git()
        self._make_inputs()
        self.pristine.mkdir()
        for d in (self.repo, self.inputs):
            shutil.copytree(d, self.pristine / d.name, symlinks=True)
        self.roots = [self.repo, self.inputs]
        self.clean = snapshot(self.roots)
        vocab = json.loads((self.repo / "data/prepared" / CORPUS / "vocab.json").read_text())
        chars = vocab.get("chars") if isinstance(vocab, dict) else None
        self.vocab = [c for c in (chars or []) if c] or list("the cat sat on a mat.")
        self.text = (self.inputs / "text.txt").read_text(encoding="utf-8")
        self._warm_up()

    def _summary_and_git(self) -> None:
        """metrics/summary.json from the tiny repo's metrics, committed in a git repository:
        `check-metrics --against HEAD` has a baseline."""
        summary: dict = {}
        for f in sorted((self.repo / "metrics" / "eval").glob("*/*.json")):
            m = json.loads(f.read_text())
            summary.setdefault(f.parent.name, {})[f.stem] = {
                k: m[k] for k in ("test_bpc", "val_bpc") if k in m}
        (self.repo / "metrics" / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        git = ["git", "-c", "user.name=fuzz", "-c", "user.email=fuzz@example.invalid",
               "-c", "commit.gpgsign=false"]
        try:
            subprocess.run(["git", "init", "-q"], cwd=self.repo, check=True, capture_output=True)
            subprocess.run(git + ["add", "-A"], cwd=self.repo, check=True, capture_output=True)
            subprocess.run(git + ["commit", "-q", "-m", "fixture"], cwd=self.repo, check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            pass                       # no git: check-metrics --against fails with one line

    def _make_inputs(self) -> None:
        from helpers import tiny_text
        d = self.inputs
        d.mkdir()
        text = tiny_text(4000, seed=5)
        w = lambda name, data: (d / name).write_bytes(data)   # noqa: E731
        w("text.txt", text.encode())
        w("short.txt", b"the cat sat on the mat.\n")
        w("empty.txt", b"")
        w("binary.bin", bytes(random.Random(1).randrange(256) for _ in range(4096)))
        w("utf16.txt", text[:2000].encode("utf-16"))
        w("latin1.txt", ("café señor " * 200).encode("latin-1"))
        w("badutf8.txt", b"\xff\xfe the cat sat\n" + text[:3000].encode())
        w("bom.txt", "\ufeff".encode())
        w("unknown.txt", "the cat ß é \t sat \U0001F642 on\n".encode())
        w("readonly.txt", text[:5000].encode())
        os.chmod(d / "readonly.txt", 0o444)
        w("text.txt.gz", gzip.compress(text.encode()))
        w("corrupt.gz", gzip.compress(text.encode())[:200])
        with tarfile.open(d / "texts.tar.gz", "w:gz") as tar:
            for name, body in (("a.tex", text[:9000]), ("b.txt", text[9000:])):
                info = tarfile.TarInfo(name)
                data = body.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        (d / "sub").mkdir()
        w("sub/x.txt", b"the mat\n")
        (d / os.fsdecode(b"\xff\xfe.txt")).write_bytes(text[:4000].encode())
        os.symlink("/dev/null", d / "devnull")
        os.symlink("loop", d / "loop")
        summary = json.loads((self.repo / "metrics" / "summary.json").read_text())
        w("summary.json", json.dumps(summary).encode())
        worse = {c: {m: {**v, "test_bpc": v.get("test_bpc", 0) + 1} for m, v in ms.items()}
                 for c, ms in summary.items()}
        w("summary_worse.json", json.dumps(worse).encode())
        w("summary_nan.json", b'{"tinyshakespeare": {"lstm": {"test_bpc": NaN}}}')
        w("summary_str.json", b'{"tinyshakespeare": {"lstm": {"test_bpc": "1.0"}}}')
        w("summary_list.json", b"[1, 2, 3]")
        w("summary_deep.json", b'{"tinyshakespeare": {"lstm": 3}}')
        w("not_json.json", b"{not json")
        w("noise.json", json.dumps({"rows": [{"corpus": CORPUS, "model": "lstm",
                                              "test_bpc": {"std": 0.01}}]}).encode())
        w("noise_bad.json", b'{"rows": [{"corpus": 1}]}')
        w("noise_nan.json", b'{"rows": [{"corpus": "tinyshakespeare", "model": "lstm", '
                            b'"test_bpc": {"std": NaN}}]}')

    def _warm_up(self) -> None:
        """Import what the commands import, so that no case pays it inside its guard."""
        import torch  # noqa: F401
        for m in ("charlm.neural.models", "charlm.neural.checkpoint", "charlm.evaluate.sample",
                  "charlm.evaluate.run", "charlm.ngram", "charlm.data.download",
                  "charlm.data.prepare", "charlm.data.unpack", "ruamel.yaml", "yaml"):
            with contextlib.suppress(ImportError):
                __import__(m)
        self.threads = torch.get_num_threads()

    def restore(self) -> None:
        """Both trees as they were set up (and the snapshot proves it)."""
        for d in self.roots:
            if d.exists() or d.is_symlink():
                _force_rmtree(d)
            shutil.copytree(self.pristine / d.name, d, symlinks=True)
        again = snapshot(self.roots)
        if again != self.clean:
            raise RuntimeError(f"fuzzer: could not restore the trees: {diff(self.clean, again)[:5]}")
