"""``adarchive verify BUNDLE.wacz``: every check a court expert would make, in one pass.

Each ZIP entry is read once: its SHA-256 is computed while, for WARC
entries, every record is decompressed and its block and payload digests
recomputed. Then the parts are cross-checked: datapackage and its digest,
signature, captures.csv against the records, the CDXJ index, the custody
chain and the RFC 3161 manifests. Every failure names the file, record,
row or event.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
import zipfile
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from crawler.evidence import events as ev
from crawler.evidence.chain import verify_chain
from crawler.evidence.evidence_errors import BundleError, SigningKeyError
from crawler.evidence.layout import (
    CAPTURES_PATH,
    CSV_FIELDS,
    CUSTODY_PATH,
    DATAPACKAGE,
    DIGEST,
    INDEX_PATH,
    SIGNATURE_STAMP,
)
from crawler.evidence.timestamp import CHAIN_SUFFIX, MANIFEST_SUFFIX, TOKEN_SUFFIX, verify_response
from crawler.evidence.trust import TrustedSigner, parse_time
from crawler.evidence.warcscan import (
    CHUNK,
    ScannedRecord,
    WarcFormatError,
    Window,
    member_starts,
    scan_warc,
)

MAX_REPORTED = 20
EXIT_SIGNER_UNVERIFIED = 3
WORKERS = 4
SMALL_FILE = 64 << 20  # evidence files read whole into memory must stay below this
PROCESS_POOL_BYTES = 32 << 20  # WARC bytes from which a process per core pays for itself
RANGE_BYTES = 16 << 20  # a WARC entry is scanned in ranges of about this size, in parallel


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    problems: list[str] = field(default_factory=list)
    warning: bool = False
    """Passed nothing false, but something a reader must know was not established."""
    notes: list[str] = field(default_factory=list)
    """Lines printed under the check whatever its outcome (e.g. each file's time gap)."""


@dataclass
class Report:
    bundle: Path
    checks: list[Check]
    signer: str = ""
    """Who signed, by a trust anchor (pinned key or trusted-signers file); '' if nobody."""

    @property
    def ok(self) -> bool:
        """Integrity: no check failed (the signer may still be unverified)."""
        return all(c.ok for c in self.checks)

    @property
    def signer_verified(self) -> bool:
        return bool(self.signer)

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.ok and c.warning]

    @property
    def exit_code(self) -> int:
        """0 all passed, 1 a check failed, 3 integrity OK but the signer not anchored."""
        if not self.ok:
            return 1
        return 0 if self.signer_verified else EXIT_SIGNER_UNVERIFIED

    def failures(self) -> list[str]:
        out = []
        for check in self.checks:
            if not check.ok:
                out += [f"{check.name}: {p}" for p in check.problems] or [
                    f"{check.name}: {check.detail}"
                ]
        return out


def _check(name: str, problems: list[str], ok_detail: str) -> Check:
    if problems:
        shown = problems[:MAX_REPORTED]
        more = f" (+{len(problems) - MAX_REPORTED} more)" if len(problems) > MAX_REPORTED else ""
        return Check(name, False, shown[0] + more, problems)
    return Check(name, True, ok_detail)


@dataclass
class _Scan:
    """What one pass over the ZIP learned."""

    hashes: dict[str, tuple[str, int]] = field(default_factory=dict)
    records: dict[str, dict[int, ScannedRecord]] = field(default_factory=dict)
    small: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    record_problems: list[str] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)
    """Entries that could not be read (CRC, truncation): nothing in them was checked."""
    too_large: dict[str, int] = field(default_factory=dict)
    """Evidence files beyond SMALL_FILE: hashed, but their content not checked."""

    def absent(self, name: str) -> str:
        """Why ``name``'s content is not available: missing, unreadable or too large."""
        if name in self.unreadable:
            return f"{name}: could not be read from the ZIP, so it was not checked"
        if name in self.too_large:
            return (
                f"{name}: {self.too_large[name]} bytes, beyond the {SMALL_FILE >> 20} MiB "
                "this check reads: not checked"
            )
        return f"{name}: missing"


@dataclass(frozen=True)
class Anchors:
    """What the examiner trusts: a pinned signer key, trusted signers, TSA roots."""

    fingerprint: str | None = None
    signers: tuple[TrustedSigner, ...] = ()
    tsa_roots: frozenset[str] = frozenset()
    tsa_roots_pem: bytes = b""
    require_timestamp: bool = False
    time_bound_minutes: float | None = None
    """The bound to state (``--time-bound``); None: ADARCHIVE_WARC_MAX_AGE_MINUTES."""


def configured_anchors(
    fingerprint: str | None = None,
    trusted_signers: str | None = None,
    tsa_roots: Iterable[str] = (),
    require_timestamp: bool = False,
    *,
    time_bound_minutes: float | None = None,
) -> Anchors:
    """The anchors ``adarchive verify`` checks against: those given, plus the configured
    trusted signers (ADARCHIVE_TRUSTED_SIGNERS) and TSA roots (ADARCHIVE_TRUSTED_TSAS).
    The workbench's upload-verify uses the same, so both print the same lines."""
    from crawler.configuration import setting
    from crawler.evidence.trust import load_signers, load_tsa_roots

    signers_file = trusted_signers or setting("ADARCHIVE_TRUSTED_SIGNERS")
    signers = tuple(load_signers(Path(signers_file))) if signers_file else ()
    roots = list(tsa_roots)
    if setting("ADARCHIVE_TRUSTED_TSAS"):
        roots.append(setting("ADARCHIVE_TRUSTED_TSAS"))
    root_fingerprints, root_pem = load_tsa_roots(roots)
    return Anchors(
        fingerprint=fingerprint,
        signers=signers,
        tsa_roots=frozenset(root_fingerprints),
        tsa_roots_pem=root_pem,
        require_timestamp=require_timestamp,
        time_bound_minutes=time_bound_minutes,
    )


