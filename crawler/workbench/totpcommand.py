"""``adarchive users totp NAME``: enrol an account's TOTP second factor, or remove it."""

from __future__ import annotations

import argparse


def cmd_users_totp(args: argparse.Namespace) -> int:
    # Imported here: registering the command (every `adarchive` start) must not load the store.
    from sqlalchemy import select

    from crawler.store.db import StoreError, open_store, resolve_db_url, sqlite_path
    from crawler.store.models import WorkbenchUser
    from crawler.workbench import audit, secondfactor
    from crawler.workbench.accounts import AccountError
    from crawler.workbench.totpseal import key_path

    url = resolve_db_url(args.db)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise StoreError(f"no store at {path} (run a crawl first, or pass --db URL)")
    with open_store(url, create=True)() as session:
        user = session.scalar(select(WorkbenchUser).where(WorkbenchUser.name == args.name))
        if user is None:
            raise AccountError(f"no user {args.name!r}")
        state = secondfactor.status(session, user.id)
        if args.remove:
            if state == "none":
                raise AccountError(f"user {user.name} has no second factor")
            secondfactor.remove(session, user.id)
            audit.append(session, "cli", "totp.off", f"user:{user.name}", {"was": state})
            print(f"user {user.name}: two-step log-in removed")
            return 0
        if state != "none" and not args.reset:
            raise AccountError(
                f"user {user.name} has a second factor already: --reset replaces it, "
                "--remove removes it"
            )
        enrolment = secondfactor.enrol(session, user, confirmed=True)
        key_file = key_path(session)
        audit.append(session, "cli", "totp.enrol", f"user:{user.name}",
                     {"by": "cli", "replaced": state != "none"})  # fmt: skip
    print(f"user {user.name}: two-step log-in on; log-in now asks for a code.")
    print("Add it to an authenticator app (shown this once, not stored anywhere else):")
    print(f"  secret: {enrolment.secret}")
    print(f"  {enrolment.uri}")
    print(f"It is sealed in the store with the key file {key_file} (keep it; mode 0600).")
    return 0


def register_totp(usub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    t = usub.add_parser("totp", help="turn on an account's TOTP second factor (prints it once)")
    t.add_argument("name")
    what = t.add_mutually_exclusive_group()
    what.add_argument("--reset", action="store_true", help="replace an existing second factor")
    what.add_argument("--remove", action="store_true", help="turn the second factor off")
    t.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")
    t.set_defaults(func=cmd_users_totp)
