"""``adarchive custody|export|verify|keys``: parse, call crawler.evidence, print.

``register(subparsers)`` adds the commands to the main parser; ``USER_ERROR_NAMES``
names the exceptions that mean "the user can fix this" (printed as one line,
exit status 2, by ``crawler.cli.main``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from crawler.configuration import setting
from crawler.evidence.evidence_errors import SelectionError, SigningKeyError
from crawler.printable import print_table

USER_ERROR_NAMES: tuple[str, ...] = (
    "crawler.evidence.evidence_errors.ExportError",
    "crawler.evidence.evidence_errors.SelectionError",
    "crawler.evidence.evidence_errors.SigningKeyError",
    "crawler.evidence.evidence_errors.BundleError",
)


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="store URL (default: $ADARCHIVE_DB, else the default store)")


def _factory(db: str | None) -> Any:
    from crawler.store.db import open_store, resolve_db_url

    return open_store(resolve_db_url(db), create=False)


# -- custody ------------------------------------------------------------------


def cmd_custody_verify(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from crawler.evidence.anchor import check_anchors
    from crawler.evidence.audithead import check_audit
    from crawler.evidence.custody import verify_store_chain
    from crawler.evidence.custody_files import check_warc_files
    from crawler.evidence.trust import load_tsa_roots
    from crawler.store.models import CustodyEvent, utc

    roots = list(args.tsa_root or [])
    if setting("ADARCHIVE_TRUSTED_TSAS"):
        roots.append(setting("ADARCHIVE_TRUSTED_TSAS"))
    root_fingerprints, root_pem = load_tsa_roots(roots)
    with _factory(args.db)() as session:
        result = verify_store_chain(session)
        audit = check_audit(session)  # the workbench's audit chain and its recorded heads
        files = check_warc_files(session, _data_root(args))
        events = {
            seq: (digest, utc(at))
            for seq, digest, at in session.execute(
                select(CustodyEvent.seq, CustodyEvent.hash, CustodyEvent.at)
            )
        }
    anchors = check_anchors(events, _data_root(args), frozenset(root_fingerprints), root_pem)
    print(result.describe())
    for line in audit.lines():
        print(line)
    if files.problems:
        print(f"WARC files: {len(files.problems)} problem(s) in {files.checked} checked on disk")
        for problem in files.problems:
            print(f"  {problem}")
    else:
        print(f"WARC files: {files.checked} closed files on disk match the store and the log")
    print(
        f"anchors: {anchors.anchors} chain heads anchored outside the store, "
        f"{anchors.tokens_valid} with a valid token under a trusted TSA root"
    )
    for line in anchors.lines:
        print(f"  {line}")
    for problem in anchors.problems:
        print(f"  FAIL {problem}")
    for gap in anchors.gaps:
        print(f"  GAP  {gap}")
    if not anchors.anchors:
        print("  GAP  no anchor at all: the chain proves only itself (set ADARCHIVE_TSA_URL)")
    unstamped = _unstamped_files(_data_root(args))
    if unstamped:
        print(f"WARC file time-stamps: {len(unstamped)} request(s) still to retry")
        for line in unstamped:
            print(f"  GAP  {line}")
    ok = result.ok and audit.ok and not files.problems and not anchors.problems
    return 0 if ok else 1


def _unstamped_files(data_root: Path) -> list[str]:
    """Closed WARC files lacking a configured TSA's token (retried at the next close)."""
    from crawler.evidence.anchor import tsa_urls
    from crawler.evidence.timestamp import missing_tokens

    return [
        f"{warc.name}: no token from {url} yet (TSA unreachable; retried at the next file close)"
        for warc, url, _ in missing_tokens(data_root / "warc", tsa_urls())
    ]


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
    print_table(("seq", "at (UTC)", "actor", "action", "subject", "hash"), rows)
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

    return Path(setting("ADARCHIVE_DATA_DIR")).resolve()


