"""The routes of notes, tags, cases, exports and bundle verification (kept apart from
app.py so the case pages are added in one line)."""

from __future__ import annotations

from starlette.routing import Route

from crawler.configuration import setting
from crawler.workbench import casepages as c


def casepages_routes() -> list[Route]:
    return [
        Route("/notes", c.notes_page, methods=["GET"]),
        Route("/notes", c.note_add, methods=["POST"]),
        Route("/notes/{note_id:int}/remove", c.note_remove, methods=["POST"]),
        Route("/tags", c.tag_add, methods=["POST"]),
        Route("/tags/{tag_id:int}/remove", c.tag_remove, methods=["POST"]),
        Route("/cases", c.cases_page, methods=["GET"]),
        Route("/cases", c.case_create, methods=["POST"]),
        Route("/cases/items", c.case_item_add, methods=["POST"]),
        Route("/cases/{case_id:int}", c.case_page, methods=["GET"]),
        Route("/cases/{case_id:int}/description", c.case_describe, methods=["POST"]),
        Route(
            "/cases/{case_id:int}/items/{item_id:int}/remove", c.case_item_remove, methods=["POST"]
        ),  # fmt: skip
        Route("/cases/{case_id:int}/export", c.case_export, methods=["POST"]),
        Route(
            "/cases/{case_id:int}/exports/{export_id:int}/exhibit", c.case_exhibit, methods=["POST"]
        ),  # fmt: skip
        Route(
            "/cases/{case_id:int}/exports/{export_id:int}/download",
            c.case_download,
            methods=["GET"],
        ),  # fmt: skip
        Route("/verify", c.verify_page, methods=["GET"]),
        Route("/verify", c.verify_upload, methods=["POST"]),
    ]


def upload_limits() -> dict[str, int]:
    """Paths taking an upload larger than a form, and their limit (a setting)."""
    return {"/verify": int(setting("ADARCHIVE_WORKBENCH_UPLOAD_MAX"))}
