"""``adarchive serve`` and ``adarchive users …``: parse, call the workbench, print."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from pathlib import Path

from crawler.workbench.roles import ROLES
from crawler.workbench.totpcommand import register_totp

# Named, not imported: the store, argon2 and the web stack load only when a command runs.
USER_ERROR_NAMES: tuple[str, ...] = (
    "crawler.workbench.accounts.AccountError",
    "crawler.workbench.roles.UnknownRole",
    "crawler.workbench.replay_origin.ReplayConfigError",
)


def _factory(db: str | None, *, must_exist: bool):  # type: ignore[no-untyped-def]
    from crawler.store.db import StoreError, open_store, resolve_db_url, sqlite_path

    url = resolve_db_url(db)
    path = sqlite_path(url)
    if must_exist and path is not None and not path.exists():
        raise StoreError(f"no store at {path} (run a crawl first, or pass --db URL)")
    return url, open_store(url, create=True)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from crawler.configuration import ConfigError, setting
    from crawler.store.db import sqlite_path
    from crawler.workbench.accounts import list_users
    from crawler.workbench.anchoring import anchor_audit
    from crawler.workbench.app import create_app, is_loopback
    from crawler.workbench.prefork import serve_all, serve_forked
    from crawler.workbench.replay_origin import ReplayConfig, ReplayConfigError, create_replay_app
    from crawler.workbench.totpseal import key_path, seal_clear_secrets

    workers = (
        args.workers if args.workers is not None else int(setting("ADARCHIVE_WORKBENCH_WORKERS"))
    )
    if workers < 1:
        raise ConfigError(f"ADARCHIVE_WORKBENCH_WORKERS / --workers: 1 or more, not {workers}")
    url, factory = _factory(args.db, must_exist=True)
    path = sqlite_path(url)
    data_root = Path(args.data) if args.data else (path.parent if path else Path("adarchive-data"))
    secure = not is_loopback(args.host)
    replay = ReplayConfig.from_settings(args.replay_host, args.replay_port)
    if replay.host == args.host:
        raise ReplayConfigError(
            f"the replay origin must listen on another host than the workbench ({args.host}): "
            "ports alone share cookies (--replay-host, ADARCHIVE_WORKBENCH_REPLAY_HOST)"
        )
    app = create_app(factory, data_root.resolve(), secure_cookies=secure, replay=replay,
                     anchor=workers == 1)  # forked: the parent anchors, once  # fmt: skip
    replay_app = create_replay_app(factory, data_root.resolve(), replay)
    with factory() as session:
        indexed = app.state.workbench.refresher.prime(session)
        users = len(list_users(session))
        sealed = seal_clear_secrets(session)
    print(f"workbench: store {url}, {indexed} adverts indexed, {users} users", flush=True)
    if sealed:
        print(f"workbench: {sealed} two-step log-in secrets stored in clear by an earlier "
              f"version now sealed with {key_path(session)}", flush=True)  # fmt: skip
    if not users:
        print("workbench: no users yet: adarchive users add NAME --role admin", flush=True)
    if not secure:
        print("workbench: loopback only; behind HTTPS elsewhere (docs/workbench.md)", flush=True)
    print(f"workbench: replay origin {replay.public_url}/ (listening on "
          f"{replay.host}:{replay.port})", flush=True)  # fmt: skip
    if missing := replay.missing_build():
        print(f"workbench: replay unavailable: {missing}", flush=True)
    if not replay.public_url.startswith("https://") and not is_loopback(replay.host):
        print("workbench: the replay origin needs HTTPS off loopback (docs/workbench.md)",
              flush=True)  # fmt: skip
    configs = [
        uvicorn.Config(a, host=h, port=p, log_level=args.log_level, access_log=False)
        for a, h, p in ((app, args.host, args.port), (replay_app, replay.host, replay.port))
    ]
    if workers == 1:
        print(f"workbench: http://{args.host}:{args.port}/", flush=True)
        asyncio.run(serve_all([(uvicorn.Server(config), None) for config in configs]))
        return 0
    print(f"workbench: http://{args.host}:{args.port}/ ({workers} worker processes)", flush=True)
    wb = app.state.workbench
    engine = factory.kw["bind"]
    engine.dispose()  # no pooled connection is shared across the fork

    def anchor(reason: str) -> None:
        try:
            anchor_audit(wb, reason)
        except Exception:  # anchoring must never take the workbench down
            logging.getLogger(__name__).exception("could not anchor the audit head (%s)", reason)
        engine.dispose()  # nor one the parent made since

    return serve_forked(
        configs,
        workers,
        after_fork=lambda: engine.dispose(close=False),
        anchor=anchor,
        interval=float(setting("ADARCHIVE_WORKBENCH_AUDIT_ANCHOR_INTERVAL")),
    )


def _read_password(args: argparse.Namespace) -> str:
    from crawler.workbench.accounts import AccountError

    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise AccountError("no terminal to ask for a password: use --password-stdin")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def cmd_users_add(args: argparse.Namespace) -> int:
    from crawler.workbench import audit
    from crawler.workbench.accounts import AccountError, add_user

    if args.role not in ROLES:
        raise AccountError(f"unknown role {args.role!r} (one of {', '.join(ROLES)})")
    password = _read_password(args)
    _, factory = _factory(args.db, must_exist=False)
    with factory() as session:
        user = add_user(session, args.name, args.role, password)
        audit.append(session, "cli", "user.add", f"user:{user.name}", {"role": user.role})
    print(f"user {user.name} added ({user.role})")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from crawler.workbench.accounts import list_users

    _, factory = _factory(args.db, must_exist=True)
    with factory() as session:
        for user in list_users(session):
            print(f"{user.name}\t{user.role}\t{'active' if user.active else 'inactive'}")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    """Disable an account and end its sessions at once (the server checks on every request)."""
    from sqlalchemy import select

    from crawler.store.models import WorkbenchUser
    from crawler.workbench import audit
    from crawler.workbench.accounts import AccountError
    from crawler.workbench.sessions import revoke_user

    _, factory = _factory(args.db, must_exist=True)
    with factory() as session:
        user = session.scalar(select(WorkbenchUser).where(WorkbenchUser.name == args.name))
        if user is None:
            raise AccountError(f"no user {args.name!r}")
        user.active = False
        session.commit()
        ended = revoke_user(session, user.id)
        audit.append(session, "cli", "user.disable", f"user:{user.name}", {"sessions": ended})
    print(f"user {args.name} disabled, {ended} session(s) ended")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="serve the investigator workbench over the store")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")
    p.add_argument(
        "--data", metavar="DIR", help="data root of the WARC files (default: the store's folder)"
    )
    p.add_argument("--log-level", default="warning", help="server log level (default warning)")
    p.add_argument("--replay-host", help="address of the replay origin's listener "
                   "(default: ADARCHIVE_WORKBENCH_REPLAY_HOST, 127.0.0.2)")  # fmt: skip
    p.add_argument("--replay-port", type=int, help="its port "
                   "(default: ADARCHIVE_WORKBENCH_REPLAY_PORT, 8001)")  # fmt: skip
    p.add_argument("--workers", type=int, metavar="N", help="server processes sharing the port "
                   "(default: ADARCHIVE_WORKBENCH_WORKERS)")  # fmt: skip
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("users", help="workbench accounts")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="SUBCOMMAND")
    a = usub.add_parser("add", help="add an account (the first admin is made here)")
    a.add_argument("name")
    a.add_argument("--role", required=True, help=f"one of {', '.join(ROLES)}")
    a.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    a.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")
    a.set_defaults(func=cmd_users_add)
    d = usub.add_parser("disable", help="disable an account and end its sessions now")
    d.add_argument("name")
    d.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")
    d.set_defaults(func=cmd_users_disable)
    lst = usub.add_parser("list", help="list accounts")
    lst.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")
    lst.set_defaults(func=cmd_users_list)
    register_totp(usub)  # adarchive users totp NAME (crawler/workbench/totpcommand.py)
