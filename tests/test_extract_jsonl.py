"""The ``adarchive extract`` JSONL runner: order, region override, malformed lines."""

from __future__ import annotations

import io
import json

from crawler.extract.jsonl import run_jsonl


def _run(lines: list[str], region: str | None = None) -> tuple[int, list[dict], list[dict]]:
    out, err = io.StringIO(), io.StringIO()
    status = run_jsonl(iter(lines), out, err, region)
    return (
        status,
        [json.loads(x) for x in out.getvalue().splitlines()],
        [json.loads(x) for x in err.getvalue().splitlines()],
    )


def _line(**record: object) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def test_one_output_line_per_input_line_in_order() -> None:
    lines = [_line(id=f"ad-{n}", text=f"Тел: 8 701 234 56 {n:02d}") for n in range(10, 30)]
    status, out, err = _run(lines, "KZ")
    assert status == 0 and err == []
    assert [o["id"] for o in out] == [f"ad-{n}" for n in range(10, 30)]
    first = out[0]["identifiers"]
    assert first == [
        {
            "kind": "phone",
            "value": "+77012345610",
            "match": "8 701 234 56 10",
            "start": 5,
            "end": 20,
        }
    ]


def test_line_region_overrides_the_command_region() -> None:
    lines = [
        _line(id="jp", text="電話 090-1234-5678", region="JP"),
        _line(id="default", text="Tel 8 701 234 56 78"),
        _line(id="none", text="Tel 8 701 234 56 78", region=None),
    ]
    status, out, _ = _run(lines, "KZ")
    assert status == 0
    values = {o["id"]: [i["value"] for i in o["identifiers"]] for o in out}
    assert values == {
        "jp": ["+819012345678"],
        "default": ["+77012345678"],
        "none": ["+77012345678"],
    }
    status, out, _ = _run([_line(id="x", text="Tel 8 701 234 56 78")], None)
    assert out == [
        {"id": "x", "identifiers": []}
    ]  # no region: a trunk-prefixed number is ambiguous


def test_channel_only_when_set() -> None:
    _, out, _ = _run([_line(id=1, text="https://wa.me/77012345678 and 8 702 456 78 12")], "KZ")
    idents = out[0]["identifiers"]
    assert idents[0]["channel"] == "whatsapp"
    assert "channel" not in idents[1]


def test_malformed_lines_are_reported_and_processing_continues() -> None:
    lines = [
        _line(id="ok-1", text="Тел: 8 701 234 56 78"),
        "{not json\n",
        _line(id="bad-text", text=42),
        "[1, 2]\n",
        _line(text="no id here"),
        _line(id="bad-region", text="x", region=7),
        "\n",
        _line(id="ok-2", text="anna@example.com"),
    ]
    status, out, err = _run(lines, "KZ")
    assert status == 1
    assert [o["id"] for o in out] == ["ok-1", "ok-2"]
    assert [e["line"] for e in err] == [2, 3, 4, 5, 6]
    assert err[1]["id"] == "bad-text" and err[4]["id"] == "bad-region"
    assert all(e["error"] for e in err)


def test_all_good_lines_exit_zero_and_unicode_survives() -> None:
    status, out, _ = _run([_line(id="ko", text="카톡 anna22 연락 010-1234-5678", region="KR")])
    assert status == 0
    kinds = [(i["kind"], i["value"], i["match"]) for i in out[0]["identifiers"]]
    assert kinds == [("kakao", "anna22", "anna22"), ("phone", "+821012345678", "010-1234-5678")]


def test_language_names_the_market() -> None:
    lines = [
        _line(id="ru", text="пиши @anna_k", language="ru"),
        _line(id="en", text="write @anna_k", language="en"),
        _line(id="bad", text="x", language=7),
    ]
    status, out, err = _run(lines, None)
    assert status == 1
    kinds = {o["id"]: [i["kind"] for i in o["identifiers"]] for o in out}
    assert kinds == {"ru": ["telegram"], "en": []}
    assert err == [{"line": 3, "id": "bad", "error": '"language" must be a string'}]