def verify_bundle(
    path: Path,
    *,
    fingerprint: str | None = None,
    tsa_root_fingerprint: str | None = None,
    anchors: Anchors | None = None,
) -> Report:
    """Check everything against ``anchors`` (``fingerprint``/``tsa_root_fingerprint``: shortcuts)."""
    if anchors is None:
        anchors = Anchors(
            fingerprint=fingerprint,
            tsa_roots=frozenset([tsa_root_fingerprint.lower().replace(":", "")])
            if tsa_root_fingerprint
            else frozenset(),
        )
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"cannot open {path} as a WACZ (ZIP) file: {exc}") from None
    with zf:
        scan = _scan_entries(path, zf)
    checks: list[Check] = []
    package = _json(scan, DATAPACKAGE)
    checks.append(_check_files(scan, package))
    checks.append(_check_records(scan))
    digest = _json(scan, DIGEST)
    checks.append(_check_digest(scan, digest))
    custody = _custody_lines(scan)
    export_event = custody[-1] if custody and isinstance(custody[-1], dict) else {}
    signed_at, stamp_note, stamp_lines = _signature_time(digest, anchors)
    signature, signer = _check_signature(digest, package, export_event, anchors, signed_at)
    if stamp_note and signature.ok:
        signature.detail += f"; {stamp_note}"
    signature.notes += stamp_lines
    checks.append(signature)
    rows = _csv_rows(scan)
    checks.append(_check_captures(scan, rows))
    checks.append(_check_index(scan))
    checks.append(_check_custody(scan, custody, rows))
    stamps, stamped_at = _check_timestamps(scan, rows, custody, anchors)
    checks.append(stamps)
    if stamped_at:  # without trusted time the time-stamps line already warns
        checks.append(_check_time_bound(rows, stamped_at, anchors))
    checks.append(_check_anchors(scan, custody, anchors))
    return Report(path, checks, signer=signer if signature.ok else "")


@dataclass
class _Entry:
    name: str
    digest: str = ""
    size: int = 0
    records: dict[int, ScannedRecord] | None = None
    record_problems: list[str] = field(default_factory=list)
    data: bytes | None = None
    problem: str = ""


def _scan_entries(path: Path, zf: zipfile.ZipFile) -> _Scan:
    """Read every entry once; WARC entries in parallel (zlib and hashlib release the GIL)."""
    scan = _Scan()
    names = [i.filename for i in zf.infolist()]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        scan.problems.append(f"{dup}: appears twice in the ZIP")
    infos = []
    for info in zf.infolist():
        if info.is_dir():
            continue
        if info.filename.startswith("/") or ".." in PurePosixPath(info.filename).parts:
            scan.problems.append(f"{info.filename}: unsafe path in ZIP")
            continue
        infos.append(info)
    for entry in _scan_all(path, infos):
        if entry.problem:
            scan.problems.append(entry.problem)
            scan.unreadable.add(entry.name)
            continue
        if entry.data is None and not entry.name.startswith("archive/"):
            scan.too_large[entry.name] = entry.size
        scan.hashes[entry.name] = (entry.digest, entry.size)
        if entry.records is not None:
            scan.records[entry.name] = entry.records
            scan.record_problems += entry.record_problems
        if entry.data is not None:
            scan.small[entry.name] = entry.data
    return scan


def _is_warc(name: str) -> bool:
    return name.startswith("archive/") and name.endswith((".warc.gz", ".warc"))


