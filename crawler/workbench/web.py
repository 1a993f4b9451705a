"""Request plumbing shared by the pages: who is asking, may they, is the form genuine.

Every page is declared with the permission it needs (:func:`page`) and every
state-changing form with its permission too (:func:`action`); the wrapper
loads the server-side session, answers 403 (and audits nothing else) when the
role lacks the permission, and for POST checks the session's CSRF token
before the handler runs. There is no route that skips these checks.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from crawler.workbench import audit
from crawler.workbench.roles import PERMISSIONS, allowed
from crawler.workbench.search import platforms
from crawler.workbench.searchindex import Refresher
from crawler.workbench.sessions import Login, find_session

SESSION_COOKIE = "adarchive_session"
LOGIN_COOKIE = "adarchive_login"

TEMPLATES = Environment(
    loader=PackageLoader("crawler.workbench", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # templates are package files: no stat() of each one per request
)
PLATFORMS_TTL = 30.0
"""Seconds a process keeps the platform names of the search form (a platform appears
with its first crawl: at worst a new one is offered half a minute late)."""


@dataclass
class Workbench:
    """What every request needs: the store, the data root, cookie policy."""

    factory: sessionmaker[Session]
    data_root: Path
    secure_cookies: bool
    refresher: Refresher = field(default_factory=Refresher)
    """Keeps this store's search index fresh (one per application, so one per store)."""
    _platforms: tuple[float, list[str]] = field(default=(float("-inf"), []), init=False, repr=False)

    def platform_names(self, db: Session) -> list[str]:
        """The platforms' names, read from the store at most every :data:`PLATFORMS_TTL` s."""
        read_at, names = self._platforms
        now = time.monotonic()
        if now - read_at >= PLATFORMS_TTL:
            names = platforms(db)
            self._platforms = (now, names)
        return names


def workbench(request: Request) -> Workbench:
    wb: Workbench = request.app.state.workbench
    return wb


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def render(
    request: Request, template: str, login: Login | None, status: int = 200, **context: Any
) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(
        login=login,
        can=(lambda perm: login is not None and allowed(login.role, perm)),
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def forbidden(request: Request, login: Login, permission: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        login,
        status=403,
        title="Not allowed",
        message=f"Your role ({login.role}) may not do this ({permission}).",
    )


def not_found(request: Request, login: Login | None, what: str) -> HTMLResponse:
    return render(request, "error.html", login, status=404, title="Not found", message=what)


Handler = Callable[[Request, Session, Login], Response]


def _current(request: Request, db: Session) -> Login | None:
    return find_session(db, request.cookies.get(SESSION_COOKIE))


def page(permission: str | None) -> Callable[[Handler], Callable[[Request], Response]]:
    """A GET page for logged-in users holding ``permission`` (None: any logged-in user)."""
    if permission is not None and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def wrap(handler: Handler) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            with workbench(request).factory() as db:
                login = _current(request, db)
                if login is None:
                    return RedirectResponse("/login", status_code=303)
                if permission is not None and not allowed(login.role, permission):
                    return forbidden(request, login, permission)
                return handler(request, db, login)

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def action(permission: str | None):  # type: ignore[no-untyped-def]
    """A POST form handler: login, permission and the session's CSRF token checked first."""
    if permission is not None and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def wrap(handler):  # type: ignore[no-untyped-def]
        async def endpoint(request: Request) -> Response:
            form = await _form(request)
            return await run_in_threadpool(_checked, request, form, handler, permission)

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


def _checked(
    request: Request, form: dict[str, str], handler: Any, permission: str | None
) -> Response:
    with workbench(request).factory() as db:
        login = _current(request, db)
        if login is None:
            return RedirectResponse("/login", status_code=303)
        if not secrets.compare_digest(form.get("csrf_token", ""), login.csrf_token):
            audit.append(db, login.name, "csrf.refused", request.url.path, {})
            return render(request, "error.html", login, status=403, title="Not allowed",
                          message="The form was not genuine (CSRF token missing or wrong).")  # fmt: skip
        if permission is not None and not allowed(login.role, permission):
            return forbidden(request, login, permission)
        return handler(request, db, login, form)


def set_session_cookie(response: Response, wb: Workbench, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=wb.secure_cookies, path="/"
    )
