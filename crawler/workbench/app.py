"""The workbench as an ASGI application (Starlette), built over one store."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crawler.resources import resource_dir
from crawler.workbench import anchoring, caseexport, ops, pages, photopages, replaypage, totppages
from crawler.workbench.caseroutes import casepages_routes, upload_limits
from crawler.workbench.replay_origin import ReplayConfig
from crawler.workbench.security import SecurityMiddleware
from crawler.workbench.web import Workbench

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def create_app(
    factory: sessionmaker[Session],
    data_root: Path,
    *,
    secure_cookies: bool,
    replay: ReplayConfig | None = None,
    anchor: bool = True,
) -> Starlette:
    """The application; ``secure_cookies`` is on whenever the server is not on loopback.

    ``anchor``: the application writes its audit head into the custody chain at
    start, periodically and at stop (off in forked workers: their parent does it).
    """
    routes = [
        Route("/", pages.home),
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", pages.login_submit, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/search", pages.search_page),
        Route("/search/photo", photopages.photo_page, methods=["GET"]),
        Route("/search/photo", photopages.photo_upload, methods=["POST"]),
        Route("/ads/{ad_id:int}", pages.ad_page),
        Route("/ads/{ad_id:int}/reveal", pages.ad_reveal, methods=["POST"]),
        Route("/ads/{ad_id:int}/replay", replaypage.ad_replay, methods=["POST"]),
        Route("/images/{image_id:int}/blurred", pages.image_blurred),
        Route("/images/{image_id:int}/original", pages.image_original),
        Route("/networks", pages.networks_page),
        Route("/networks/{network_id:int}", pages.network_page),
        Route("/links/{link_id:int}/decision", pages.link_decision, methods=["POST"]),
        Route("/audit", pages.audit_page),
        Route("/users", pages.users_page, methods=["GET"]),
        Route("/users", pages.users_add, methods=["POST"]),
        Route("/platforms", pages.platforms_page),
        *casepages_routes(),
        *totppages.ROUTES,
        *ops.ROUTES,
        Mount("/static", StaticFiles(directory=str(resource_dir("crawler.workbench", "static")))),
    ]
    app = Starlette(routes=routes, lifespan=anchoring.lifespan)  # audit head into custody
    app.state.workbench = Workbench(factory, data_root, secure_cookies)
    app.state.anchor = anchor
    app.state.replay = replay  # the replay origin's links (None: replay not served)
    app.state.photo_search = photos = photopages.PhotoSearch.from_settings()
    limits = {**upload_limits(), "/search/photo": photos.body_limit}
    app.add_middleware(SecurityMiddleware, limits=limits)
    caseexport.fail_interrupted(factory)
    return app


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")