def _scan_all(path: Path, infos: list[zipfile.ZipInfo]) -> list[_Entry]:
    """Every entry scanned, in ``infos`` order.

    Large bundles use a pool of processes, one per core: inflating and
    hashing release the GIL, but parsing each record's head does not. The
    work is split by record, not by file (three files on two cores left one
    core idle for a third of the time): each stored WARC entry is cut into
    ranges of about ``RANGE_BYTES`` at gzip member starts and the ranges are
    scanned in parallel, while a thread of this process reads each entry once
    through the ZIP for its SHA-256 (one sequential pass: a file digest cannot
    be assembled from parts). An entry whose ranges do not each scan as whole
    members, end to end, is scanned again in one pass, so its problems read
    exactly as a sequential scan reports them. Small bundles (tests, single
    cases) stay in threads: starting processes would cost more than it saves.
    """
    cores = os.cpu_count() or 1
    warcs = [i for i in infos if _is_warc(i.filename)]
    big = sum(i.file_size for i in warcs) >= PROCESS_POOL_BYTES and cores > 1
    context = _fork_context() if big else None
    if context is None:
        with ThreadPoolExecutor(max_workers=max(1, min(WORKERS, cores))) as threads:
            return list(threads.map(lambda i: _scan_entry(path, i), infos))
    split = {id(i): _ranges(path, i) for i in sorted(warcs, key=lambda i: -i.file_size)}
    whole = [i for i in warcs if split[id(i)] is None]
    with ExitStack() as stack:
        procs = stack.enter_context(ProcessPoolExecutor(max_workers=cores, mp_context=context))
        parts: dict[int, list[Future[list[ScannedRecord] | str]]] = {}
        for key, ranges in split.items():
            if ranges is not None:
                parts[key] = [procs.submit(_scan_range, path, *r) for r in ranges]
        remote = {id(i): procs.submit(_scan_entry, path, i) for i in whole}
        threads = stack.enter_context(ThreadPoolExecutor(max_workers=max(1, min(WORKERS, cores))))
        local = [i for i in infos if id(i) not in remote]
        results: dict[int, _Entry] = {}
        for info, entry in zip(
            local,
            threads.map(lambda i: _scan_entry(path, i, records=id(i) not in parts), local),
            strict=True,
        ):
            results[id(info)] = entry
        for key, future in remote.items():
            results[key] = future.result()
        for info in warcs:
            if id(info) in parts and not results[id(info)].problem:
                scanned = [f.result() for f in parts[id(info)]]
                if any(isinstance(s, str) for s in scanned):  # not whole members end to end
                    results[id(info)] = _scan_entry(path, info)
                    continue
                entry = results[id(info)]
                entry.records = {}
                for records in scanned:
                    _add_records(info.filename, records, entry.records, entry.record_problems)
    return [results[id(i)] for i in infos]


