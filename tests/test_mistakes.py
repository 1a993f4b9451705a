"""Mistakes stop with the fix: no implicit stores, the right dialect named, one identifier syntax.

The refusals are about what a command says, so most run in this process
(tests/cli_inprocess.py); each command still runs once here as a real subprocess.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from cli_inprocess import adarchive_here

from conftest import CrawlRun, adarchive, migrated_sqlite
from crawler.extract.argument import IdentifierError, parse_identifier

PLATFORM = "kz_board"


def one_error_line(result: Any) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("adarchive: error: "), result.stderr
    return lines[0]


# -- identifier syntax (pure) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("phone:07592846614", "GB", "phone:+447592846614"),
        ("07592 846614", "GB", "phone:+447592846614"),
        ("+44 7592 846614", None, "phone:+447592846614"),
        ("whatsapp:+44 7592 846614", None, "phone:+447592846614"),
        ("telegram:@Some_Name", None, "telegram:some_name"),
        ("telegram:Some_Name", None, "telegram:some_name"),
        ("EMAIL:Contact@Example.org", None, "email:contact@example.org"),
        ("https://t.me/some_name", None, "telegram:some_name"),
    ],
)
def test_identifiers_normalised_as_extraction_does(
    text: str, region: str | None, expected: str
) -> None:
    assert str(parse_identifier(text, region)) == expected


@pytest.mark.parametrize(
    ("text", "region", "message"),
    [
        ("phone:abc", "GB", "not a valid phone number"),
        ("phone:07592846614", None, "--region"),
        ("phon:07592846614", "GB", "unknown identifier kind 'phon'"),
        ("hello", None, "give KIND:VALUE"),
    ],
)
def test_invalid_identifiers_refused(text: str, region: str | None, message: str) -> None:
    with pytest.raises(IdentifierError, match=message.replace("-", r"\-")):
        parse_identifier(text, region)


# -- stores ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("watch", "add", "phone:+447592846614"), ("schedule", "add", PLATFORM, "--every", "6h")],
)
def test_write_commands_never_create_a_store(tmp_path: Path, command: tuple[str, ...]) -> None:
    db = tmp_path / "typo.db"
    line = one_error_line(adarchive_here(*command, "--db", str(db)))
    assert f"no store at {db}" in line and "db upgrade" in line
    assert not db.exists()


def test_db_upgrade_creates_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    made = adarchive("db", "upgrade", "--db", str(db))
    assert made.returncode == 0 and made.stdout.startswith("created store"), made.stderr
    again = adarchive_here("db", "upgrade", "--db", str(db))
    assert again.returncode == 0 and again.stdout.startswith("store ")


@pytest.mark.parametrize("url", ["postgres://u@127.0.0.1/test", "postgresql://u@127.0.0.1/test"])
def test_wrong_postgres_dialect_names_the_right_one(tmp_path: Path, url: str) -> None:
    line = one_error_line(adarchive_here("crawl", PLATFORM, "--out", str(tmp_path), "--db", url))
    assert "postgresql+psycopg://u@127.0.0.1/test" in line


def test_duplicate_schedule_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    url = migrated_sqlite(db)  # the CLI creating a store is test_db_upgrade_creates_and_says_so
    assert adarchive("schedule", "add", PLATFORM, "--every", "6h", "--db", url).returncode == 0
    line = one_error_line(adarchive_here("schedule", "add", PLATFORM, "--every", "6h", "--db", url))
    assert "already has schedule 1" in line and "schedule remove 1" in line
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM schedule").fetchone()[0] == 1


def test_watch_add_normalises_and_refuses(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    url = migrated_sqlite(db)
    added = adarchive("watch", "add", "phone:07592846614", "--region", "GB", "--db", url)
    assert added.returncode == 0 and "phone +447592846614" in added.stdout, added.stderr
    assert "phone:abc" in one_error_line(adarchive_here("watch", "add", "phone:abc", "--db", url))
    assert "--region" in one_error_line(
        adarchive_here("watch", "add", "phone:07592846614", "--db", url)
    )
    assert "unknown identifier kind" in one_error_line(
        adarchive_here("watch", "add", "12345678", "--kind", "phon", "--db", url)
    )
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT kind, value FROM watch").fetchall() == [
            ("phone", "+447592846614")
        ]


# -- one crawled store: identifiers, export, networks -----------------------------------


@pytest.fixture(scope="module")
def crawled(static_crawl: CrawlRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every static fixture platform crawled and analysed (networks cross platforms): a
    copy of the session's crawl of them (the same crawl this module made itself)."""
    out = tmp_path_factory.mktemp("mistakes") / "data"
    shutil.copytree(static_crawl.out, out)
    # in-process: analyze's real CLI builds the workbench's stores (tests/workbench_stores.py)
    analysed = adarchive_here("analyze", "--db", str(out / "adarchive.db"))
    assert analysed.returncode == 0, analysed.stdout + analysed.stderr
    return out


def plain_phone(truth: dict[str, Any]) -> str:
    for ad in truth["ads"]:
        for ident in ad["identifiers"] if ad["platform"] == PLATFORM else []:
            if ident["kind"] == "phone" and not ident["requires_browser"]:
                return str(ident["value"])
    raise AssertionError("no plain phone on " + PLATFORM)


def test_unknown_kind_is_an_error(crawled: Path) -> None:
    line = one_error_line(
        adarchive_here("identifiers", "--kind", "phon", "--db", str(crawled / "adarchive.db"))
    )
    assert "unknown identifier kind 'phon'" in line


def test_national_phone_found_by_identifiers_and_export(crawled: Path, truth: dict) -> None:
    db = str(crawled / "adarchive.db")
    e164 = plain_phone(truth)
    national = phonenumbers.format_number(
        phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL
    )
    shown = adarchive("identifiers", national, "--region", "KZ", "--json", "--db", db)
    assert shown.returncode == 0, shown.stderr
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(r["kind"], r["value"]) for r in rows] == [("phone", e164)]
    bundle = crawled / "case.wacz"
    exported = adarchive(
        "export", "--db", db, "--out", str(bundle), "--identifier", national, "--region", "KZ"
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert bundle.exists()
    refused = adarchive_here(
        "export", "--db", db, "--out", str(bundle), "--identifier", "phone:abc"
    )
    assert "phone:abc" in one_error_line(refused)


def test_networks_listed_by_the_label_network_takes(crawled: Path) -> None:
    db = str(crawled / "adarchive.db")
    listed = adarchive("networks", "--json", "--db", db)
    assert listed.returncode == 0, listed.stderr
    labels = [json.loads(line)["label"] for line in listed.stdout.splitlines()]
    assert labels and all(label.startswith("S-") for label in labels)
    shown = adarchive("network", labels[0], "--db", db)
    assert shown.returncode == 0 and f"network {labels[0]}" in shown.stdout
    number = labels[0].split("-")[1]
    line = one_error_line(adarchive_here("network", number, "--db", db))
    assert f"did you mean {labels[0]}" in line and "adarchive networks" in line
