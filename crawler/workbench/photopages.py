"""The photo search pages: upload a photo (multipart, CSRF-checked), see the adverts
whose images are near it, page through them by its pHash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from crawler.configuration import setting
from crawler.workbench import audit
from crawler.workbench.photosearch import Photo, PhotoError, PhotoIndex, check_phash, hash_photo
from crawler.workbench.search import SearchRequest, search
from crawler.workbench.sessions import Login
from crawler.workbench.web import _checked as checked_form  # the one login/CSRF/permission check
from crawler.workbench.web import page, render

PERMISSION = "ads.view"
FORM_OVERHEAD = 64 * 1024
"""Room for the multipart framing and the CSRF field around the photo itself."""


@dataclass
class PhotoSearch:
    """The photo search's settings and its in-memory pHash index (one per server)."""

    max_bytes: int
    max_distance: int
    index: PhotoIndex

    @classmethod
    def from_settings(cls) -> PhotoSearch:
        distance = int(setting("ADARCHIVE_WORKBENCH_PHOTO_MAX_DISTANCE"))
        return cls(int(setting("ADARCHIVE_WORKBENCH_PHOTO_MAX_BYTES")), distance,
                   PhotoIndex(distance))  # fmt: skip

    @property
    def body_limit(self) -> int:
        """The request body limit of the upload route (the security middleware enforces it)."""
        return self.max_bytes + FORM_OVERHEAD


def photo_search(request: Request) -> PhotoSearch:
    found: PhotoSearch = request.app.state.photo_search
    return found


def _page_no(request: Request) -> int:
    value = request.query_params.get("page", "")
    return int(value) if value.isdigit() else 1


def _render(request: Request, db: Session, login: Login, *, phash: str = "",
            photo: Photo | None = None, errors: list[str] | None = None,
            page_no: int = 1, status: int = 200) -> tuple[Response, int | None]:  # fmt: skip
    ps = photo_search(request)
    result, distances = None, {}
    if phash and not errors:
        distances = ps.index.near(db, phash)
        result = search(db, SearchRequest(ad_ids=frozenset(distances), page=page_no))
    response = render(
        request, "photo.html", login, status=status, title="Search by photo",
        errors=errors or [], photo=photo, phash=phash, result=result, distances=distances,
        max_mib=ps.max_bytes // (1024 * 1024), max_distance=ps.max_distance,
        page_url=lambda n: "/search/photo?" + urlencode({"phash": phash, "page": n}),
    )  # fmt: skip
    return response, result.total if result else None


@page(PERMISSION)
def photo_page(request: Request, db: Session, login: Login) -> Response:
    """The form; with ``?phash=`` (the pager's links) one page of an earlier photo's results."""
    given = request.query_params.get("phash", "")
    if not given:
        return _render(request, db, login)[0]
    page_no = _page_no(request)
    try:
        phash = check_phash(given)
    except PhotoError as exc:
        return _render(request, db, login, errors=[str(exc)], status=400)[0]
    response, total = _render(request, db, login, phash=phash, page_no=page_no)
    audit.append(db, login.name, "search.photo", "ads",
                 {"phash": phash, "page": page_no, "results": total})  # fmt: skip
    return response


async def photo_upload(request: Request) -> Response:
    """POST /search/photo: read the upload (bounded), then the usual form checks, then search."""
    ps = photo_search(request)
    fields: dict[str, str] = {}
    data = b""
    async with request.form(max_files=1, max_fields=4) as form:
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            elif isinstance(value, UploadFile) and key == "photo":
                data = await value.read(ps.max_bytes + 1)  # a temporary file at most; closed here
    handler = _upload_handler(data)
    return await run_in_threadpool(checked_form, request, fields, handler, PERMISSION)


def _upload_handler(data: bytes) -> Any:
    def handle(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
        ps = photo_search(request)
        try:
            photo = hash_photo(data, ps.max_bytes)
        except PhotoError as exc:
            audit.append(db, login.name, "search.photo", "ads", {
                "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "error": str(exc),
            })  # fmt: skip
            return _render(request, db, login, errors=[str(exc)], status=400)[0]
        response, total = _render(request, db, login, phash=photo.phash, photo=photo)
        audit.append(db, login.name, "search.photo", "ads", {
            "sha256": photo.sha256, "phash": photo.phash, "width": photo.width,
            "height": photo.height, "bytes": len(data), "page": 1, "results": total,
        })  # fmt: skip
        return response

    return handle