def _ranges(path: Path, info: zipfile.ZipInfo) -> list[tuple[int, int, int]] | None:
    """(entry data offset in the ZIP, start, end) ranges of a stored WARC entry; None: one pass.

    Compressed or encrypted entries, or an unreadable local header, are not
    split: ``_scan_entry`` reads them through the ZIP and reports what is wrong.
    """
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 1:
        return None
    try:
        with path.open("rb") as fh:
            fh.seek(info.header_offset)
            head = fh.read(30)
            if len(head) < 30 or head[:4] != b"PK\x03\x04":
                return None
            data = info.header_offset + 30 + int.from_bytes(head[26:28], "little")
            data += int.from_bytes(head[28:30], "little")
            size = info.compress_size
            bounds = [0, *member_starts(fh, data, size, RANGE_BYTES), size]
    except OSError:
        return None
    return [(data, a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def _scan_range(path: Path, data: int, start: int, end: int) -> list[ScannedRecord] | str:
    """The records of bytes ``start``..``end`` of a stored entry; a string if they are not whole members."""
    try:
        with path.open("rb") as fh:
            fh.seek(data + start)
            return list(scan_warc(Window(fh, end - start), start=start))  # type: ignore[arg-type]
    except (WarcFormatError, OSError) as exc:
        return str(exc)


def _fork_context() -> Any:
    """Fork (cheap, nothing to re-import) where the platform has it; else no processes."""
    try:
        return multiprocessing.get_context("fork")
    except ValueError:
        return None


def _scan_entry(path: Path, info: zipfile.ZipInfo, *, records: bool = True) -> _Entry:
    """One pass through the ZIP: the entry's SHA-256 and size, its records unless ``records`` is off."""
    name = info.filename
    entry = _Entry(name)
    digest = hashlib.sha256()
    keep = not name.startswith("archive/") and info.file_size <= SMALL_FILE
    buffer = bytearray()

    def feed(data: bytes) -> None:
        digest.update(data)
        entry.size += len(data)
        if keep:
            buffer.extend(data)

    try:
        with zipfile.ZipFile(path) as zf, zf.open(info) as fh:
            if _is_warc(name) and records:
                entry.records = _scan_records(name, fh, feed, entry.record_problems)
            else:
                while chunk := fh.read(CHUNK):
                    feed(chunk)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        entry.problem = f"{name}: cannot be read from the ZIP ({exc}): altered or damaged"
        return entry
    entry.digest = digest.hexdigest()
    if keep:
        entry.data = bytes(buffer)
    return entry


def _scan_records(name: str, fh: Any, feed: Any, problems: list[str]) -> dict[int, ScannedRecord]:
    records: dict[int, ScannedRecord] = {}
    try:
        for rec in scan_warc(fh, on_raw=feed):
            _add_records(name, [rec], records, problems)
    except WarcFormatError as exc:
        problems.append(f"{name}: {exc}")
        while chunk := fh.read(CHUNK):  # still hash the rest of the file
            feed(chunk)
    return records


def _add_records(
    name: str,
    scanned: Iterable[ScannedRecord],
    records: dict[int, ScannedRecord],
    problems: list[str],
) -> None:
    for rec in scanned:
        records[rec.offset] = rec
        for problem in rec.problems:
            problems.append(f"{name} offset {rec.offset} record {rec.record_id}: {problem}")


def _check_records(scan: _Scan) -> Check:
    """Records of every WARC entry; an unreadable entry is named, never counted as checked."""
    problems = list(scan.record_problems)
    for name in sorted(n for n in scan.unreadable if n.startswith("archive/")):
        problems.append(f"{name}: could not be read from the ZIP; its records were not checked")
    return _check(
        "WARC records",
        problems,
        f"{sum(len(r) for r in scan.records.values())} records in "
        f"{len(scan.records)} files, block and payload SHA-256 recomputed",
    )


def _json(scan: _Scan, name: str) -> dict[str, Any]:
    data = scan.small.get(name)
    if data is None:
        return {}
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {"__invalid__": True}
    return value if isinstance(value, dict) else {"__invalid__": True}


def _check_files(scan: _Scan, package: dict[str, Any]) -> Check:
    problems = list(scan.problems)
    if not package or package.get("__invalid__"):
        problems.append(f"{DATAPACKAGE}: missing or not valid JSON")
        return _check("files", problems, "")
    listed: dict[str, dict[str, Any]] = {}
    for res in package.get("resources", []):
        listed[str(res.get("path"))] = res
    for name, (hexdigest, size) in scan.hashes.items():
        if name in (DATAPACKAGE, DIGEST):
            continue
        res = listed.get(name)
        if res is None:
            problems.append(f"{name}: in the ZIP but not listed in {DATAPACKAGE}")
        elif res.get("hash") != f"sha256:{hexdigest}":
            problems.append(f"{name}: SHA-256 {hexdigest} differs from {DATAPACKAGE}")
        elif res.get("bytes") != size:
            problems.append(f"{name}: {size} bytes, {DATAPACKAGE} says {res.get('bytes')}")
    for name in listed:
        if name not in scan.hashes and not any(name in p for p in scan.problems):
            problems.append(f"{name}: listed in {DATAPACKAGE} but missing from the ZIP")
    if package.get("wacz_version") != "1.1.1":
        problems.append(f"{DATAPACKAGE}: wacz_version is {package.get('wacz_version')!r}")
    return _check("files", problems, f"{len(listed)} files match {DATAPACKAGE} (SHA-256, size)")


def _check_digest(scan: _Scan, digest: dict[str, Any]) -> Check:
    actual = scan.hashes.get(DATAPACKAGE)
    if not digest or digest.get("__invalid__"):
        return _check("datapackage digest", [f"{DIGEST}: missing or not valid JSON"], "")
    if actual is None:
        return _check("datapackage digest", [f"{DATAPACKAGE}: missing"], "")
    if digest.get("hash") != f"sha256:{actual[0]}":
        return _check(
            "datapackage digest",
            [f"{DATAPACKAGE}: SHA-256 {actual[0]} differs from {DIGEST} ({digest.get('hash')})"],
            "",
        )
    return _check("datapackage digest", [], f"{DATAPACKAGE} sha256:{actual[0]}")


def _check_signature(
    digest: dict[str, Any],
    package: dict[str, Any],
    export_event: dict[str, Any],
    anchors: Anchors,
    signed_at: Any = None,
) -> tuple[Check, str]:
    """(the check, the anchored signer's name or '')."""
    pinned = anchors.fingerprint.lower().replace(":", "") if anchors.fingerprint else None
    signed = digest.get("signedData") if digest else None
    recorded = (export_event.get("details") or {}).get("signer_fingerprint")
    if not signed:
        return _unsigned(pinned, anchors, recorded, export_event), ""
    problems, actual = _signed_data_problems(signed, digest, package, recorded, export_event)
    if pinned:
        signer = f"the pinned key {actual}"
        if actual != pinned:
            problems.append(f"{DIGEST}: signed by key {actual}, not the required {pinned}")
    elif anchors.signers:
        signer, problem = _trusted_signer(actual, anchors, package, signed_at)
        problems.extend(problem)
    else:
        signer = ""
    if problems:
        return _check("signature", problems, ""), ""
    if not signer:
        return Check(
            "signature",
            True,
            f"ECDSA P-384 signature valid, but key {actual} is not anchored "
            "(no --key, --fingerprint or trusted-signers file): signer NOT verified",
            [],
            True,
        ), ""
    return _check("signature", [], f"ECDSA P-384 over the datapackage hash by {signer}"), signer


def _unsigned(
    pinned: str | None, anchors: Anchors, recorded: Any, export_event: dict[str, Any]
) -> Check:
    """An unsigned bundle: a warning, or a failure when a signature was required or recorded."""
    problems = []
    if pinned or anchors.signers:
        problems.append(f"{DIGEST}: unsigned, but a trusted signer's signature was required")
    if recorded:
        problems.append(
            f"{DIGEST}: unsigned, but custody event {export_event.get('seq')} "
            f"records a signature by {recorded}"
        )
    if problems:
        return _check("signature", problems, "")
    return Check("signature", True, "bundle is not signed: signer NOT verified", [], True)


def _signed_data_problems(
    signed: dict[str, Any],
    digest: dict[str, Any],
    package: dict[str, Any],
    recorded: Any,
    export_event: dict[str, Any],
) -> tuple[list[str], str]:
    """(what is wrong with ``signedData`` itself, the signing key's fingerprint)."""
    from crawler.evidence.signing import fingerprint_b64, verify_hash_signature

    problems = []
    if signed.get("hash") != digest.get("hash"):
        problems.append(f"{DIGEST}: signedData.hash differs from hash")
    if signed.get("created") != package.get("created"):
        problems.append(f"{DIGEST}: signedData.created differs from {DATAPACKAGE} created")
    public_key = str(signed.get("publicKey", ""))
    reason = verify_hash_signature(
        public_key, str(signed.get("signature", "")), str(signed.get("hash", ""))
    )
    if reason:
        problems.append(f"{DIGEST}: {reason}")
    try:
        actual = fingerprint_b64(public_key)
    except ValueError:
        actual = "unreadable"
    if recorded and actual != recorded:
        problems.append(
            f"{DIGEST}: signed by key {actual}, but custody event "
            f"{export_event.get('seq')} records signer {recorded} (re-signed?)"
        )
    return problems, actual


def _trusted_signer(
    actual: str, anchors: Anchors, package: dict[str, Any], signed_at: Any
) -> tuple[str, list[str]]:
    """(the trusted signer holding key ``actual`` when it signed, or '' and why not)."""
    matches = [s for s in anchors.signers if s.fingerprint == actual]
    if not matches:
        return "", [f"{DIGEST}: signed by key {actual}, which no trusted signer holds"]
    when = str(package.get("created", ""))
    try:
        at = signed_at or parse_time(when)
    except SigningKeyError:
        at = None
    if signed_at is not None:
        when = f"{signed_at:%Y-%m-%dT%H:%M:%SZ} (trusted time)"
    valid = [m for m in matches if at is not None and m.valid_at(at)]
    if not valid:
        m = matches[0]
        return "", [
            f"{DIGEST}: key of {m.label()} is valid {m.valid_from or '-'} to "
            f"{m.valid_until or '-'}, but the bundle says it was signed {when}"
        ]
    return f"{valid[0].label()}, key {actual}", []


def _signature_time(digest: dict[str, Any], anchors: Anchors) -> tuple[Any, str, list[str]]:
    """(trusted time the signature existed by, what to say about it, a line per token).

    Each TSA's token is checked and reported; the earliest one under a trusted
    root dates the signature (one suffices).
    """
    signature = str((digest.get("signedData") or {}).get("signature", "")) if digest else ""
    stamps = _signature_stamps(digest.get(SIGNATURE_STAMP) if digest else None)
    if not stamps or not signature:
        return None, "signing time only claimed (no time-stamp over the signature)", []
    lines, times = [], []
    for n, (tsa, token, error) in enumerate(stamps, start=1):
        where = f"{SIGNATURE_STAMP} {n} ({tsa or 'TSA not named'})"
        if token is None:
            lines.append(f"{where}: no token ({error})")
            continue
        check = verify_response(token, signature.encode("ascii"), anchors.tsa_roots_pem or None)
        if not check.ok:
            lines.append(f"{where}: INVALID ({check.reason})")
        elif not anchors.tsa_roots:
            lines.append(f"{where}: well-formed, NOT trusted (no TSA root configured)")
        elif check.root_fingerprint not in anchors.tsa_roots:
            lines.append(f"{where}: root {check.root_fingerprint[:16]}… not trusted")
        else:
            times.append(check.gen_time)
            lines.append(f"{where}: valid, {check.gen_time:%Y-%m-%dT%H:%M:%SZ}")
    if not times:
        return (
            None,
            "no time-stamp over the signature under a trusted TSA root: "
            + ("signing time only claimed"),
            lines,
        )
    first = min(times)
    return (
        first,
        f"signed no later than {first:%Y-%m-%dT%H:%M:%SZ} (RFC 3161); "
        f"{len(times)} of {len(stamps)} signature tokens under a trusted TSA root",
        lines,
    )


def _signature_stamps(value: Any) -> list[tuple[str, bytes | None, str]]:
    """(TSA, token or None, why none) per stamp; also the one-token form of older bundles."""
    import base64
    import binascii

    items = [{"token": value}] if isinstance(value, str) else value
    if not isinstance(items, list):
        return [("", None, f"{SIGNATURE_STAMP} is not a list of tokens")] if value else []
    out: list[tuple[str, bytes | None, str]] = []
    for item in items:
        if not isinstance(item, dict):
            out.append(("", None, "not a token entry"))
            continue
        tsa, encoded = str(item.get("tsa", "")), item.get("token")
        if not encoded:
            out.append((tsa, None, str(item.get("error", "no token"))))
            continue
        try:
            out.append((tsa, base64.b64decode(str(encoded), validate=True), ""))
        except (ValueError, binascii.Error):
            out.append((tsa, None, "token is not base64"))
    return out


def _csv_rows(scan: _Scan) -> list[dict[str, str]]:
    data = scan.small.get(CAPTURES_PATH)
    if data is None:
        return []
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
        return list(reader)
    except (UnicodeDecodeError, csv.Error):
        return [{"__invalid__": "1"}]


def _check_captures(scan: _Scan, rows: list[dict[str, str]]) -> Check:
    if CAPTURES_PATH not in scan.small:
        return _check("captures.csv", [scan.absent(CAPTURES_PATH)], "")
    if not rows or "__invalid__" in rows[0] or tuple(rows[0].keys()) != CSV_FIELDS:
        return _check("captures.csv", [f"{CAPTURES_PATH}: not the expected CSV columns"], "")
    problems: list[str] = []
    seen: dict[str, set[int]] = {}
    skipped: dict[str, list[int]] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{CAPTURES_PATH} line {line} ({row.get('warc_record_id')})"
        entry = f"archive/{row['bundle_warc']}"
        if entry in scan.unreadable:
            skipped.setdefault(entry, []).append(line)
            continue
        try:
            offset = int(row["bundle_offset"])
            length = int(row["source_length"])
        except ValueError:
            problems.append(f"{where}: offset/length not numbers")
            continue
        rec = scan.records.get(entry, {}).get(offset)
        if rec is None:
            problems.append(f"{where}: no record starts at {entry} offset {offset}")
            continue
        seen.setdefault(entry, set()).add(offset)
        mismatches = _row_mismatches(row, rec, length)
        if mismatches:
            problems.append(f"{where}: {', '.join(mismatches)} differ from the WARC record")
    for entry, lines in skipped.items():
        problems.append(
            f"{CAPTURES_PATH} lines {lines[0]}-{lines[-1]}: {len(lines)} rows not checked, "
            f"{entry} could not be read"
        )
    for entry, records in scan.records.items():
        for offset, rec in records.items():
            if rec.kind != "warcinfo" and offset not in seen.get(entry, set()):
                problems.append(
                    f"{entry} offset {offset} record {rec.record_id}: not listed in {CAPTURES_PATH}"
                )
    return _check("captures.csv", problems, f"{len(rows)} rows match their WARC records")


_KINDS = ("response", "request", "metadata", "resource", "revisit")


def _row_mismatches(row: dict[str, str], rec: ScannedRecord, length: int) -> list[str]:
    """Every column of one captures.csv row that its WARC record contradicts."""
    out = [
        label
        for label, ok in (
            ("record id", rec.record_id == row["warc_record_id"]),
            ("length", rec.length == length),
            ("block SHA-256", rec.block_sha256 == row["block_sha256"]),
            (
                "payload SHA-256",
                (rec.header_digest("warc-payload-digest") or "") == row["payload_sha256"],
            ),
            ("kind", rec.kind == row["kind"]),
            ("url", rec.url == row["url"]),
            ("fetched_at (WARC-Date)", _same_time(row["fetched_at"], rec.headers.get("warc-date"))),
            ("status", row["status"] == ("" if rec.http_status is None else str(rec.http_status))),
            ("content_type", _content_type_matches(row["content_type"], rec)),
        )
        if not ok
    ]
    return out


def _same_time(column: str, warc_date: str | None) -> bool:
    try:
        return parse_time(column) == parse_time(warc_date or "")
    except SigningKeyError:
        return False


def _content_type_matches(column: str, rec: ScannedRecord) -> bool:
    """HTTP records: a Content-Type of the HTTP head (none: empty); others: the WARC one."""
    if rec.kind == "request":
        return column == ""
    if rec.http_content_types is not None:
        return column in rec.http_content_types or (column == "" and not rec.http_content_types)
    return column == rec.headers.get("content-type", "")


def _check_index(scan: _Scan) -> Check:
    data = scan.small.get(INDEX_PATH)
    if data is None:
        return _check("index", [scan.absent(INDEX_PATH)], "")
    problems = []
    lines = data.decode("utf-8", "replace").splitlines()
    for n, line in enumerate(lines, start=1):
        try:
            fields = json.loads(line.split(" ", 2)[2])
            entry = f"archive/{fields['filename']}"
            rec = scan.records.get(entry, {}).get(int(fields["offset"]))
        except (IndexError, KeyError, ValueError):
            problems.append(f"{INDEX_PATH} line {n}: malformed")
            continue
        if entry in scan.unreadable:
            problems.append(f"{INDEX_PATH} line {n}: not checked, {entry} could not be read")
            continue
        if rec is None or rec.record_id != fields.get("recordId"):
            problems.append(
                f"{INDEX_PATH} line {n}: does not point at record {fields.get('recordId')}"
            )
    return _check("index", problems, f"{len(lines)} CDXJ lines point at their records")


def _custody_lines(scan: _Scan) -> list[Any]:
    data = scan.small.get(CUSTODY_PATH)
    if data is None:
        return []
    out: list[Any] = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"__invalid__": line[:80]})
    return out