def cmd_export(args: argparse.Namespace) -> int:
    from crawler.evidence.selection import Selection, parse_since
    from crawler.evidence.wacz_export import ExportOptions, export_bundle, summary_lines

    identifiers: list[str] = []
    if args.identifier:  # the identifier syntax loads the extractor (phonenumbers): only then
        from crawler.extract.argument import parse_identifier

        # KIND:VALUE or a recognisable value, normalised as extraction does (with --region).
        identifiers = [str(parse_identifier(v, args.region)) for v in args.identifier]
    selection = Selection(
        ads=list(args.ad or []),
        identifiers=identifiers,
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
    for line in summary_lines(result):
        print(line)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from crawler.evidence.trust import normalise_fingerprint
    from crawler.evidence.verify import configured_anchors, print_report, verify_bundle

    fingerprint = normalise_fingerprint(args.fingerprint) if args.fingerprint else None
    if args.key:
        fingerprint = _key_fingerprint(Path(args.key))
    anchors = configured_anchors(
        fingerprint,
        args.trusted_signers,
        args.tsa_root or [],
        args.require_timestamp,
        time_bound_minutes=args.time_bound,
    )
    report = verify_bundle(Path(args.bundle), anchors=anchors)
    print_report(report, sys.stdout)
    if args.db or setting("ADARCHIVE_DB"):
        _log_verification(args.db, report)
    return report.exit_code


def _positive_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 minutes: {text!r}")
    return value


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


def _signers_file(args: argparse.Namespace) -> Path:
    path = args.file or setting("ADARCHIVE_TRUSTED_SIGNERS")
    if not path:
        raise SigningKeyError("say which trusted-signers file: --file or ADARCHIVE_TRUSTED_SIGNERS")
    return Path(path)


def cmd_keys_trust(args: argparse.Namespace) -> int:
    from crawler.evidence.trust import trust_key

    path = _signers_file(args)
    signer = trust_key(
        path, Path(args.public_key), args.name, args.unit or "", args.valid_from or "",
        args.valid_until or "",
    )  # fmt: skip
    print(f"trusted {signer.label()}  key {signer.fingerprint}")
    print(f"  valid {signer.valid_from or '-'} to {signer.valid_until or '-'}  (in {path})")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from crawler.evidence.trust import load_signers

    rows = [
        (s.name, s.unit, s.fingerprint, s.valid_from or "-", s.valid_until or "-")
        for s in load_signers(_signers_file(args))
    ]
    print_table(("name", "unit", "fingerprint", "valid from", "valid until"), rows)
    return 0


# -- parser -------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add ``custody``, ``export``, ``verify`` and ``keys`` to the main sub-parsers."""
    p = sub.add_parser("custody", help="the custody log (hash chain) in the store")
    csub = p.add_subparsers(dest="custody_command", required=True, metavar="SUBCOMMAND")
    c = csub.add_parser(
        "verify", help="recompute the chain, name the first broken link; hash the WARC files"
    )
    _db_option(c)
    c.add_argument("--data-dir", help="data root WARC paths are relative to (default: beside "
                   "a SQLite store)")  # fmt: skip
    c.add_argument("--tsa-root", metavar="PEM|SHA256", action="append",
                   help="trusted TSA root for the chain-head tokens (repeatable; also "
                   "$ADARCHIVE_TRUSTED_TSAS)")  # fmt: skip
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
    p.add_argument("--trusted-signers", metavar="FILE",
                   help="agency keys trusted to sign bundles (default: "
                   "$ADARCHIVE_TRUSTED_SIGNERS; manage with: adarchive keys trust)")  # fmt: skip
    p.add_argument("--tsa-root", metavar="PEM|SHA256", action="append",
                   help="trusted TSA root certificate (PEM file or SHA-256 fingerprint; "
                   "repeatable; also $ADARCHIVE_TRUSTED_TSAS)")  # fmt: skip
    p.add_argument("--require-timestamp", action="store_true",
                   help="fail when no token under a trusted TSA root dates the bundle's files")  # fmt: skip
    p.add_argument("--time-bound", metavar="MINUTES", type=_positive_minutes,
                   help="state whether every capture was time-stamped within MINUTES of it "
                   "(default: $ADARCHIVE_WARC_MAX_AGE_MINUTES)")  # fmt: skip
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
    k = ksub.add_parser("trust", help="add an agency public key to a trusted-signers file")
    k.add_argument("public_key", metavar="PUBLIC.pem")
    k.add_argument("--name", required=True, help="who holds the key (person or office)")
    k.add_argument("--unit", help="the holder's unit or agency")
    k.add_argument("--valid-from", metavar="DATE", help="first day the key may sign (UTC)")
    k.add_argument("--valid-until", metavar="DATE", help="last time the key may sign (UTC)")
    k.add_argument("--file", help="trusted-signers file (default: $ADARCHIVE_TRUSTED_SIGNERS)")
    k.set_defaults(func=cmd_keys_trust)
    k = ksub.add_parser("list", help="list a trusted-signers file")
    k.add_argument("--file", help="trusted-signers file (default: $ADARCHIVE_TRUSTED_SIGNERS)")
    k.set_defaults(func=cmd_keys_list)
