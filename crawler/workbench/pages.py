"""The workbench's pages: log-in, search, advert, images, audit trail, users, platforms."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from PIL import Image as PILImage
from PIL import ImageFilter, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crawler.analysis.decisions import DecisionError, record
from crawler.analysis.warcread import read_payload
from crawler.store.models import Ad, Crawl, Link, Network, Platform, utc
from crawler.workbench import adview, audit, casepages, networkdata, secondfactor
from crawler.workbench.accounts import AccountError, add_user, check_password, list_users
from crawler.workbench.roles import ROLES, allowed
from crawler.workbench.search import SearchError, SearchRequest, search
from crawler.workbench.sessions import Login, find_session, open_session, revoke
from crawler.workbench.throttle import is_throttled
from crawler.workbench.totppages import ask_code
from crawler.workbench.web import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    action,
    client_address,
    not_found,
    page,
    render,
    set_session_cookie,
    workbench,
)

BLUR_SIZE = 240
MAX_IMAGE_PIXELS = 40_000_000


# -- log-in ------------------------------------------------------------------


def home(request: Request) -> Response:
    with workbench(request).factory() as db:
        login = find_session(db, request.cookies.get(SESSION_COOKIE))
    if login is None:
        return RedirectResponse("/login", status_code=303)
    if allowed(login.role, "ads.view"):
        return RedirectResponse("/search", status_code=303)
    if allowed(login.role, "users.manage"):
        return RedirectResponse("/users", status_code=303)
    return RedirectResponse("/platforms", status_code=303)


def login_form(request: Request, message: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", None, status=status, login_token=token,
                      message=message)  # fmt: skip
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=workbench(request).secure_cookies, path="/login")  # fmt: skip
    return response


def login_page(request: Request) -> Response:
    return login_form(request)


async def login_submit(request: Request) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return await run_in_threadpool(_login, request, fields)


def _login(request: Request, form: dict[str, str]) -> Response:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, form.get("login_token", "")):
        return login_form(request, "The log-in form expired; please try again.", status=403)
    name, password = form.get("name", "").strip()[:64], form.get("password", "")
    address = client_address(request)
    wb = workbench(request)
    with wb.factory() as db:
        if is_throttled(db, name, address):
            audit.append(db, f"address:{address}", "login.throttled", f"user:{name}", {})
            return login_form(
                request, "Too many failed log-ins: wait 15 minutes and try again.", status=429
            )
        user = check_password(db, name, password)
        if user is None:
            audit.append(db, f"address:{address}", "login.failed", f"user:{name}", {})
            return login_form(request, "Wrong name or password.", status=401)
        if secondfactor.required(db, user.id):  # TOTP on: the code comes next (totppages)
            return ask_code(request, db, user, address)
        token, login = open_session(db, user, address)
        audit.append(db, login.name, "login", f"user:{login.name}",
                     {"address": address, "role": login.role})  # fmt: skip
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, wb, token)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@action(None)
def logout(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    revoke(db, login.session_id)
    audit.append(db, login.name, "logout", f"user:{login.name}", {})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- search ------------------------------------------------------------------


def _date(value: str, field: str, errors: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        errors.append(f"{field}: expected a date as YYYY-MM-DD")
        return None


@page("ads.view")
def search_page(request: Request, db: Session, login: Login) -> Response:
    q = request.query_params
    errors: list[str] = []
    since = _date(q.get("since", ""), "from", errors)
    until = _date(q.get("until", ""), "to", errors)
    page_no = int(q["page"]) if q.get("page", "").isdigit() else 1
    req = SearchRequest(
        text=q.get("q", "").strip(),
        identifier=q.get("identifier", "").strip(),
        name=q.get("name", "").strip(),
        location=q.get("location", "").strip(),
        platform=q.get("platform", ""),
        since=since,
        until=until + timedelta(days=1) if until else None,
        page=page_no,
    )
    result = None
    if not req.is_empty() and not errors:
        refresher = workbench(request).refresher
        refresher.maybe_refresh(db)
        try:
            result = refresher.cached(req, lambda: search(db, req))
        except SearchError as exc:
            errors.append(str(exc))
    if not req.is_empty():
        audit.append(db, login.name, "search", "ads", {
            "q": req.text, "identifier": req.identifier, "platform": req.platform,
            "name": req.name, "location": req.location,
            "since": q.get("since", ""), "until": q.get("until", ""), "page": page_no,
            "results": result.total if result else None, "error": errors[0] if errors else None,
        })  # fmt: skip
    params = {k: v for k, v in q.items() if k != "page" and v}
    return render(
        request,
        "search.html",
        login,
        title="Search adverts",
        q=q,
        errors=errors,
        result=result,
        platforms=workbench(request).platform_names(db),
        page_url=lambda n: "/search?" + urlencode({**params, "page": n}),
        panel=casepages.identifier_panel(db, login, result.identifier if result else None),
    )


# -- advert ------------------------------------------------------------------


def _advert(request: Request, db: Session, login: Login, ad_id: int, revealed: bool) -> Response:
    view = adview.load(db, ad_id)
    if view is None:
        audit.append(db, login.name, "ad.missing", f"ad:{ad_id}", {})
        return not_found(request, login, f"There is no advert {ad_id}.")
    audit.append(db, login.name, "image.reveal" if revealed else "ad.view", f"ad:{ad_id}",
                 {"images": len(view.images)} if revealed else {})  # fmt: skip
    return render(request, "ad.html", login, title=view.ad.title or f"Advert {ad_id}",
                  view=view, revealed=revealed,
                  panel=casepages.panel(db, login, "ad", str(ad_id)))  # fmt: skip


@page("ads.view")
def ad_page(request: Request, db: Session, login: Login) -> Response:
    return _advert(request, db, login, request.path_params["ad_id"], revealed=False)


@action("images.reveal")
def ad_reveal(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    return _advert(request, db, login, request.path_params["ad_id"], revealed=True)


def _image_bytes(request: Request, db: Session, image_id: int) -> bytes | None:
    source = adview.image_source(db, image_id)
    if source is None or source[2]:  # missing, or on the known-hash list: never rendered
        return None
    return read_payload(workbench(request).data_root, source[0], source[1])


def _decode(data: bytes) -> PILImage.Image | None:
    try:
        img = PILImage.open(io.BytesIO(data))
        if img.width * img.height > MAX_IMAGE_PIXELS:
            return None
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, PILImage.DecompressionBombError):
        return None
    return img


def _png(img: PILImage.Image) -> Response:
    out = io.BytesIO()
    img.save(out, "PNG")
    return Response(out.getvalue(), media_type="image/png")


@page("ads.view")
def image_blurred(request: Request, db: Session, login: Login) -> Response:
    """A small, heavily blurred copy made on the server: the original never leaves it."""
    data = _image_bytes(request, db, request.path_params["image_id"])
    img = _decode(data) if data else None
    if img is None:
        return Response("no such image", status_code=404, media_type="text/plain")
    img = img.convert("RGB")
    img.thumbnail((BLUR_SIZE, BLUR_SIZE))
    return _png(img.filter(ImageFilter.GaussianBlur(radius=max(6, BLUR_SIZE // 12))))


@page("images.reveal")
def image_original(request: Request, db: Session, login: Login) -> Response:
    image_id = request.path_params["image_id"]
    data = _image_bytes(request, db, image_id)
    img = _decode(data) if data else None
    if img is None:
        return Response("no such image", status_code=404, media_type="text/plain")
    audit.append(db, login.name, "image.original", f"ad_image:{image_id}", {})
    # Re-encoded, never the captured bytes as such: nothing hostile reaches the browser.
    return _png(img.convert("RGB"))


# -- audit trail -------------------------------------------------------------


@page("audit.view")
def audit_page(request: Request, db: Session, login: Login) -> Response:
    q = request.query_params
    errors: list[str] = []
    since = _date(q.get("since", ""), "from", errors)
    until = _date(q.get("until", ""), "to", errors)
    flt = audit.AuditFilter(
        actor=q.get("actor", "").strip(),
        action=q.get("action", "").strip(),
        subject=q.get("subject", "").strip(),
        since=since,
        until=until + timedelta(days=1) if until else None,
    )
    page_no = int(q["page"]) if q.get("page", "").isdigit() else 1
    size = 50
    total, events = audit.query(db, flt, limit=size, offset=(page_no - 1) * size)
    chain = audit.verify(db) if q.get("verify") else None
    audit.append(db, login.name, "audit.view", "audit", {k: v for k, v in q.items() if v})
    params = {k: v for k, v in q.items() if k != "page" and v}
    return render(
        request,
        "audit.html",
        login,
        title="Audit trail",
        q=q,
        errors=errors,
        total=total,
        events=events,
        page_no=page_no,
        pages=max(1, -(-total // size)),
        actions=audit.actions(db),
        chain=chain,
        utc=utc,
        page_url=lambda n: "/audit?" + urlencode({**params, "page": n}),
    )


# -- users (admin) -----------------------------------------------------------


@page("users.manage")
def users_page(request: Request, db: Session, login: Login) -> Response:
    audit.append(db, login.name, "users.view", "users", {})
    return render(request, "users.html", login, title="Users", users=list_users(db),
                  roles=ROLES, message="", errors=[])  # fmt: skip


@action("users.manage")
def users_add(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    name, role = form.get("name", "").strip(), form.get("role", "")
    try:
        add_user(db, name, role, form.get("password", ""))
    except AccountError as exc:
        db.rollback()
        return render(request, "users.html", login, status=400, title="Users",
                      users=list_users(db), roles=ROLES, message="", errors=[str(exc)])  # fmt: skip
    audit.append(db, login.name, "user.add", f"user:{name}", {"role": role})
    return render(request, "users.html", login, title="Users", users=list_users(db),
                  roles=ROLES, message=f"User {name} added as {role}.", errors=[])  # fmt: skip


# -- platforms (technical) ---------------------------------------------------


@page("platforms.view")
def platforms_page(request: Request, db: Session, login: Login) -> Response:
    ads = dict(db.execute(select(Ad.platform_id, func.count()).group_by(Ad.platform_id)).all())
    last = dict(
        db.execute(
            select(Crawl.platform_id, func.max(Crawl.started_at)).group_by(Crawl.platform_id)
        ).all()
    )
    rows: list[dict[str, Any]] = [
        {
            "name": p.name,
            "country": p.country,
            "language": p.language,
            "ads": ads.get(p.id, 0),
            "last_crawl": utc(last.get(p.id)),
        }  # fmt: skip
        for p in db.scalars(select(Platform).order_by(Platform.name))
    ]
    audit.append(db, login.name, "platforms.view", "platforms", {})
    return render(request, "platforms.html", login, title="Platforms", rows=rows)


# -- networks and link decisions ----------------------------------------------


@page("networks.view")
def networks_page(request: Request, db: Session, login: Login) -> Response:
    strong = not request.query_params.get("all")
    found = networkdata.list_all(db, strong)
    audit.append(db, login.name, "networks.view", "networks", {"strong": strong})
    return render(request, "networks.html", login, title="Networks", networks=found,
                  strong=strong)  # fmt: skip


def _network(request: Request, db: Session, login: Login, network_id: int, status: int = 200,
             errors: list[str] | None = None, message: str = "") -> Response:  # fmt: skip
    view = networkdata.load(db, network_id)
    if view is None:
        return not_found(request, login, f"There is no network {network_id}.")
    return render(request, "network.html", login, status=status, title=f"Network {view.network.label}",
                  view=view, errors=errors or [], message=message,
                  panel=casepages.panel(db, login, "network", view.network.label))  # fmt: skip


@page("networks.view")
def network_page(request: Request, db: Session, login: Login) -> Response:
    network_id = request.path_params["network_id"]
    audit.append(db, login.name, "network.view", f"network:{network_id}", {})
    return _network(request, db, login, network_id)


@action("links.decide")
def link_decision(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    link = db.get(Link, request.path_params["link_id"])
    if link is None:
        return not_found(request, login, f"There is no link {request.path_params['link_id']}.")
    network_id = int(form["network"]) if form.get("network", "").isdigit() else 0
    if db.get(Network, network_id) is None:
        network_id = networkdata.holding(db, link.ad_a) or 0
    decision, note = form.get("decision", ""), form.get("note", "")
    try:
        row = record(db, link, decision, login.name, note)
    except DecisionError as exc:
        db.rollback()
        return _network(request, db, login, network_id, status=400, errors=[str(exc)])
    db.commit()
    audit.append(db, login.name, "link.decision", f"link:{row.ad_a}-{row.ad_b}:{row.kind}",
                 {"decision": decision, "note": row.note, "link_id": link.id})  # fmt: skip
    said = {"accept": "accepted", "reject": "rejected", "note": "annotated"}[decision]
    if not network_id:  # the link's adverts are in no network (any more)
        return render(request, "error.html", login, title="Decision recorded",
                      message=f"Link {row.ad_a}–{row.ad_b} {said}.")  # fmt: skip
    return _network(request, db, login, network_id,
                    message=f"Link {row.ad_a}–{row.ad_b} {said}.")  # fmt: skip
