"""The code's shape, checked: every DVC stage depends on every module it runs, no import
cycles among charlm's modules, short functions and modules.

The import graph is read from the source (ast), imports inside functions included, so
a lazily imported module counts as a dependency too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 450


def module_file(name: str) -> Path | None:
    """charlm.x.y / stages.z -> its file under ROOT, or None if not ours."""
    if name.split(".")[0] not in ("charlm", "stages"):
        return None
    base = ROOT.joinpath(*name.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def module_name(f: Path) -> str:
    rel = f.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(f: Path) -> set[Path]:
    """Our modules that file `f` imports (anywhere in it), with their parent packages."""
    pkg = module_name(f) if f.name == "__init__.py" else module_name(f).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    out = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):          # a package's __init__ runs too
            m = module_file(".".join(parts[:i]))
            if m is not None and m != f:
                out.add(m)
    return out


def closure(entry: Path) -> set[Path]:
    seen, todo = set(), [entry]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(imports_of(f) - seen)
    return seen


def stage_defs() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def covered(f: Path, deps: list[str]) -> bool:
    rel = f.relative_to(ROOT).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(stage_defs()))
def test_stage_depends_on_every_module_it_runs(stage):
    d = stage_defs()[stage]
    d = d.get("do", d)
    entry = d["cmd"].split("-m ", 1)[1].split()[0]
    deps = [x for x in d["deps"] if isinstance(x, str)]
    missing = sorted(f.relative_to(ROOT).as_posix() for f in closure(module_file(entry))
                     if not covered(f, deps))
    assert not missing, f"stage {stage} runs but does not depend on: {missing}"


def test_closure_sees_lazy_imports():
    """The check is not vacuous: evaluate imports charlm.neural.models inside a function."""
    files = {f.relative_to(ROOT).as_posix() for f in closure(ROOT / "stages" / "evaluate.py")}
    assert {"charlm/neural/models.py", "charlm/evaluate/run.py", "charlm/evaluate/sample.py"} <= files


def charlm_files() -> list[Path]:
    return sorted((ROOT / "charlm").rglob("*.py"))


def test_no_import_cycles():
    graph = {f: {g for g in imports_of(f) if "charlm" in g.parts} for f in charlm_files()}
    state: dict[Path, int] = {}

    def visit(f: Path, path: list[Path]) -> None:
        state[f] = 1
        for g in sorted(graph.get(f, ())):
            # a package's __init__ runs before any module inside it: its importing one of
            # them (charlm/__init__.py applies charlm/core/numerics.py) is not a cycle
            if g.name == "__init__.py" and g.parent in f.parents:
                continue
            if state.get(g) == 1:
                cyc = path[path.index(g):] + [g] if g in path else [f, g]
                pytest.fail("import cycle: " + " -> ".join(module_name(x) for x in cyc))
            if g not in state:
                visit(g, path + [g])
        state[f] = 2

    for f in graph:
        if f not in state:
            visit(f, [f])


def test_functions_and_modules_are_short():
    long = []
    for f in charlm_files():
        lines = f.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_MODULE_LINES:
            long.append(f"{f.relative_to(ROOT)}: {len(lines)} lines")
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{f.relative_to(ROOT)}:{node.lineno} {node.name}: {n} lines")
    assert not long, "too long: " + "; ".join(long)


def test_package_is_laid_out_like_the_pipeline():
    """charlm/ holds subpackages (core, data, ngram, neural, train, evaluate, compare, cli,
    params) and no flat modules beside __init__.py; dvc.yaml names charlm's code by folder."""
    flat = sorted(f.name for f in (ROOT / "charlm").glob("*.py") if f.name != "__init__.py")
    assert not flat, f"modules at charlm/'s top level: {flat}"
    files = []
    for name, d in stage_defs().items():
        d = d.get("do", d)
        files += [f"{name}: {x}" for x in d["deps"] if isinstance(x, str)
                  and x.startswith("charlm/") and x.endswith(".py") and x != "charlm/__init__.py"]
    assert not files, f"dvc.yaml names single modules, not folders: {files}"
