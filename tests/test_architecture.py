"""The one-way house: the import contract in pyproject.toml holds, and it can fail.

`make lint` runs `lint-imports`; these tests show that a forbidden import
breaks it (on a copy of the tree, so the real one is never touched) and that
no module escapes the contract by belonging to no layer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("crawler", "spiders", "pipelines")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=300,
    )


def _copy_tree(dest: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_contract_holds_on_the_tree() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_store_importing_the_cli_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    db = root / "crawler" / "store" / "db.py"
    db.write_text(db.read_text(encoding="utf-8") + "\nimport crawler.cli  # noqa: E402\n")
    result = _lint(root)
    assert result.returncode != 0
    assert "Layers import only downward BROKEN" in result.stdout
    assert "crawler.store.db -> crawler.cli" in result.stdout


def test_an_import_hidden_in_a_function_breaks_it_too(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    target = root / "crawler" / "extract" / "phones.py"
    target.write_text(
        target.read_text(encoding="utf-8")
        + "\n\ndef _sneaky() -> None:\n    from crawler.store import db  # noqa: F401\n"
    )
    result = _lint(root)
    assert result.returncode != 0
    assert "crawler.extract.phones -> crawler.store.db" in result.stdout


def test_every_module_has_a_layer() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["id"] == "layers")["layers"]
    listed = [m.strip() for layer in layers for m in layer.replace("|", ":").split(":")]
    graph = grimp.build_graph(*PACKAGES)
    unplaced = sorted(
        m
        for m in graph.modules
        if m not in PACKAGES
        and not any(m == unit or m.startswith(unit + ".") for unit in listed)
        and not any(unit.startswith(m + ".") for unit in listed)
    )
    assert unplaced == [], f"modules in no layer of pyproject.toml: {unplaced}"


# A name shared on purpose: each feature's `commands.py` registers its CLI commands.
SHARED_NAMES = {"__init__.py", "commands.py"}


def test_module_names_are_unique() -> None:
    """One name per module (issue 20), so a traceback, a log line or a search names one file."""
    seen: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if path.name not in SHARED_NAMES:
                seen.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    repeated = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert repeated == {}
