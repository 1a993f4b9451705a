"""Pages of the TOTP second factor: the code step of log-in, and one's own account page.

The code step is throttled exactly as passwords are (its failures count in
:mod:`crawler.workbench.throttle`), and each code is accepted once only.
"""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from crawler.store.models import WorkbenchUser
from crawler.workbench import audit, secondfactor
from crawler.workbench.sessions import Login, open_session
from crawler.workbench.throttle import is_throttled
from crawler.workbench.web import (
    LOGIN_COOKIE,
    action,
    client_address,
    page,
    render,
    set_session_cookie,
    workbench,
)

PENDING_COOKIE = "adarchive_pending"
CODE_FAILED = "login.code_failed"


def _code_form(request: Request, token: str, name: str, message: str = "",
               status: int = 200) -> Response:  # fmt: skip
    response = render(request, "login_code.html", None, status=status, title="Log-in code",
                      pending_token=token, name=name, message=message)  # fmt: skip
    response.set_cookie(PENDING_COOKIE, token, httponly=True, samesite="strict",
                        secure=workbench(request).secure_cookies, path="/login")  # fmt: skip
    return response


def ask_code(request: Request, db: Session, user: WorkbenchUser, address: str) -> Response:
    """The password was right and the account has a second factor: ask for its code."""
    token = secondfactor.start_pending(db, user, address)
    audit.append(db, f"address:{address}", "login.code_asked", f"user:{user.name}", {})
    return _code_form(request, token, user.name)


def _restart(request: Request, message: str, status: int) -> Response:
    """Back to the password form (with a fresh form token), the pending log-in forgotten."""
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", None, status=status, title="Log in",
                      login_token=token, message=message)  # fmt: skip
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                        secure=workbench(request).secure_cookies, path="/login")  # fmt: skip
    response.delete_cookie(PENDING_COOKIE, path="/login")
    return response


async def code_submit(request: Request) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return await run_in_threadpool(_code, request, fields)


def _code(request: Request, form: dict[str, str]) -> Response:
    token = request.cookies.get(PENDING_COOKIE, "")
    if not token or not secrets.compare_digest(token, form.get("pending_token", "")):
        return _restart(request, "The log-in form expired; please log in again.", 403)
    address = client_address(request)
    wb = workbench(request)
    with wb.factory() as db:
        user = secondfactor.pending_user(db, token)
        if user is None:
            return _restart(request, "The log-in took too long; please log in again.", 403)
        if is_throttled(db, user.name, address):
            secondfactor.finish_pending(db, token)
            audit.append(db, f"address:{address}", "login.throttled", f"user:{user.name}", {})
            return _restart(request, "Too many failed log-ins: wait 15 minutes and try again.",
                            429)  # fmt: skip
        if not secondfactor.accept_code(db, user.id, form.get("code", "")[:16]):
            audit.append(db, f"address:{address}", CODE_FAILED, f"user:{user.name}", {})
            return _code_form(request, token, user.name,
                              "Wrong or already used code; wait for the next one.", 401)  # fmt: skip
        if not secondfactor.finish_pending(db, token):
            return _restart(request, "The log-in took too long; please log in again.", 403)
        session_token, login = open_session(db, user, address)
        audit.append(db, login.name, "login", f"user:{login.name}",
                     {"address": address, "role": login.role, "second_factor": "totp"})  # fmt: skip
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, wb, session_token)
    response.delete_cookie(PENDING_COOKIE, path="/login")
    return response


# -- one's own account ----------------------------------------------------------


def _account(request: Request, db: Session, login: Login, status: int = 200,
             **context: object) -> Response:  # fmt: skip
    context.setdefault("errors", [])
    context.setdefault("message", "")
    return render(request, "account.html", login, status=status, title="Your account",
                  totp=secondfactor.status(db, login.user_id), enrolment=None,
                  **context)  # fmt: skip


@page(None)
def account_page(request: Request, db: Session, login: Login) -> Response:
    return _account(request, db, login)


@action(None)
def totp_enrol(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    if secondfactor.status(db, login.user_id) == "on":
        return _account(request, db, login, 400,
                        errors=["Two-step log-in is on: turn it off with a code first."])  # fmt: skip
    user = db.get(WorkbenchUser, login.user_id)
    assert user is not None
    enrolment = secondfactor.enrol(db, user)
    audit.append(db, login.name, "totp.enrol", f"user:{login.name}", {"by": login.name})
    # Shown once, on this response only (no-store): the secret is never shown again.
    return render(request, "account.html", login, title="Your account", totp="unconfirmed",
                  enrolment=enrolment, errors=[], message="")  # fmt: skip


@action(None)
def totp_confirm(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    if secondfactor.status(db, login.user_id) != "unconfirmed":
        return _account(request, db, login, 400, errors=["There is no set-up to confirm."])
    if not secondfactor.confirm(db, login.user_id, form.get("code", "")[:16]):
        audit.append(db, login.name, "totp.confirm_failed", f"user:{login.name}", {})
        return _account(request, db, login, 400,
                        errors=["That code is not right (or was used): enter the current one."])  # fmt: skip
    audit.append(db, login.name, "totp.on", f"user:{login.name}", {})
    return _account(request, db, login, message="Two-step log-in is on.")


@action(None)
def totp_remove(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    state = secondfactor.status(db, login.user_id)
    if state == "on" and not secondfactor.accept_code(db, login.user_id, form.get("code", "")[:16]):
        audit.append(db, login.name, "totp.remove_failed", f"user:{login.name}", {})
        return _account(request, db, login, 400,
                        errors=["That code is not right (or was used): enter the current one."])  # fmt: skip
    if state != "none":
        secondfactor.remove(db, login.user_id)
        audit.append(db, login.name, "totp.off", f"user:{login.name}", {"was": state})
    return _account(request, db, login, message="Two-step log-in is off.")


ROUTES = [
    Route("/login/code", code_submit, methods=["POST"]),
    Route("/account", account_page),
    Route("/account/totp/enrol", totp_enrol, methods=["POST"]),
    Route("/account/totp/confirm", totp_confirm, methods=["POST"]),
    Route("/account/totp/remove", totp_remove, methods=["POST"]),
]
