"""The ``adarchive extract`` JSONL contract: one result line per input line.

Input lines are ``{"id", "text", "region"?, "language"?}`` (a line's region
overrides the command's; ``language`` names the market, see
``crawler.extract.markets``); output lines are ``{"id", "identifiers": [...]}``
in input order.
A malformed line yields a JSON error line on ``err`` naming its id (or line
number) and processing goes on; the exit status is 1 if any line failed.
Blank lines are not records and are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from crawler.extract.extractor import extract_identifiers


class _BadLine(ValueError):
    pass


def _record(line: str) -> tuple[Any, str, str | None, str | None]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _BadLine(f"invalid JSON: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise _BadLine("line is not a JSON object")
    if "id" not in obj:
        raise _BadLine('missing "id"')
    ident = obj["id"]
    text = obj.get("text")
    if not isinstance(text, str):
        raise _BadLine('"text" must be a string', ident)
    region = obj.get("region")
    if region is not None and not isinstance(region, str):
        raise _BadLine('"region" must be a string', ident)
    language = obj.get("language")
    if language is not None and not isinstance(language, str):
        raise _BadLine('"language" must be a string', ident)
    return ident, text, region, language


def run_jsonl(lines: Iterable[str], out: TextIO, err: TextIO, region: str | None) -> int:
    """Extract identifiers for every JSONL record; return the exit status."""
    status = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            ident, text, line_region, language = _record(line)
            found = extract_identifiers(text, line_region or region, language=language)
        except Exception as exc:  # one bad line must not stop the others
            status = 1
            report: dict[str, Any] = {"line": number}
            if isinstance(exc, _BadLine) and len(exc.args) > 1:
                report["id"] = exc.args[1]
            report["error"] = exc.args[0] if isinstance(exc, _BadLine) else repr(exc)
            err.write(json.dumps(report, ensure_ascii=False) + "\n")
            continue
        result = {"id": ident, "identifiers": [i.to_dict() for i in found]}
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
    return status