def _check_custody(scan: _Scan, custody: list[Any], rows: list[dict[str, str]]) -> Check:
    if not custody:
        if CUSTODY_PATH not in scan.small:
            return _check("custody chain", [scan.absent(CUSTODY_PATH)], "")
        return _check("custody chain", [f"{CUSTODY_PATH}: empty"], "")
    if not all(isinstance(e, dict) and "__invalid__" not in e for e in custody):
        bad = next(
            i for i, e in enumerate(custody, 1) if not isinstance(e, dict) or "__invalid__" in e
        )
        return _check("custody chain", [f"{CUSTODY_PATH} line {bad}: not a JSON event"], "")
    result = verify_chain(custody)
    if not result.ok:
        return _check("custody chain", [f"{CUSTODY_PATH}: {result.describe()}"], "")
    problems = []
    last = custody[-1]
    details = last.get("details") or {}
    if last.get("action") != ev.EXPORT_CREATED:
        problems.append(f"{CUSTODY_PATH}: the last event ({last.get('seq')}) is not the export")
    # The export event against the archive/ entries as actually read (not datapackage.json,
    # so a broken datapackage never makes this line blame intact files).
    actual = {n: h for n, (h, _) in scan.hashes.items() if n.startswith("archive/")}
    recorded = {str(a.get("path")): a.get("sha256") for a in details.get("archive", [])}
    for name in sorted(set(actual) | set(recorded)):
        if name in scan.unreadable:
            problems.append(
                f"{name}: not compared with custody event {last.get('seq')}: unreadable"
            )
        elif name not in recorded:
            problems.append(f"{name}: not recorded by custody event {last.get('seq')} (export)")
        elif name not in actual:
            problems.append(f"{name}: recorded by custody event {last.get('seq')}, not in the ZIP")
        elif actual[name] != recorded[name]:
            problems.append(
                f"{name}: SHA-256 {actual[name]} differs from custody event {last.get('seq')}"
            )
    closed = {
        (e.get("details") or {}).get("name"): (e.get("details") or {}).get("sha256")
        for e in custody
        if e.get("action") == ev.WARC_CLOSED and "details" in e
    }
    sources = {r["source_warc"]: r["source_warc_sha256"] for r in rows if "source_warc" in r}
    for name, digest in sources.items():
        if name not in closed:
            problems.append(f"{CUSTODY_PATH}: no warc.closed event for source {name}")
        elif closed[name] != digest:
            problems.append(
                f"{CAPTURES_PATH}: source {name} SHA-256 {digest} differs from the custody log"
            )
    return _check(
        "custody chain", problems, f"{result.events} events, head {result.head_hash[:16]}…"
    )


