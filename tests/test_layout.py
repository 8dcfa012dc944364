"""The package's shape: the rules docs/layout.md states, checked on the source (every import, also
inside functions), so a change that breaks one fails here rather than in a reviewer's head."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mmpo"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, list[tuple[str, list[str], int]]]:
    """module -> [(imported module, imported names, line)] for every mmpo import anywhere in it."""
    out: dict[str, list[tuple[str, list[str], int]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        mod = _module_name(path)
        found = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mmpo" \
                    and node.level == 0:
                found.append((node.module, [a.name for a in node.names], node.lineno))
            elif isinstance(node, ast.Import):
                found += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "mmpo"]
        out[mod] = found
    return out


IMPORTS = _imports()
MODULES = set(IMPORTS)


def _target(imported: str, name: str) -> str:
    """The module an import binds: `from mmpo.x import y` is module mmpo.x.y when that is a module."""
    return f"{imported}.{name}" if f"{imported}.{name}" in MODULES else imported


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, found in IMPORTS.items():
        for imported, names, _ in found:
            for target in {_target(imported, n) for n in names} or {imported}:
                if target in MODULES and target != mod:
                    edges[mod].add(target)
    return edges


def test_no_import_cycles():
    edges, state, cycles = _edges(), {}, []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = "open"
        for t in sorted(edges[m]):
            if state.get(t) == "open":
                cycles.append(stack[stack.index(t):] + [t] if t in stack else [m, t])
            elif t not in state:
                visit(t, stack + [t])
        state[m] = "done"

    for m in sorted(MODULES):
        if m not in state:
            visit(m, [m])
    # A package importing its own submodules (for re-export) is not a cycle of the design.
    cycles = [c for c in cycles if not any(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(c, c[1:]))]
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("rule", ["cli", "demo", "private"])
def test_dependency_rules(rule):
    bad = []
    for mod, found in IMPORTS.items():
        for imported, names, line in found:
            targets = {_target(imported, n) for n in names} or {imported}
            if rule == "cli" and "mmpo.cli" in targets and mod != "mmpo.__main__":
                bad.append(f"{mod}:{line} imports the CLI")
            if rule == "demo" and any(t == "mmpo.demo" or t.startswith("mmpo.demo.") for t in targets) \
                    and not (mod.startswith("mmpo.demo") or mod == "mmpo.commands.demo"):
                bad.append(f"{mod}:{line} imports the demo")
            if rule == "private":
                bad += [f"{mod}:{line} imports {imported}.{n}" for n in names
                        if n.startswith("_") and not n.startswith("__") and imported != mod]
    assert not bad, "\n".join(bad)


def test_every_stage_is_a_subpackage():
    for stage in ("data", "synth", "models", "answers", "sample", "pairs", "train", "eval", "pretrain", "inspector",
                  "demo"):
        assert (SRC / stage / "__init__.py").is_file(), stage
    flat = sorted(p.name for p in SRC.glob("*.py"))
    assert flat == ["__init__.py", "cli.py", "errors.py", "options.py"], flat


def test_comments_cite_only_the_repository():
    cited = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py")
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if "DESIGN.md" in line or "DEMO-NOTES" in line]
    assert not cited, cited
    docs = SRC.parents[1] / "docs"
    for p in SRC.rglob("*.py"):
        for ref in {w.strip("`()'\",.;:") for w in p.read_text(encoding="utf-8").split() if w.strip("`()'\",.;:").startswith("docs/")}:
            assert (docs.parent / ref.split("#")[0]).is_file(), f"{p.relative_to(SRC)} cites missing {ref}"


def test_tests_mirror_the_package():
    tests = Path(__file__).resolve().parent
    for sub in ("data", "synth", "models", "answers", "sample", "pairs", "train", "eval", "pretrain", "inspector",
                "demo"):
        assert list((tests / sub).glob("test_*.py")), f"no tests/{sub}/test_*.py"


# Stage settings whose default belongs to one options class each (docs/layout.md).
STAGE_SETTINGS = ("temperature", "top_k", "max_pairs_per_prompt", "max_pairs", "max_new_tokens")
OPTIONS_MODULES = {"mmpo.sample.options", "mmpo.pairs.options", "mmpo.eval.options"}


def _declared_defaults(tree: ast.AST) -> list[tuple[str, int]]:
    """(name, line) of every parameter default and annotated class attribute of a stage setting."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            found += [(a.arg, node.lineno) for a, _ in pairs if a.arg in STAGE_SETTINGS]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            if node.target.id in STAGE_SETTINGS:
                found.append((node.target.id, node.lineno))
    return found


def test_stage_defaults_are_declared_only_in_their_options_class():
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        if _module_name(path) in OPTIONS_MODULES:
            continue
        bad += [f"{path.relative_to(SRC)}:{line} declares a default for {name}"
                for name, line in _declared_defaults(ast.parse(path.read_text(encoding="utf-8")))]
    assert not bad, "\n".join(bad)
    declared = [name for mod in OPTIONS_MODULES
                for name, _ in _declared_defaults(ast.parse((SRC.parent / (mod.replace(".", "/") + ".py")).read_text()))]
    assert sorted(declared) == ["max_new_tokens", "max_new_tokens", "max_pairs_per_prompt", "temperature", "top_k"]


def test_functions_stay_short_and_the_trainer_keeps_only_the_training_step():
    long, trainer = [], None
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 80:
                long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})")
            if isinstance(node, ast.ClassDef) and node.name == "MPOTrainer":
                trainer = node.end_lineno - node.lineno + 1
    assert not long, "functions over 80 lines:\n" + "\n".join(long)
    assert trainer is not None and trainer < 250, trainer
