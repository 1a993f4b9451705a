"""Browser actions in platform definitions: parsed, and every mistake one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.platforms import Action, DefinitionError, load_all, load_definition

BASE = """
schema_version = 1
[platform]
name = "js_board"
country = "TH"
language = "th"
start_urls = ["http://127.0.0.50:8700/"]
allowed_hosts = ["127.0.0.50"]
[listing]
render = "browser"
ad_links = "css:a.ad::attr(href)"
{listing}
[detail]
render = "{detail_render}"
external_id = {{ from = "url", re = "/ad/(\\\\d+)" }}
title = "css:h1"
body = "css:div.text"
{detail}
"""


def definition(tmp_path: Path, listing: str = "", detail: str = "", render: str = "browser"):
    path = tmp_path / "js_board.toml"
    path.write_text(
        BASE.format(listing=listing, detail=detail, detail_render=render), encoding="utf-8"
    )
    return path


def test_actions_are_parsed_in_order(tmp_path: Path) -> None:
    path = definition(
        tmp_path,
        listing='actions = [{ scroll = 3 }, { wait = "css:ul li.ad" }]',
        detail=(
            'actions = [{ cookies = { age_ok = "1" } }, '
            "{ click = \"xpath://button[@id='show']\", optional = true, timeout = 5 }]"
        ),
    )
    d = load_definition(path)
    assert d.listing_actions == (
        Action("scroll", times=3),
        Action("wait", selector="css:ul li.ad"),
    )
    assert d.detail_actions == (
        Action("cookies", cookies=(("age_ok", "1"),)),
        Action("click", selector="xpath://button[@id='show']", optional=True, timeout=5),
    )
    assert d.actions_for("listing") == d.listing_actions
    assert d.render_for("detail") == "browser"
    assert d.detail_actions[1].describe() == "click xpath://button[@id='show'] (optional)"


def test_th_board_definition_confirms_the_gate_and_reveals_the_phone() -> None:
    d = load_all()["th_board"]
    assert d.needs_browser
    verbs = [(a.verb, a.selector) for a in d.detail_actions]
    assert ("click", "css:button#age-yes") in verbs
    assert ("click", "css:button.show-number") in verbs
    assert d.listing_actions[0].verb == "wait"


@pytest.mark.parametrize(
    ("detail", "render", "message"),
    [
        ('actions = [{ click = "css:b" }]', "static", 'detail.actions: actions need detail.render = "browser"'),
        ('actions = "click"', "browser", "detail.actions: must be a list of tables"),
        ("actions = [1]", "browser", "detail.actions[0]: must be a table"),
        ('actions = [{ click = "css:b", wait = "css:c" }]', "browser", "detail.actions[0]: needs exactly one of click, wait, scroll, cookies (got 2)"),
        ('actions = [{ tap = "css:b" }]', "browser", "detail.actions[0].tap: unknown key"),
        ('actions = [{ click = "b" }]', "browser", "detail.actions[0].click: selector must start with 'css:' or 'xpath:'"),
        ('actions = [{ click = "css:a::text" }]', "browser", "detail.actions[0].click: selects elements only"),
        ('actions = [{ wait = "css:a[" }]', "browser", "detail.actions[0].wait: invalid css selector"),
        ("actions = [{ scroll = 0 }]", "browser", "detail.actions[0].scroll: must be a count from 1 to 50"),
        ('actions = [{ wait = "css:a", timeout = -1 }]', "browser", "detail.actions[0].timeout: must be seconds"),
        ('actions = [{ wait = "css:a", optional = "yes" }]', "browser", "detail.actions[0].optional: must be true or false"),
        ('actions = [{ cookies = { "a b" = "1" } }]', "browser", "detail.actions[0].cookies.a b: bad cookie name"),
        ('actions = [{ cookies = { a = "1;2" } }]', "browser", "detail.actions[0].cookies.a: value must be a string without"),
        ('actions = [{ wait = "css:a" }, { cookies = { a = "1" } }]', "browser", "detail.actions[1]: cookies must come before click/wait/scroll"),
    ],
)  # fmt: skip
def test_bad_actions_fail_with_one_line_naming_file_and_key(
    tmp_path: Path, detail: str, render: str, message: str
) -> None:
    path = definition(tmp_path, detail=detail, render=render)
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert message in text, text


def test_listing_actions_are_validated_too(tmp_path: Path) -> None:
    path = definition(tmp_path, listing="actions = [{ scroll = true }]")
    with pytest.raises(DefinitionError, match=r"listing\.actions\[0\]\.scroll: must be a count"):
        load_definition(path)
