"""The pages of notes, tags, cases, case exports and bundle verification.

Every handler is declared with its permission (``page``/``action`` of
:mod:`crawler.workbench.web`), so login, role and CSRF are checked before it
runs. Each object named in a URL or a form (case, item, note, tag, export) is
looked up and checked to belong where the URL says; a guessed id answers 404
and changes nothing. Every change is audited.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from crawler.configuration import setting
from crawler.extract.argument import IdentifierError, parse_identifier
from crawler.store.models import (
    Ad,
    Case,
    CaseExport,
    CaseItem,
    Platform,
    WorkbenchNote,
    WorkbenchTag,
)
from crawler.workbench import audit, caseexport, cases, notes
from crawler.workbench.roles import allowed
from crawler.workbench.sessions import Login, find_session
from crawler.workbench.web import (
    SESSION_COOKIE,
    action,
    forbidden,
    not_found,
    page,
    render,
    workbench,
)

CHUNK = 1 << 20
UPLOAD_PERMISSION = "bundles.verify"


_int = notes.row_id


def _refused(request: Request, login: Login, message: str, status: int = 400) -> Response:
    return render(request, "error.html", login, status=status, title="Not done", message=message)


def panel(db: Session, login: Login, kind: str, ref: str) -> dict[str, Any] | None:
    """What an advert, identifier or network page shows of notes, tags and cases."""
    subject = notes.resolve(db, kind, ref)
    if subject is None or not (
        allowed(login.role, "notes.view") or allowed(login.role, "cases.view")
    ):
        return None
    out: dict[str, Any] = {"subject": subject, "notes": [], "tags": [], "cases": [], "choices": []}
    if allowed(login.role, "notes.view"):
        out.update(notes.for_subject(db, kind, subject.ref))
    if allowed(login.role, "cases.view"):
        out["cases"] = cases.containing(db, kind, subject.ref)
    if allowed(login.role, "cases.edit"):
        inside = {c.id for c in out["cases"]}
        out["choices"] = [(i, r) for i, r in cases.choices(db) if i not in inside]
    return out


def identifier_panel(
    db: Session, login: Login, identifier: tuple[str, str] | None
) -> dict[str, Any] | None:
    """The panel of the identifier an identifier search found, if the store has it."""
    if not identifier:
        return None
    ref = notes.identifier_ref(db, identifier[0], identifier[1])
    return panel(db, login, "identifier", ref) if ref else None


# -- notes and tags -----------------------------------------------------------


def _subject(db: Session, form: dict[str, str]) -> notes.Subject | None:
    kind, ref = form.get("subject_kind", ""), form.get("subject_ref", "")
    if kind not in notes.KINDS or len(ref) > 64:
        return None
    return notes.resolve(db, kind, ref)


@page("notes.view")
def notes_page(request: Request, db: Session, login: Login) -> Response:
    tag = request.query_params.get("tag", "")[: notes.MAX_TAG]
    audit.append(db, login.name, "notes.view", "notes", {"tag": tag} if tag else {})
    return render(request, "notes.html", login, title="Notes and tags", tag=tag,
                  tags=notes.tag_counts(db), tagged=notes.tagged(db, tag) if tag else [],
                  recent=notes.recent_notes(db))  # fmt: skip


@action("notes.edit")
def note_add(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    subject = _subject(db, form)
    if subject is None:
        return not_found(request, login, "There is no such advert, identifier or network.")
    try:
        note = notes.add_note(db, subject, form.get("body", ""), login.name)
    except notes.NoteError as exc:
        db.rollback()
        return _refused(request, login, str(exc))
    audit.append(db, login.name, "note.add", subject.key, {"note": note.id, "body": note.body})
    return RedirectResponse(subject.url, status_code=303)


@action("notes.edit")
def note_remove(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    found = notes.row_id(request.path_params["note_id"])
    note = db.get(WorkbenchNote, found) if found is not None else None
    subject = notes.resolve(db, note.subject_kind, note.subject_ref) if note else None
    if note is None or subject is None:
        return not_found(request, login, "There is no such note.")
    try:
        notes.remove_note(db, note, login.name)
    except notes.NoteError as exc:
        db.rollback()
        return _refused(request, login, str(exc))
    audit.append(db, login.name, "note.remove", subject.key, {"note": note.id, "body": note.body})
    return RedirectResponse(subject.url, status_code=303)


@action("notes.edit")
def tag_add(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    subject = _subject(db, form)
    if subject is None:
        return not_found(request, login, "There is no such advert, identifier or network.")
    try:
        tag = notes.add_tag(db, subject, form.get("tag", ""), login.name)
    except notes.NoteError as exc:
        db.rollback()
        return _refused(request, login, str(exc))
    audit.append(db, login.name, "tag.add", subject.key, {"tag": tag.tag})
    return RedirectResponse(subject.url, status_code=303)


@action("notes.edit")
def tag_remove(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    found = notes.row_id(request.path_params["tag_id"])
    tag = db.get(WorkbenchTag, found) if found is not None else None
    subject = notes.resolve(db, tag.subject_kind, tag.subject_ref) if tag else None
    if tag is None or subject is None:
        return not_found(request, login, "There is no such tag.")
    text = tag.tag
    notes.remove_tag(db, tag)
    audit.append(db, login.name, "tag.remove", subject.key, {"tag": text})
    return RedirectResponse(subject.url, status_code=303)


# -- cases --------------------------------------------------------------------


def _case(db: Session, case_id: Any) -> Case | None:
    found = notes.row_id(case_id) if isinstance(case_id, int) else None
    return db.get(Case, found) if found is not None else None


def _list(request: Request, db: Session, login: Login, status: int = 200,
          errors: list[str] | None = None, form: dict[str, str] | None = None) -> Response:  # fmt: skip
    return render(request, "case_list.html", login, status=status, title="Cases",
                  rows=cases.list_all(db), errors=errors or [], form=form or {})  # fmt: skip


@page("cases.view")
def cases_page(request: Request, db: Session, login: Login) -> Response:
    audit.append(db, login.name, "cases.view", "cases", {})
    return _list(request, db, login)


@action("cases.edit")
def case_create(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    try:
        case = cases.create(db, form.get("reference", ""), form.get("description", ""), login.name)
    except cases.CaseError as exc:
        db.rollback()
        return _list(request, db, login, status=400, errors=[str(exc)], form=form)
    audit.append(db, login.name, "case.create", f"case:{case.id}",
                 {"reference": case.reference, "description": case.description})  # fmt: skip
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


def _case_page(request: Request, db: Session, login: Login, case_id: int, status: int = 200,
               errors: list[str] | None = None) -> Response:  # fmt: skip
    view = cases.load(db, case_id)
    if view is None:
        return not_found(request, login, f"There is no case {case_id}.")
    data_root = workbench(request).data_root
    running = [e for e in view.exports if e.status == "running"]
    return render(
        request, "case.html", login, status=status, title=f"Case {view.case.reference}",
        view=view, errors=errors or [], running=bool(running),
        progress={e.id: caseexport.progress(e, data_root) for e in running},
        signing=caseexport.signing_key() is not None, lines=lambda e: e.report.splitlines(),
    )  # fmt: skip


@page("cases.view")
def case_page(request: Request, db: Session, login: Login) -> Response:
    case_id = request.path_params["case_id"]
    if _case(db, case_id) is None:
        return not_found(request, login, f"There is no case {case_id}.")
    audit.append(db, login.name, "case.view", f"case:{case_id}", {})
    return _case_page(request, db, login, case_id)


@action("cases.edit")
def case_describe(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    case = _case(db, request.path_params["case_id"])
    if case is None:
        return not_found(request, login, "There is no such case.")
    try:
        cases.describe(db, case, form.get("description", ""), login.name)
    except cases.CaseError as exc:
        db.rollback()
        return _case_page(request, db, login, case.id, status=400, errors=[str(exc)])
    audit.append(
        db, login.name, "case.describe", f"case:{case.id}", {"description": case.description}
    )
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


def _typed_subject(db: Session, kind: str, text: str) -> notes.Subject | None:
    """What a person typed on the case page: an advert id or PLATFORM:EXTERNAL_ID, an
    identifier as written (normalised as extraction does), a network label."""
    text = text.strip()[:500]
    if kind == "ad":
        if text.isdigit():
            return notes.resolve(db, "ad", text)
        platform, sep, external = text.partition(":")
        ad_id = db.scalar(
            select(Ad.id).join(Platform, Platform.id == Ad.platform_id)
            .where(Platform.name == platform, Ad.external_id == external)
        ) if sep else None  # fmt: skip
        return notes.resolve(db, "ad", str(ad_id)) if ad_id else None
    if kind == "identifier":
        try:
            arg = parse_identifier(text)
        except IdentifierError:
            return None
        ref = notes.identifier_ref(db, arg.kind, arg.value)
        return notes.resolve(db, "identifier", ref) if ref else None
    if kind == "network":
        subject = notes.resolve(db, "network", text.upper())
        return subject if subject and subject.url != "/networks" else None
    return None


@action("cases.edit")
def case_item_add(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    case = _case(db, _int(form.get("case", "")))
    if case is None:
        return not_found(request, login, "There is no such case.")
    kind = form.get("kind", "")
    if "ref" in form:  # from an advert, identifier or network page
        subject = notes.resolve(db, kind, form["ref"][:64]) if kind in notes.KINDS else None
        back = subject.url if subject else ""
    else:  # typed on the case page
        subject = _typed_subject(db, kind, form.get("value", ""))
        back = f"/cases/{case.id}"
    if subject is None:
        what = {"ad": "advert", "identifier": "identifier", "network": "network"}.get(kind, "item")
        message = f"No {what} {form.get('value', form.get('ref', ''))[:100]!r} in the store."
        return _case_page(request, db, login, case.id, status=400, errors=[message])
    try:
        cases.add_item(db, case, subject, login.name)
    except cases.CaseError as exc:
        db.rollback()
        return _case_page(request, db, login, case.id, status=400, errors=[str(exc)])
    audit.append(db, login.name, "case.item.add", f"case:{case.id}",
                 {"item": subject.key, "label": subject.label})  # fmt: skip
    return RedirectResponse(back or f"/cases/{case.id}", status_code=303)


@action("cases.edit")
def case_item_remove(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    case = _case(db, request.path_params["case_id"])
    found = notes.row_id(request.path_params["item_id"])
    item = db.get(CaseItem, found) if found is not None else None
    if case is None or item is None or item.case_id != case.id:
        return not_found(request, login, "There is no such item in this case.")
    subject = notes.resolve(db, item.kind, item.ref)
    key, label = f"{item.kind}:{item.ref}", subject.label if subject else f"{item.kind} {item.ref}"
    cases.remove_item(db, case, item, label, login.name)
    audit.append(
        db, login.name, "case.item.remove", f"case:{case.id}", {"item": key, "label": label}
    )
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


# -- exports, exhibits, downloads -----------------------------------------------


@action("cases.export")
def case_export(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    case = _case(db, request.path_params["case_id"])
    if case is None:
        return not_found(request, login, "There is no such case.")
    wb = workbench(request)
    try:
        job = caseexport.start_bundle(wb.factory, db, case, login.name, wb.data_root)
    except cases.CaseError as exc:
        db.rollback()
        return _case_page(request, db, login, case.id, status=400, errors=[str(exc)])
    cases.record(db, case.id, login.name, "bundle started", job.file_name)
    audit.append(db, login.name, "case.export", f"case:{case.id}",
                 {"job": job.id, "bundle": job.file_name,
                  "selection": cases.selection(db, case.id).describe()})  # fmt: skip
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


def _job(db: Session, case: Case | None, export_id: Any) -> CaseExport | None:
    found = notes.row_id(export_id) if isinstance(export_id, int) else None
    job = db.get(CaseExport, found) if found is not None else None
    return job if case is not None and job is not None and job.case_id == case.id else None


@action("cases.export")
def case_exhibit(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    case = _case(db, request.path_params["case_id"])
    bundle = _job(db, case, request.path_params["export_id"])
    if case is None or bundle is None:
        return not_found(request, login, "There is no such export of this case.")
    wb = workbench(request)
    try:
        job = caseexport.start_exhibit(wb.factory, db, case, bundle, login.name, wb.data_root)
    except cases.CaseError as exc:
        db.rollback()
        return _case_page(request, db, login, case.id, status=400, errors=[str(exc)])
    cases.record(db, case.id, login.name, "exhibit started", job.file_name)
    audit.append(db, login.name, "case.exhibit", f"case:{case.id}",
                 {"job": job.id, "exhibit": job.file_name, "bundle": bundle.file_name})  # fmt: skip
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


@page("cases.export")
def case_download(request: Request, db: Session, login: Login) -> Response:
    case = _case(db, request.path_params["case_id"])
    job = _job(db, case, request.path_params["export_id"])
    path = caseexport.file_of(job, workbench(request).data_root) if job else None
    if case is None or job is None or path is None:
        return not_found(request, login, "There is no such file of this case.")
    audit.append(db, login.name, f"case.{job.kind}.download", f"case:{case.id}",
                 {"job": job.id, "file": job.file_name, "sha256": job.sha256})  # fmt: skip
    media = "application/pdf" if job.kind == "exhibit" else "application/wacz"
    return FileResponse(path, media_type=media, filename=job.file_name)


# -- verify an uploaded bundle ------------------------------------------------------


@page("bundles.verify")
def verify_page(request: Request, db: Session, login: Login) -> Response:
    return render(request, "case_verify.html", login, title="Verify a bundle", lines=[],
                  name="", ok=None, errors=[], limit=setting("ADARCHIVE_WORKBENCH_UPLOAD_MAX"))  # fmt: skip


def _login(request: Request) -> Login | None:
    with workbench(request).factory() as db:
        return find_session(db, request.cookies.get(SESSION_COOKIE))


async def verify_upload(request: Request) -> Response:
    """Role checked before the body is read; the upload streamed to a temporary file,
    then the CSRF token, then ``adarchive verify``'s own code."""
    login = await run_in_threadpool(_login, request)
    if login is None:
        return RedirectResponse("/login", status_code=303)
    if not allowed(login.role, UPLOAD_PERMISSION):
        return forbidden(request, login, UPLOAD_PERMISSION)
    limit = int(setting("ADARCHIVE_WORKBENCH_UPLOAD_MAX"))
    work = Path(tempfile.mkdtemp(prefix="adarchive-verify-"))
    try:
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("bundle")
        token = form.get("csrf_token")
        if not isinstance(token, str) or not secrets.compare_digest(token, login.csrf_token):
            await run_in_threadpool(_audit, request, login, "csrf.refused", request.url.path, {})
            return render(request, "error.html", login, status=403, title="Not allowed",
                          message="The form was not genuine (CSRF token missing or wrong).")  # fmt: skip
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _verify_result(
                request, login, [], "", None, ["Choose a bundle file to upload."], 400
            )
        name = (
            re.sub(r"[^A-Za-z0-9._-]+", "_", Path(upload.filename).name)[:120].lstrip(".")
            or "bundle"
        )
        path = work / name
        digest, size = hashlib.sha256(), 0
        with path.open("wb") as fh:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    return _verify_result(request, login, [], name, None,
                                          [f"The file is larger than the upload limit ({limit:,} bytes)."], 413)  # fmt: skip
                digest.update(chunk)
                fh.write(chunk)
        await upload.close()
        lines, ok = await run_in_threadpool(caseexport.verify_upload, path, name)
        await run_in_threadpool(_audit, request, login, "bundle.verify", f"bundle:{digest.hexdigest()}",
                                {"name": name, "bytes": size, "ok": ok,
                                 "result": lines[-1] if lines else ""})  # fmt: skip
        return _verify_result(request, login, lines, name, ok, [], 200)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _audit(request: Request, login: Login, act: str, subject: str, details: dict[str, Any]) -> None:
    with workbench(request).factory() as db:
        audit.append(db, login.name, act, subject, details)


def _verify_result(request: Request, login: Login, lines: list[str], name: str, ok: bool | None,
                   errors: list[str], status: int) -> Response:  # fmt: skip
    return render(request, "case_verify.html", login, status=status, title="Verify a bundle",
                  lines=lines, name=name, ok=ok, errors=errors,
                  limit=setting("ADARCHIVE_WORKBENCH_UPLOAD_MAX"))  # fmt: skip
