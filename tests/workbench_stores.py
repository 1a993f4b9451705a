"""Crawled stores for the workbench tests, built once per test session and copied per module.

A crawled store (a fixture world crawled with images, analysed, one account per role) takes
tens of seconds of CPU to make; a copy of its folder takes a fraction of a second. So the
session builds it once (`crawled_store`), and each module that serves it works on a copy of
its own (`copy_store`): what one module's tests change (link decisions, cases, notes,
reveals, the audit trail) never reaches another module.

Under pytest-xdist the workers share one build too: the first worker to need it builds it
under a file lock in the run's common temporary folder; the others wait for it and copy it.

Registered from tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class BuiltStore:
    """A store folder (``adarchive.db`` and its WARC files) nobody changes, and its world's truth."""

    out: Path
    truth: dict[str, Any]

    @property
    def db(self) -> Path:
        return self.out / "adarchive.db"


def shared_folder(tmp_path_factory: pytest.TempPathFactory, name: str,
                  build: Callable[[Path], dict[str, Any]]) -> BuiltStore:  # fmt: skip
    """``build(folder)`` once for the whole run, xdist workers included; its folder and result.

    The folder lives in the run's temporary root (shared by the workers of one run); a lock
    file makes one worker build while the others wait, and a marker with the result says the
    build finished (a failed build leaves none, so the next worker tries again and fails the
    same way, with its own message)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # .../pytest-N, above each worker's popen-gwK
    folder = root / name
    done = root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            result = build(folder)
            done.write_text(json.dumps(result), encoding="utf-8")
    return BuiltStore(folder, json.loads(done.read_text(encoding="utf-8")))


def copy_store(built: BuiltStore, dest: Path) -> BuiltStore:
    """A copy of ``built`` in ``dest`` (a new folder) for one module to change as it likes.

    WARC paths are stored relative to the data root, so the copy is a store of its own."""
    shutil.copytree(built.out, dest, dirs_exist_ok=True)
    return BuiltStore(dest, copy.deepcopy(built.truth))


def _crawled(folder: Path) -> dict[str, Any]:
    from workbench_server import add_users, crawl_store

    truth = crawl_store(folder)
    add_users(folder / "adarchive.db")
    return truth


@pytest.fixture(scope="session")
def crawled_store(tmp_path_factory: pytest.TempPathFactory) -> BuiltStore:
    """The fixture world (seed 1, 8 adverts per platform) crawled with images and analysed,
    with one account per role (tests/workbench_server.py); copy it before changing it."""
    return shared_folder(tmp_path_factory, "crawled-store", _crawled)


# Four fixture platforms, th_board crawled in headless Chromium (its JavaScript reveals
# contacts): Cyrillic, Thai, Japanese and Korean text, browser-rendered and static pages.
BROWSER_PLATFORMS = ["kz_board", "th_board", "jp_dating", "kr_board"]


@pytest.fixture(scope="session")
def browser_crawled_store(fixture_web: Any, tmp_path_factory: pytest.TempPathFactory) -> BuiltStore:
    """`BROWSER_PLATFORMS` of the session's fixture web crawled (th_board in headless
    Chromium) and analysed; no accounts. The exhibit tests and the browser-rendered replay
    test each copy it."""
    from conftest import CHROMIUM, FAST, adarchive, start_url_args
    from crawler.demo.world import FIXTURE_ALLOWED_ADDRESSES

    def build(folder: Path) -> dict[str, Any]:
        # The tests' Chromium (the headless shell when installed): this store feeds the
        # exhibit and replay tests; the crawl's own browser is tested with the product's
        # Chromium by test_browser_crawl, test_browser_egress and test_evidence_replay.
        crawl = adarchive(
            "crawl", *BROWSER_PLATFORMS, *start_url_args(fixture_web, BROWSER_PLATFORMS),
            "--out", str(folder), *FAST,
            "-s", f"ADARCHIVE_ALLOWED_ADDRESSES={FIXTURE_ALLOWED_ADDRESSES}",
            "-s", 'ADARCHIVE_BROWSER_ARGS=["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.*"]',
            "-s", f"ADARCHIVE_BROWSER_EXECUTABLE={CHROMIUM}",
        )  # fmt: skip
        assert crawl.returncode == 0, crawl.stdout + crawl.stderr[-3000:]
        adarchive("analyze", "--db", str(folder / "adarchive.db"), check=True)
        return dict(fixture_web.truth())

    return shared_folder(tmp_path_factory, "browser-crawled-store", build)
