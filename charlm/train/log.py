"""What training tells: DVCLive logs (resumable) and progress for a person.

`Live` writes DVCLive's metrics (train loss, lr, chars/s every `log_every` steps; val
bpc at each evaluation) and, on resume, first trims rows logged after the checkpoint.
`Progress` shows a tqdm bar ("bar"), plain lines ("lines": about every 10 % of the run,
and the val bpc at each evaluation; for logs without a terminal, e.g. `dvc repro`), or
nothing ("off").
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from ..core.fsutil import write_text

FINAL_METRICS = ("best_val_bpc",)     # logged once training is done, after the last checkpoint


def trim_live(live_dir: Path, last_step: int) -> None:
    """Drop DVCLive TSV rows logged after the checkpoint we resume from: rows of later
    steps, and a final metric's row at its step (resuming a finished run logs it again)."""
    for tsv in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text(encoding="utf-8").splitlines()
        if not lines or "step" not in lines[0].split("\t"):
            continue
        head = lines[0].split("\t")
        col, width = head.index("step"), len(head)
        end = last_step - 1 if tsv.stem in FINAL_METRICS else last_step
        keep = [r for r in lines[1:] if len(r.split("\t")) == width and r.split("\t")[col].isdigit()
                and int(r.split("\t")[col]) <= end]     # a killed run may leave half a row
        write_text(tsv, "\n".join([lines[0], *keep]) + "\n")
    summary = live_dir / "metrics.json"        # DVCLive writes it in place: a kill can empty it
    if summary.is_file():
        try:
            json.loads(summary.read_text(encoding="utf-8"))
        except ValueError:
            summary.unlink()                   # rewritten at the next log step


class Live:
    """DVCLive if a directory is given (imported lazily), else nothing."""

    def __init__(self, live_dir: Optional[Path], resume: bool, last_step: int):
        self.live = None
        if live_dir is None:
            return
        from dvclive import Live as DvcLive
        if resume:
            trim_live(live_dir, last_step)
        self.live = DvcLive(dir=str(live_dir), dvcyaml=None, resume=resume, save_dvc_exp=False,
                            report=None)

    def log(self, step: int, **metrics: float) -> None:
        if self.live is None:
            return
        self.live.step = step
        for k, v in metrics.items():
            self.live.log_metric(k, v)
        self.live.make_summary()

    def end(self) -> None:
        if self.live is not None:
            self.live.make_summary()


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """A tqdm bar, plain progress lines, or nothing (mode "bar" | "lines" | "off")."""

    def __init__(self, mode: str, desc: str, steps: int, start: int, chars_per_step: int,
                 write: Callable[[str], None] = print):
        self.mode, self.desc, self.steps, self.start = mode, desc, steps, start
        self.chars_per_step, self.write = chars_per_step, write
        self.every = max(1, steps // 10)
        self.logged = start               # the step of the last train() call
        self.t0 = time.perf_counter()
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm
            self.bar = tqdm(total=steps, initial=start, desc=desc, unit="step", mininterval=1.0,
                            dynamic_ncols=True, file=sys.stderr)

    def train(self, done: int, loss: float, chars_per_s: float) -> None:
        """After a logged step: the bar's postfix, or a line every ~10 % of the run."""
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", chars_s=f"{chars_per_s:,.0f}", refresh=False)
        elif self.mode == "lines" and (done % self.every < done - self.logged or done == self.steps):
            # a line when a multiple of `every` lies in (last logged step, done]
            elapsed = time.perf_counter() - self.t0
            rate = (done - self.start) / max(elapsed, 1e-9)
            eta = (self.steps - done) / max(rate, 1e-9)
            self.write(f"{self.desc}: step {done}/{self.steps} ({100 * done // self.steps}%), "
                       f"{done * self.chars_per_step:,} chars, train loss {loss:.4f}, "
                       f"{chars_per_s:,.0f} chars/s, elapsed {_clock(elapsed)}, ETA {_clock(eta)}")
        self.logged = done

    def val(self, done: int, bpc: float, best: float, best_step: int) -> None:
        if self.mode != "off":
            msg = f"{self.desc}: step {done}: val bpc {bpc:.4f} (best {best:.4f} at {best_step})"
            self.bar.write(msg) if self.bar is not None else self.write(msg)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
