"""``adarchive custody|export|verify|keys``: parse, call crawler.evidence, print.

``register(subparsers)`` adds the commands to the main parser; ``USER_ERRORS``
lists the exceptions that mean "the user can fix this" (printed as one line,
exit status 2, by ``crawler.cli.main``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from crawler.evidence.errors import BundleError, ExportError, SelectionError, SigningKeyError
from crawler.printable import printable

USER_ERRORS: tuple[type[BaseException], ...] = (
    ExportError,
    SelectionError,
    SigningKeyError,
    BundleError,
)


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")


def _factory(db: str | None) -> Any:
    from crawler.store.db import open_store, resolve_db_url

    return open_store(resolve_db_url(db), create=False)


# -- custody ------------------------------------------------------------------


def cmd_custody_verify(args: argparse.Namespace) -> int:
    from crawler.evidence.custody import verify_store_chain

    with _factory(args.db)() as session:
        result = verify_store_chain(session)
    print(result.describe())
    return 0 if result.ok else 1


def cmd_custody_show(args: argparse.Namespace) -> int:
    from sqlalchemy import or_, select

    from crawler.evidence.custody import event_record
    from crawler.evidence.events import crawl_subject, warc_subject
    from crawler.store.models import CustodyEvent, WarcFile

    with _factory(args.db)() as session:
        query = select(CustodyEvent).order_by(CustodyEvent.seq)
        if args.crawl is not None:
            paths = session.scalars(select(WarcFile.path).where(WarcFile.crawl_id == args.crawl))
            subjects = [crawl_subject(args.crawl), *(warc_subject(p) for p in paths)]
            query = query.where(or_(CustodyEvent.subject.in_(subjects)))
        events = session.scalars(query).all()
    if args.json:
        for event in events:
            print(json.dumps(event_record(event), ensure_ascii=False))
        return 0
    from crawler.evidence.custody import rfc3339

    rows = [(e.seq, rfc3339(e.at), e.actor, e.action, e.subject, e.hash[:16]) for e in events]
    _print_table(("seq", "at (UTC)", "actor", "action", "subject", "hash"), rows)
    return 0


# -- export / verify / keys ---------------------------------------------------


def _data_root(args: argparse.Namespace) -> Path:
    """Where stored WARC paths are relative to: --data-dir, else beside a SQLite store."""
    from crawler.store.db import resolve_db_url, sqlite_path

    if args.data_dir:
        return Path(args.data_dir).resolve()
    path = sqlite_path(resolve_db_url(args.db))
    if path is not None:
        return path.resolve().parent
    from crawler.configuration import setting

    return Path(setting("ADARCHIVE_DATA_DIR")).resolve()


def cmd_export(args: argparse.Namespace) -> int:
    from crawler.evidence.export import ExportOptions, export_bundle
    from crawler.evidence.selection import Selection, parse_since
    from crawler.extract.argument import parse_identifier

    selection = Selection(
        ads=list(args.ad or []),
        # KIND:VALUE or a recognisable value, normalised as extraction does (with --region).
        identifiers=[str(parse_identifier(v, args.region)) for v in args.identifier or []],
        platform=args.platform,
        crawl=args.crawl,
        since=parse_since(args.since) if args.since else None,
    )
    if selection.is_empty():
        raise SelectionError(
            "say what to export: --ad, --identifier, --platform, --crawl and/or --since"
        )
    options = ExportOptions(
        out=Path(args.out),
        data_root=_data_root(args),
        case_ref=args.case_ref,
        sign_key=Path(args.sign) if args.sign else None,
    )
    result = export_bundle(_factory(args.db), selection, options)
    print(f"wrote {result.path} ({result.size} bytes)")
    print(f"  sha256        {result.sha256}")
    print(f"  captures      {result.captures} ({result.records} WARC records incl. warcinfo)")
    print(f"  source files  {result.source_files}")
    print(f"  custody event #{result.export_event}")
    if result.signer_fingerprint:
        print(f"  signed by     {result.signer_fingerprint}")
    if result.skipped_open:
        print(f"  left out      {result.skipped_open} captures in WARC files still open")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from crawler.evidence.verify import print_report, verify_bundle

    fingerprint = args.fingerprint
    if args.key:
        fingerprint = _key_fingerprint(Path(args.key))
    report = verify_bundle(
        Path(args.bundle), fingerprint=fingerprint, tsa_root_fingerprint=args.tsa_root
    )
    print_report(report, sys.stdout)
    from crawler.configuration import setting

    if args.db or setting("ADARCHIVE_DB"):
        _log_verification(args.db, report)
    return 0 if report.ok else 1


def _key_fingerprint(path: Path) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from crawler.evidence.signing import fingerprint

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SigningKeyError(f"cannot read public key {path}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningKeyError(f"{path} is not an ECDSA public key")
    return fingerprint(key)


def _log_verification(db: str | None, report: Any) -> None:
    import hashlib

    from crawler.evidence.custody import record_event
    from crawler.evidence.events import VERIFY_RUN

    digest = hashlib.sha256()
    with open(report.bundle, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    with _factory(db)() as session:
        event = record_event(
            session,
            VERIFY_RUN,
            f"bundle:{digest.hexdigest()}",
            {
                "bundle": Path(report.bundle).name,
                "sha256": digest.hexdigest(),
                "ok": report.ok,
                "failures": report.failures()[:50],
            },
        )
    print(f"custody: verification recorded as event #{event.seq}")


def cmd_keys_generate(args: argparse.Namespace) -> int:
    from crawler.evidence.signing import generate_keys

    pair = generate_keys(Path(args.out))
    print(f"private key  {pair.private}  (mode 0600: keep it offline; never ship it)")
    print(f"public key   {pair.public}")
    print(f"fingerprint  {pair.fingerprint}  (publish this; courts compare it)")
    return 0


def cmd_keys_certificate(args: argparse.Namespace) -> int:
    from crawler.evidence.certificate import CERT_NAME, make_certificate

    key = Path(args.key)
    out = Path(args.out) if args.out else key.parent / CERT_NAME
    path = make_certificate(key, args.name, args.unit, args.days, out)
    print(f"certificate  {path}  (self-signed over {key}; signs PDF exhibits)")
    return 0


def _print_table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    cells = [list(header)] + [[printable(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


# -- parser -------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add ``custody``, ``export``, ``verify`` and ``keys`` to the main sub-parsers."""
    p = sub.add_parser("custody", help="the custody log (hash chain) in the store")
    csub = p.add_subparsers(dest="custody_command", required=True, metavar="SUBCOMMAND")
    c = csub.add_parser("verify", help="recompute the chain; name the first broken link")
    _db_option(c)
    c.set_defaults(func=cmd_custody_verify)
    c = csub.add_parser("show", help="list custody events")
    _db_option(c)
    c.add_argument("--crawl", type=int, help="only events about this crawl and its WARC files")
    c.add_argument("--json", action="store_true", help="JSON lines (with details)")
    c.set_defaults(func=cmd_custody_show)

    p = sub.add_parser("export", help="write a verifiable WACZ evidence bundle")
    _db_option(p)
    p.add_argument("--out", required=True, metavar="CASE.wacz", help="bundle to write")
    p.add_argument("--ad", action="extend", nargs="+", metavar="ID",
                   help="ad store id or PLATFORM:EXTERNAL_ID (repeatable)")  # fmt: skip
    p.add_argument(
        "--identifier",
        action="extend",
        nargs="+",
        metavar="VALUE",
        help="every ad carrying this identifier: KIND:VALUE or a value the "
        "extractor recognises (repeatable)",
    )
    p.add_argument("--region", help="default region (ISO country) for national phone numbers")  # fmt: skip
    p.add_argument("--platform", help="only captures of this platform")
    p.add_argument("--crawl", type=int, help="only captures of this crawl")
    p.add_argument("--since", metavar="DATE", help="only captures fetched on or after DATE (UTC)")
    p.add_argument("--case-ref", help="case reference shown in the bundle")
    p.add_argument("--sign", metavar="KEYFILE", help="sign with this P-384 private key (PEM)")
    p.add_argument("--data-dir", help="data root WARC paths are relative to (default: beside "
                   "a SQLite store)")  # fmt: skip
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("verify", help="check an evidence bundle end to end")
    p.add_argument("bundle", metavar="CASE.wacz")
    p.add_argument("--key", metavar="PUBLIC.pem", help="require a signature by this public key")
    p.add_argument("--fingerprint", help="require a signature by the key with this fingerprint")
    p.add_argument("--tsa-root", metavar="SHA256",
                   help="require time-stamp chains to end at this root certificate")  # fmt: skip
    p.add_argument("--db", help="record the verification in this store's custody log")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("keys", help="the agency's signing keys")
    ksub = p.add_subparsers(dest="keys_command", required=True, metavar="SUBCOMMAND")
    k = ksub.add_parser("generate", help="make an ECDSA P-384 key pair")
    k.add_argument("--out", required=True, metavar="DIR", help="directory for the key files")
    k.set_defaults(func=cmd_keys_generate)
    k = ksub.add_parser("certificate", help="wrap the key in a self-signed X.509 certificate")
    k.add_argument("--key", required=True, help="the private key (adarchive-signing-key.pem)")
    k.add_argument("--name", required=True, help="the signer's name, as a court should read it")
    k.add_argument("--unit", default="", help="the signer's unit or agency")
    k.add_argument("--days", type=int, default=3650, help="validity in days (default 3650)")
    k.add_argument(
        "--out", help="certificate file (default: adarchive-signing-cert.pem beside the key)"
    )
    k.set_defaults(func=cmd_keys_certificate)
