"""Issue 14: definitions and names that could hang a crawl or write outside its directory."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse
from test_platforms import GOOD, cli, write

from crawler.archive.writer import RotatingWarcWriter, check_prefix
from crawler.fields import extract_field
from crawler.platforms import DefinitionError, load_definition


def test_nested_quantifier_runs_in_linear_time(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('re = "(\\\\d+)"', 're = "(a+)+$"'))
    definition = load_definition(path)
    body = ("<li class='age'>" + "a" * 200_000 + "!</li>").encode()
    response = HtmlResponse(url="http://127.0.0.50:8700/ad/1.html", body=body)
    # CPU time of this process: the bound is on the engine's work (Python's re backtracks
    # exponentially here: 2**200000 steps), not on how busy the machine is.
    started = time.process_time()
    value = extract_field(response, definition.fields["age"], response.url, "age")
    assert value is None  # no match, and found out at once
    assert time.process_time() - started < 2.0


@pytest.mark.parametrize("regex", ["(a)\\\\1", "(?=x)a", "a(?!b)"])
def test_regex_the_linear_engine_cannot_run_is_refused(tmp_path: Path, regex: str) -> None:
    path = write(tmp_path, GOOD.replace('re = "(\\\\d+)"', f're = "{regex}"'))
    with pytest.raises(DefinitionError, match="detail.age.re: bad regex for the linear-time"):
        load_definition(path)
    result = cli("platform", "check", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("adarchive: error: ") and "RE2" in result.stderr


def test_platform_check_reports_start_urls_the_crawl_refuses(tmp_path: Path) -> None:
    urls = '["http://127.0.0.1:8700/", "http://127.0.0.50:8700/ads/"]'
    text = GOOD.replace('["http://127.0.0.50:8700/ads/"]', urls)
    path = write(tmp_path, text.replace('["127.0.0.50"]', '["127.0.0.50", "127.0.0.1"]'))
    result = cli("platform", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert "note: start URL http://127.0.0.1:8700/: 127.0.0.1 is loopback: refused" in (
        result.stderr
    )
    assert result.stdout.startswith("OK ")
    # a scheme other than http(s) is refused by the crawl's own loader
    path = write(tmp_path, GOOD.replace("http://127.0.0.50:8700/ads/", "ftp://127.0.0.50/x"))
    result = cli("platform", "check", str(path))
    assert result.returncode == 2 and "start_urls[0]: bad URL 'ftp://127.0.0.50/x'" in (
        result.stderr
    )


def test_platform_name_with_trailing_newline_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('name = "sample_board"', 'name = "sample_board\\n"'))
    with pytest.raises(DefinitionError, match="platform.name"):
        load_definition(path)


@pytest.mark.parametrize("prefix", ["../../x", "a/b", "x\n", ".hidden", "", "a" * 65])
def test_warc_prefix_must_be_one_safe_name(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(ValueError, match="ADARCHIVE_WARC_PREFIX"):
        check_prefix(prefix)
    with pytest.raises(ValueError):
        RotatingWarcWriter(tmp_path / "warc", prefix=prefix)


def test_crawl_with_escaping_prefix_stops_before_writing(tmp_path: Path) -> None:
    from conftest import adarchive

    out = tmp_path / "data"
    result = adarchive(
        "crawl", "hostile_board", "--out", str(out), "-s", "ADARCHIVE_WARC_PREFIX=../../x"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("adarchive: error: ADARCHIVE_WARC_PREFIX must be")
    assert not list(tmp_path.rglob("*.warc*"))
