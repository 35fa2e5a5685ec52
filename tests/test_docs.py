"""The README and docs/ against the code: the README is short and starts a user, every
relative link resolves, every `charlm` command shown parses with charlm's own argparse, and
the README's results are the committed run's (metrics/summary.json). The `dvc exp run`
commands shown are applied with DVC's own override code in tests/test_pipeline_params.py."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from charlm.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _prose(text: str) -> list[str]:
    """The lines a reader reads as text: outside code blocks, not table rows."""
    text = FENCE.sub("", text)
    return [x for x in text.splitlines() if not x.lstrip().startswith("|")]


def test_the_readme_is_short():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert len(re.findall(r"\d+\.\d+", text)) <= 30, "decimal figures belong in benchmarks/README.md"
    long = [x for x in _prose(text) if len(x) > 120]
    assert not long, long


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    assert page.is_file(), page
    bad = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        if not (page.parent / target.split("#")[0]).exists():
            bad.append(target)
    assert not bad, f"{page.name}: links that do not resolve: {bad}"


def _charlm_commands() -> list[str]:
    out = []
    for page in PAGES:
        for lang, body in FENCE.findall(page.read_text(encoding="utf-8")):
            if lang not in ("bash", "sh", ""):
                continue
            for line in body.replace("\\\n", " ").splitlines():
                for part in re.split(r"\s(?:\||&&)\s", line):
                    part = part.strip()
                    if part.startswith("charlm "):
                        out.append(part)
    return out


def test_every_charlm_command_shown_parses():
    """Each subcommand and option shown exists and takes the value shown (argparse's own
    checks: choices, types, required arguments); a typo'd flag fails here."""
    cmds = _charlm_commands()
    assert {c.split()[1] for c in cmds} >= {"sample", "score", "models", "ngram", "corpus",
                                            "check-metrics"}, cmds
    parser = build_parser()
    for cmd in cmds:
        argv = shlex.split(cmd, comments=True)[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as e:
            pytest.fail(f"does not parse ({e.code}): {cmd}")


def _readme_tool():
    spec = importlib.util.spec_from_file_location("readme_tool", ROOT / "tools" / "readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_readme_results_are_the_committed_run():
    tool = _readme_tool()
    text = README.read_text(encoding="utf-8")
    assert tool.render(text, tool.block()) == text, "run python tools/readme.py"


def test_the_results_table_is_made_from_the_summary(tmp_path):
    """The check can fail: a changed number in metrics/summary.json changes the table."""
    tool = _readme_tool()
    (tmp_path / "metrics").mkdir()
    (tmp_path / "samples" / "c").mkdir(parents=True)
    (tmp_path / "samples" / "c" / "lstm.txt").write_text("To be\n", encoding="utf-8")
    summary = {"c": {"ngram": {"test_bpc": 2.5, "val_bpc": 2.4},
                     "lstm": {"test_bpc": 2.25, "val_bpc": 2.3, "dynamic_test_bpc": 2.0},
                     "mix": {"test_bpc": 1.9, "val_bpc": 1.8}}}
    (tmp_path / "metrics" / "summary.json").write_text(__import__("json").dumps(summary))
    block = tool.block(tmp_path)
    assert "| lstm | 2.250 (2.000) |" in block and "| mix | **1.900** |" in block
    assert "To be" in block
