"""Every setting our code reads is defined once, in crawler/settings.py, and nowhere else.

The source is scanned (no crawl): a read of an undefined name, a read that
carries its own default, or an ``ADARCHIVE_*`` variable read straight from the
environment fails here with the file and line.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator

from conftest import REPO
from crawler.configuration import defined_names, specs

PACKAGES = ("crawler", "spiders", "pipelines")
READERS = {"get", "getbool", "getint", "getfloat", "getlist", "getdict", "getdictorlist",
           "getwithbase", "getpriority", "__getitem__"}  # fmt: skip
# Where settings are read on purpose by something else than a settings object.
OWN_MODULES = {"crawler/configuration.py", "crawler/settings.py"}
# Fallbacks that are not a setting's value: what warcinfo says when none is set.
NOT_DEFAULTS = {"none stated"}


def source_files() -> Iterator[tuple[str, ast.Module]]:
    yield from _parsed_sources()


@functools.cache
def _parsed_sources() -> tuple[tuple[str, ast.Module], ...]:
    """Parsed once per test process: several tests scan the same trees (read, never changed)."""
    out = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if "/migrations/" in rel or rel.startswith("crawler/demo/"):
                continue
            out.append((rel, ast.parse(path.read_text(encoding="utf-8"))))
    return tuple(out)


def settings_reads(tree: ast.Module) -> Iterator[tuple[ast.Call | ast.Subscript, str]]:
    """(node, setting name) for every ``<...settings...>.get*("NAME", ...)`` and ``settings["NAME"]``."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in READERS
            and "settings" in ast.unparse(node.func.value).lower()
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.isupper()
        ):
            yield node, node.args[0].value
        elif (
            isinstance(node, ast.Subscript)
            and "settings" in ast.unparse(node.value).lower()
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
            and node.slice.value.isupper()
        ):
            yield node, node.slice.value


def test_the_scan_finds_reads() -> None:
    """The scan below must see the code's reads, or it would pass on nothing."""
    found = {name for _, tree in source_files() for _, name in settings_reads(tree)}
    assert {"ADARCHIVE_OPERATOR_CONTACT", "ADARCHIVE_WARC_MAX_SIZE", "DOWNLOAD_DELAY"} <= found
    assert len(found) > 60


def test_every_setting_read_is_defined() -> None:
    defined = defined_names()
    undefined = [
        f"{rel}:{node.lineno}: {name}"
        for rel, tree in source_files()
        for node, name in settings_reads(tree)
        if name not in defined
    ]
    assert not undefined, "settings read but not defined in crawler/settings.py:\n" + "\n".join(
        undefined
    )


def test_no_read_carries_its_own_default() -> None:
    inline = []
    for rel, tree in source_files():
        if rel in OWN_MODULES:
            continue
        for node, _name in settings_reads(tree):
            if isinstance(node, ast.Call) and (len(node.args) > 1 or node.keywords):
                inline.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
        for node in ast.walk(tree):
            # settings.get("X") or "fallback": a default in disguise (empty values are fine).
            if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
                first, *rest = node.values
                if any(True for _ in settings_reads(ast.Module([ast.Expr(first)], []))) and any(
                    _is_default_literal(v) for v in rest
                ):
                    inline.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not inline, "defaults belong in crawler/settings.py:\n" + "\n".join(inline)


def _is_default_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return node.value not in (None, "", 0, False) and node.value not in NOT_DEFAULTS
    return isinstance(node, ast.Name) and node.id.isupper()


def test_no_adarchive_variable_is_read_from_the_environment_directly() -> None:
    direct = []
    for rel, tree in source_files():
        if rel in OWN_MODULES:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call | ast.Subscript) and "environ" in ast.unparse(node):
                text = ast.unparse(node)
                if "ADARCHIVE_" in text:
                    direct.append(f"{rel}:{node.lineno}: {text}")
    assert not direct, "read ADARCHIVE_* through crawler.configuration:\n" + "\n".join(direct)


def test_every_setting_has_a_doc_and_a_usable_type() -> None:
    missing = [s.name for s in specs().values() if s.name.startswith("ADARCHIVE_") and not s.doc]
    assert not missing, f"settings without a comment in crawler/settings.py: {missing}"
    untyped = [
        s.name for s in specs().values() if s.name.startswith("ADARCHIVE_") and s.kind == "any"
    ]
    assert not untyped, f"annotate these settings' types: {untyped}"


def test_the_scan_catches_an_undefined_read_and_an_inline_default() -> None:
    """The two checks fail on code that breaks the rule (a misspelt name, a default)."""
    tree = ast.parse(
        'x = crawler.settings.getint("ADARCHIVE_WARC_MAX_SIZ")\n'
        'y = settings.getbool("ADARCHIVE_WARC_ENABLED", True)\n'
        'z = self.settings.get("ADARCHIVE_WARC_PREFIX") or "adarchive"\n'
    )
    reads = list(settings_reads(tree))
    assert [name for _, name in reads] == [
        "ADARCHIVE_WARC_MAX_SIZ",
        "ADARCHIVE_WARC_ENABLED",
        "ADARCHIVE_WARC_PREFIX",
    ]
    assert "ADARCHIVE_WARC_MAX_SIZ" not in defined_names()
    call = reads[1][0]
    assert isinstance(call, ast.Call) and len(call.args) == 2
    assert _is_default_literal(ast.Constant("adarchive"))


def test_docs_name_only_defined_settings() -> None:
    """Settings named in the README and docs exist, so the pages cannot drift from the code."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    unknown = sorted(
        f"{page.name}: {name}"
        for page in pages
        for name in set(
            re.findall(r"\bADARCHIVE_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*\*)", page.read_text())
        )
        if name not in specs()
    )
    assert not unknown, f"undefined settings named in the docs: {unknown}"
