"""`adarchive` starts light: the parser loads no command's implementation.

Every command imports what it runs inside its handler, so `adarchive --help`
or `adarchive platforms` does not pay for Scrapy, SQLAlchemy, argon2 or the
workbench's web stack (about 2 s of CPU before issue 20). User mistakes are
named by class rather than imported; each name must still find its class.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from conftest import REPO, adarchive, migrated_sqlite
from crawler.cli.entry import USER_ERRORS, is_user_error

HEAVY = ("scrapy", "twisted", "sqlalchemy", "alembic", "argon2", "starlette", "uvicorn",
         "cryptography", "lxml", "parsel", "phonenumbers", "playwright", "numpy")  # fmt: skip

# Builds the parser in a fresh interpreter and reports which heavy packages got loaded.
PROBE = """
import json, sys
from crawler.cli.entry import build_parser
build_parser().parse_args(sys.argv[1:])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize(
    "argv", [["platforms"], ["users", "list"], ["crawl", "x"], ["repair", "d"]]
)
def test_building_the_parser_loads_no_heavy_package(argv: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                            cwd=REPO, timeout=120, check=True)  # fmt: skip
    loaded = set(json.loads(result.stdout))
    assert "crawler" in loaded  # the probe really ran
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


# Runs the real CLI in a fresh interpreter, then reports the heavy packages it loaded.
RUN = """
import json, runpy, sys
sys.argv = ["adarchive", *sys.argv[1:]]
try:
    runpy.run_module("crawler.cli", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize("argv", [["custody", "verify"], ["identifiers"]])
def test_store_commands_read_their_settings_without_scrapy(tmp_path, argv: list[str]) -> None:  # noqa: ANN001
    # No --db: the store comes from ADARCHIVE_DB through crawler.configuration.setting(),
    # which reads defaults, file and environment without Scrapy's Settings (0.4 s of CPU).
    env = {**{k: v for k, v in __import__("os").environ.items() if k != "ADARCHIVE_DB"},
           "ADARCHIVE_DB": migrated_sqlite(tmp_path / "store.db")}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", RUN, *argv], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "sqlalchemy" in loaded  # the command really opened the store
    assert loaded.isdisjoint({"scrapy", "twisted"}), sorted(loaded & {"scrapy", "twisted"})


def test_every_user_error_name_is_an_exception_class() -> None:
    for name in sorted(USER_ERRORS):
        module, _, attr = name.rpartition(".")
        cls = getattr(importlib.import_module(module), attr)
        assert isinstance(cls, type) and issubclass(cls, Exception), name
        assert f"{cls.__module__}.{cls.__qualname__}" == name  # not a re-export under another name


def test_user_errors_are_recognised_by_class_and_subclass_only() -> None:
    from crawler.errors import UserError
    from crawler.platforms import DefinitionError
    from crawler.workbench.accounts import AccountError

    class Narrower(AccountError):
        pass

    assert is_user_error(UserError("x")) and is_user_error(DefinitionError("x"))
    assert is_user_error(Narrower("x"))
    assert not is_user_error(ValueError("x")) and not is_user_error(RuntimeError("x"))


def test_a_mistake_from_a_lazily_loaded_command_is_still_one_line(tmp_path) -> None:  # noqa: ANN001
    # users add with a bad role raises AccountError, whose module the parser never imported.
    result = adarchive("users", "add", "someone", "--role", "nobody", "--password-stdin",
                       "--db", f"sqlite:///{tmp_path / 'store.db'}")  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("adarchive: error: unknown role 'nobody'"), result.stderr
    assert "Traceback" not in result.stderr


def test_processes_that_never_crawl_start_without_scrapy_or_alembic() -> None:
    # The evidence writer (one process per crawl), the workbench (`serve`), `platform
    # check`, `report` and `exhibit`: Scrapy costs 0.2 s of CPU, Alembic 0.13 s,
    # datasketch (with numpy and scipy) 0.5 s, bs4 and lxml 0.1 s, and none of them needs
    # these to write records into a store at the newest schema, serve pages, check a
    # definition or read the analysis configuration.
    modules = ("crawler.sink.evidence_writer", "crawler.workbench.app", "crawler.check",
               "crawler.analysis.htmlreport", "crawler.exhibit.build")  # fmt: skip
    probe = f"import json, sys, {', '.join(modules)}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=REPO, timeout=120, check=True)  # fmt: skip
    loaded = {m.split(".")[0] for m in json.loads(result.stdout)}
    assert "sqlalchemy" in loaded  # the probe really ran
    unwanted = {"scrapy", "twisted", "alembic", "datasketch", "numpy", "scipy", "bs4", "lxml"}
    assert loaded.isdisjoint(unwanted), sorted(loaded & unwanted)
