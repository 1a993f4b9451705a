"""The definition validator: every mistake is one line naming file and key."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import adarchive
from crawler.platforms import DefinitionError, load_all, load_definition

GOOD = """
schema_version = 1
[platform]
name = "sample_board"
country = "KZ"
language = "ru"
start_urls = ["http://127.0.0.50:8700/ads/"]
allowed_hosts = ["127.0.0.50"]
[listing]
ad_links = "css:a.ad::attr(href)"
next_page = "css:a.next::attr(href)"
[detail]
external_id = { from = "url", re = "/ad/(\\\\d+)\\\\.html" }
title = "css:h1"
body = "css:div.text"
name = "xpath://span[@class='name']/text()"
age = { selector = "css:li.age::text", re = "(\\\\d+)" }
images = "css:img::attr(src)"
contacts = "css:div.contacts"
"""

PAGE = """<html><head><meta charset="utf-8"><title>x</title></head><body>
<h1>Анна, <b>24</b></h1>
<div class="text"><p>Первая строка.</p><p>Вторая строка<br>третья.</p><script>var x=1;</script></div>
<span class="name">Анна</span><li class="age">Возраст: 24 года</li>
<img src="/img/a.jpg"><img src="/img/a.jpg"><img src="http://127.0.0.50:8700/img/b.png">
<div class="contacts">Тел: 8 701 555 12 34 <a href="https://t.me/sample_handle">Telegram</a></div>
<a class="ad" href="/ad/2.html">2</a><a class="next" href="?page=2">next</a>
</body></html>"""


def write(tmp_path: Path, text: str, name: str = "sample_board.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_good_definition_loads(tmp_path: Path) -> None:
    d = load_definition(write(tmp_path, GOOD))
    assert d.name == "sample_board"
    assert d.country == "KZ"
    assert d.allowed_hosts == ("127.0.0.50",)
    assert d.fields["external_id"].source == "url"
    assert d.fields["age"].regex == r"(\d+)"
    assert d.listing_render == d.detail_render == "static"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('country = "KZ"', 'country = "KZ"\ncolour = "red"', "platform.colour: unknown key"),
        ('title = "css:h1"\n', "", "detail.title: missing required selector"),
        ('ad_links = "css:a.ad::attr(href)"', 'ad_link = "css:a.ad::attr(href)"', "listing.ad_link: unknown key"),
        ('"http://127.0.0.50:8700/ads/"', '"ftp//nowhere"', "platform.start_urls[0]: bad URL"),
        ('next_page = "css:a.next::attr(href)"', 'render = "javascript"', "listing.render: unknown render 'javascript'"),
        ('title = "css:h1"', 'title = "h1"', "detail.title: selector must start with 'css:' or 'xpath:'"),
        ('title = "css:h1"', 'title = "css:h1[[["', "detail.title: invalid css selector"),
        ('name = "xpath://span[@class=\'name\']/text()"', 'name = "xpath://span[@"', "detail.name: invalid xpath selector"),
        ('age = { selector = "css:li.age::text", re = "(\\\\d+)" }', 'age = { selector = "css:li.age::text", re = "(" }', "detail.age.re: bad regex"),
        ('country = "KZ"', 'country = "Kazakhstan"', "platform.country: must be an ISO 3166"),
        ('allowed_hosts = ["127.0.0.50"]', 'allowed_hosts = ["127.0.0.50:8700"]', "platform.allowed_hosts: '127.0.0.50:8700' must be a bare host"),
        ('allowed_hosts = ["127.0.0.50"]', 'allowed_hosts = ["127.0.0.51"]', "platform.start_urls: 'http://127.0.0.50:8700/ads/' is not on an allowed host"),
        ("schema_version = 1", "schema_version = 2", "schema_version: must be 1"),
    ],
)  # fmt: skip
def test_errors_name_file_and_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD, old
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expected in message


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version = 1\n[platform\nname=1\n")
    with pytest.raises(DefinitionError, match="invalid TOML") as info:
        load_definition(path)
    assert "\n" not in str(info.value)


def test_duplicate_names_rejected(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD, "b.toml")
    with pytest.raises(DefinitionError, match="already defined"):
        load_all(tmp_path)


def test_bundled_definitions_are_valid() -> None:
    definitions = load_all()
    assert len([d for d in definitions.values() if not d.needs_browser]) >= 4
    for d in definitions.values():
        assert all(url.startswith("http://127.0.0.") for url in d.start_urls), d.name


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return adarchive(*args, timeout=120)


def test_platform_check_cli_reports_bad_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('country = "KZ"', 'country = "KZ"\ncolour = 1'))
    result = cli("platform", "check", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"adarchive: error: {path}: platform.colour: unknown key " + (
        "(allowed: allowed_hosts, country, description, language, name, start_urls)"
    )
    assert "Traceback" not in result.stderr


def test_platform_check_on_saved_page(tmp_path: Path) -> None:
    import json

    path = write(tmp_path, GOOD)
    page = tmp_path / "saved.html"
    page.write_text(PAGE, encoding="utf-8")
    result = cli("platform", "check", str(path), "--page", str(page), "--url",
                     "http://127.0.0.50:8700/ad/7.html")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.split("\n", 1)[1])
    detail = report["detail"]
    assert detail["external_id"] == "7"
    assert detail["title"] == "Анна, 24"
    assert detail["body"] == "Первая строка.\nВторая строка\nтретья."
    assert detail["name"] == "Анна"
    assert detail["age"] == "24"
    assert detail["images"] == [
        "http://127.0.0.50:8700/img/a.jpg",
        "http://127.0.0.50:8700/img/b.png",
    ]
    assert detail["contacts"] == ["Тел: 8 701 555 12 34 Telegram", "https://t.me/sample_handle"]
    assert report["listing"]["ad_links"] == ["http://127.0.0.50:8700/ad/2.html"]
    assert report["listing"]["next_page"] == ["http://127.0.0.50:8700/ad/7.html?page=2"]
    assert report["empty_fields"] == []


def test_platform_check_page_without_url_is_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    result = cli("platform", "check", str(path), "--page", str(tmp_path / "x.html"))
    assert result.returncode == 2
    assert "--page needs --url" in result.stderr
