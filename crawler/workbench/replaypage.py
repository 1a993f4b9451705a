"""The workbench's side of replay: an evidence officer asks, gets a signed link, it is audited.

Replay shows the archived page as captured, images unblurred, so asking for it
is an evidence-officer action like a reveal (``ads.replay``), taken by a POST
with the session's CSRF token. The answer is a page with a link to the replay
origin (:mod:`crawler.workbench.replay_origin`), valid for this user and this advert
until it expires; the link itself is never written into the audit trail,
which auditors read, only its nonce and expiry.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from crawler.evidence.replayarchive import advert_page
from crawler.store.models import Ad
from crawler.workbench import audit
from crawler.workbench.sessions import Login
from crawler.workbench.web import action, not_found, render


@action("ads.replay")
def ad_replay(request: Request, db: Session, login: Login, form: dict[str, str]) -> Response:
    ad_id = request.path_params["ad_id"]
    if db.get(Ad, ad_id) is None:
        return not_found(request, login, f"There is no advert {ad_id}.")
    config = getattr(request.app.state, "replay", None)
    page = advert_page(db, ad_id)
    problem = None
    if config is None:
        problem = "Replay is not served by this server (adarchive serve starts it)."
    elif page is None:
        problem = "This advert names no archived page to replay."
    else:
        problem = config.missing_build()
    if problem is not None:
        return render(request, "replay.html", login, status=503, title="Replay unavailable",
                      ad_id=ad_id, problem=problem, link=None)  # fmt: skip
    link, claims = config.issue(ad_id, login.name, time.time())
    audit.append(db, login.name, "replay.issue", f"ad:{ad_id}",
                 {"nonce": claims.nonce, "expires": claims.expires, "url": page.url})  # fmt: skip
    return render(
        request, "replay.html", login, title=f"Replay of advert {ad_id}", ad_id=ad_id,
        problem=None, link=link, page=page, minutes=config.ttl // 60 or 1,
        expires=datetime.fromtimestamp(claims.expires, UTC),
    )  # fmt: skip