def _check_timestamps(
    scan: _Scan,
    rows: list[dict[str, str]],
    custody: list[Any],
    anchors: Anchors,
) -> tuple[Check, dict[str, datetime]]:
    """The check, and the trusted token time of each source WARC file (by name)."""
    manifests = sorted(n for n in scan.small if n.endswith(MANIFEST_SUFFIX))
    problems = _stamps_the_log_promises(scan, rows, custody)
    stamped_at: dict[str, datetime] = {}
    if not manifests:
        return _no_trusted_time(problems, anchors, "no time-stamp token in this bundle"), stamped_at
    times = []
    untrusted = 0
    notes: list[str] = []
    for name in manifests:
        base = name[: -len(MANIFEST_SUFFIX)]
        data = scan.small[name]
        tokens = sorted(
            n for n in scan.small if n.startswith(base + ".") and n.endswith(TOKEN_SUFFIX)
        )
        if not tokens:
            problems.append(f"{base + TOKEN_SUFFIX}: missing")
            continue
        problems += _manifest_vs_rows(name, data, rows)
        trusted: list[datetime] = []
        other_roots: list[str] = []
        well_formed = 0
        for token_name in tokens:
            chain = scan.small.get(token_name[: -len(TOKEN_SUFFIX)] + CHAIN_SUFFIX)
            check = verify_response(
                scan.small[token_name], data, (chain or b"") + anchors.tsa_roots_pem
            )
            if not check.ok:
                problems.append(f"{token_name}: {check.reason}")
                continue
            assert check.gen_time is not None
            well_formed += 1
            if anchors.tsa_roots and check.root_fingerprint in anchors.tsa_roots:
                trusted.append(check.gen_time)
                notes.append(f"{token_name}: valid, {check.gen_time:%Y-%m-%dT%H:%M:%SZ}")
            elif anchors.tsa_roots:
                other_roots.append(f"{token_name}: chain ends at root {check.root_fingerprint}")
        if trusted:
            times += trusted
            stamped_at[_manifest_warc(data)] = min(trusted)
            notes += [
                f"{line}, not trusted (another token of this file is)" for line in other_roots
            ]
        elif not anchors.tsa_roots:
            untrusted += well_formed
        else:  # not one token of this file under a root the examiner trusts
            problems += [f"{line}, not a trusted TSA root" for line in other_roots]
    if problems or not times:
        reason = (
            f"{untrusted} token(s) well-formed but NOT trusted: no TSA root configured "
            "(--tsa-root or ADARCHIVE_TRUSTED_TSAS)"
            if untrusted
            else "no trusted time-stamp"
        )
        return _no_trusted_time(problems, anchors, reason), stamped_at
    first = min(times).strftime("%Y-%m-%dT%H:%M:%SZ")
    ok = _check(
        "time-stamps",
        [],
        f"{len(times)} RFC 3161 tokens valid under a trusted TSA root (earliest {first})",
    )
    ok.notes = notes if len(notes) > len(manifests) else []  # several TSAs: report each
    return ok, stamped_at


def _manifest_warc(data: bytes) -> str:
    try:
        return str(json.loads(data)["warc"])
    except (ValueError, KeyError, TypeError):
        return ""


def _check_time_bound(
    rows: list[dict[str, str]], stamped_at: dict[str, datetime], anchors: Anchors
) -> Check:
    """How soon after its capture each record was time-stamped, worst case per file.

    The capture dates are captures.csv's fetched_at, which the captures check holds
    to each record's WARC-Date and the manifest check to the time-stamped manifest.
    """
    from crawler.configuration import setting
    from crawler.evidence.timebound import compute

    minutes = anchors.time_bound_minutes
    if minutes is None:
        minutes = float(setting("ADARCHIVE_WARC_MAX_AGE_MINUTES"))
    captures = []
    for row in rows:
        try:
            captures.append((row["source_warc"], parse_time(row["fetched_at"])))
        except (KeyError, SigningKeyError):
            continue  # the captures check names the row
    bound = compute(captures, stamped_at, minutes)
    notes = [f.describe() for f in bound.files]
    if bound.contradictions:
        problems = [f.describe() for f in bound.contradictions]
        return Check("time bound", False, problems[0], problems, notes=notes)
    if bound.holds:
        return Check("time bound", True, bound.statement(), notes=notes)
    return Check("time bound", True, bound.statement(), [], True, notes)


def _check_anchors(scan: _Scan, custody: list[Any], anchors: Anchors) -> Check:
    """The custody chain's head anchors the bundle carries, against its custody.jsonl."""
    from crawler.evidence.anchor import ANCHOR_PREFIX, AnchorCheck, check_one

    prefix = f"evidence/{ANCHOR_PREFIX}"
    names = sorted(n for n in scan.small if n.startswith(prefix) and n.endswith(".json"))
    if not names:
        return Check("custody anchors", True, "no chain-head anchor in this bundle", [], True)
    events: dict[int, tuple[str, Any]] = {}
    for event in custody:
        if isinstance(event, dict) and "seq" in event:
            try:
                events[int(event["seq"])] = (str(event.get("hash")), parse_time(str(event["at"])))
            except (SigningKeyError, KeyError, ValueError):
                continue
    out = AnchorCheck()
    for name in names:
        stem = name[: -len(".json")]
        tokens = [
            (n, scan.small[n])
            for n in sorted(scan.small)
            if n.startswith(stem + ".") and n.endswith(".tsr")
        ]
        check_one(
            out, name, scan.small[name], tokens, events, anchors.tsa_roots, anchors.tsa_roots_pem
        )
    if out.problems:
        failed = _check("custody anchors", out.problems, "")
        failed.notes = out.per_tsa()
        return failed
    detail = f"{out.anchors} chain heads anchored, {out.tokens_valid} with a token under a trusted TSA root"
    if out.tokens_valid < out.anchors:
        gaps = detail + "; " + "; ".join(out.gaps[:3])
        return Check("custody anchors", True, gaps, [], True, out.per_tsa())
    return Check("custody anchors", True, detail, notes=out.per_tsa())


def _no_trusted_time(problems: list[str], anchors: Anchors, reason: str) -> Check:
    """Absence of trusted time is never reported as OK: a warning, or a failure if required."""
    if problems:
        return _check("time-stamps", problems, "")
    if anchors.require_timestamp:
        return _check("time-stamps", [f"{reason} (--require-timestamp)"], "")
    return Check("time-stamps", True, reason, [], True)


def _stamps_the_log_promises(
    scan: _Scan, rows: list[dict[str, str]], custody: list[Any]
) -> list[str]:
    """A source file the custody log says was time-stamped must ship that very manifest."""
    sources = {r.get("source_warc") for r in rows}
    problems = []
    for event in custody:
        if not isinstance(event, dict) or event.get("action") != ev.WARC_TIMESTAMPED:
            continue
        details = event.get("details") or {}
        name = details.get("name")
        if name not in sources:
            continue
        manifest = scan.small.get(f"evidence/{name}{MANIFEST_SUFFIX}")
        if manifest is None:
            problems.append(
                f"evidence/{name}{MANIFEST_SUFFIX}: missing, but custody event "
                f"{event.get('seq')} records its time-stamp"
            )
        elif hashlib.sha256(manifest).hexdigest() != details.get("manifest_sha256"):
            problems.append(
                f"evidence/{name}{MANIFEST_SUFFIX}: differs from the manifest custody event "
                f"{event.get('seq')} time-stamped"
            )
    return problems


def _manifest_vs_rows(name: str, data: bytes, rows: Iterable[dict[str, str]]) -> list[str]:
    try:
        manifest = json.loads(data)
        by_id = {r["record_id"]: r for r in manifest["records"]}
        warc = manifest["warc"]
    except (ValueError, KeyError, TypeError):
        return [f"{name}: not a valid record manifest"]
    problems = []
    for line, row in enumerate(rows, start=2):
        if row.get("source_warc") != warc:
            continue
        if row.get("source_warc_sha256") != manifest.get("sha256"):
            problems.append(f"{name}: file SHA-256 differs from {CAPTURES_PATH} line {line}")
            break
        rec = by_id.get(row["warc_record_id"])
        if rec is None:
            problems.append(
                f"{name}: lacks record {row['warc_record_id']} ({CAPTURES_PATH} line {line})"
            )
        elif (
            str(rec["offset"]) != row["source_offset"]
            or str(rec["length"]) != row["source_length"]
            or rec["block_sha256"] != row["block_sha256"]
            or (rec.get("payload_sha256") or "") != row["payload_sha256"]
            or not _same_time(row["fetched_at"], rec.get("date"))
        ):
            problems.append(
                f"{name}: record {row['warc_record_id']} differs from {CAPTURES_PATH} line {line}"
            )
    return problems


def print_report(report: Report, out: Any) -> None:
    width = max(len(c.name) for c in report.checks)
    print(f"bundle: {report.bundle}", file=out)
    for check in report.checks:
        status = ("WARN" if check.warning else "OK  ") if check.ok else "FAIL"
        print(f"{check.name.ljust(width)}  {status}  {check.detail}", file=out)
        if not check.ok:
            for problem in check.problems[1:MAX_REPORTED]:
                print(f"{' ' * width}        {problem}", file=out)
        for note in check.notes[:MAX_REPORTED]:
            print(f"{' ' * width}        {note}", file=out)
    if not report.ok:
        result = "VERIFICATION FAILED"
    elif not report.signer_verified:
        result = "integrity OK, signer NOT verified"
    elif report.warnings:
        result = f"integrity OK, signer verified, {len(report.warnings)} warning(s) above"
    else:
        result = "all checks passed"
    print(f"RESULT: {result}", file=out)
