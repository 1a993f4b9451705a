"""A case's bundle and exhibit, made by the code behind ``adarchive export`` and
``adarchive exhibit``, in a background thread of the server, and uploaded bundles
verified by the code behind ``adarchive verify``.

A job is a ``case_export`` row: ``running`` while its thread works, then ``done``
with the file's SHA-256 and what the command would have printed, or ``failed``
with the one-line error the command would have given. The page reads the row
(and, while a bundle is written, the size of its partial file), so any request
of any server process sees the same state. A row still ``running`` when the
server starts belonged to a server that stopped: it is marked failed.
"""

from __future__ import annotations

import io
import re
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from crawler.configuration import setting
from crawler.evidence.evidence_errors import (
    BundleError,
    ExportError,
    SelectionError,
    SigningKeyError,
)
from crawler.evidence.pywb_replay import ReplayError
from crawler.evidence.verify import configured_anchors, print_report, verify_bundle
from crawler.evidence.wacz_export import ExportOptions, export_bundle, summary_lines
from crawler.exhibit.case import ExhibitError
from crawler.printable import printable
from crawler.store.models import Case, CaseExport, utc, utcnow
from crawler.workbench import audit, cases

USER_ERRORS = (ExportError, SelectionError, SigningKeyError, BundleError, ExhibitError, ReplayError)
"""The errors the CLI prints as one line (``adarchive: error: …``)."""

_threads: dict[int, threading.Thread] = {}
_lock = threading.Lock()


def export_dir(data_root: Path) -> Path:
    configured = Path(setting("ADARCHIVE_WORKBENCH_EXPORTS"))
    return configured if configured.is_absolute() else data_root / configured


def signing_key() -> Path | None:
    key = setting("ADARCHIVE_WORKBENCH_SIGNING_KEY")
    return Path(key) if key else None


def file_stem(reference: str) -> str:
    """A case reference as a file-name part: letters, digits, dot, dash and underscore."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", reference).strip("._") or "case"


def error_line(exc: BaseException) -> str:
    return f"adarchive: error: {printable(exc)}"


def _finish(factory: sessionmaker[Session], job_id: int, **values: Any) -> None:
    with factory() as session:
        session.execute(
            update(CaseExport).where(CaseExport.id == job_id).values(finished_at=utcnow(), **values)
        )
        session.commit()


def _start(job_id: int, work: Any) -> None:
    thread = threading.Thread(target=work, name=f"case-export-{job_id}", daemon=True)
    with _lock:
        _threads[job_id] = thread
    thread.start()


def wait(job_id: int, timeout: float | None = None) -> None:
    """Wait for a job's thread (tests and shutdown)."""
    with _lock:
        thread = _threads.get(job_id)
    if thread is not None:
        thread.join(timeout)


def fail_interrupted(factory: sessionmaker[Session]) -> int:
    """Mark jobs left ``running`` by a server that stopped; how many there were."""
    with factory() as session:
        result = session.execute(
            update(CaseExport)
            .where(CaseExport.status == "running")
            .values(
                status="failed",
                finished_at=utcnow(),
                report="adarchive: error: the server stopped while this ran; start it again",
            )  # fmt: skip
        )
        session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


def start_bundle(
    factory: sessionmaker[Session], session: Session, case: Case, actor: str, data_root: Path
) -> CaseExport:
    """Queue the case's bundle: the selection is checked now, the bundle written in a thread."""
    selection = cases.selection(session, case.id)
    if selection.is_empty():
        raise cases.CaseError("the case has no advert, identifier or network to export")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    job = CaseExport(case_id=case.id, kind="bundle", status="running", actor=actor,
                     started_at=utcnow(), file_name="", report="")  # fmt: skip
    session.add(job)
    session.flush()
    job.file_name = f"{file_stem(case.reference)}-{stamp}-{job.id}.wacz"
    session.commit()
    job_id, name, case_id, reference = job.id, job.file_name, case.id, case.reference
    out = export_dir(data_root) / name
    options = ExportOptions(out=out, data_root=data_root, case_ref=reference,
                            sign_key=signing_key(), actor=f"{actor} (workbench)")  # fmt: skip

    def work() -> None:
        try:
            result = export_bundle(factory, selection, options)
        except USER_ERRORS as exc:
            _done(factory, job_id, case_id, actor, "failed", error_line(exc), name)
            return
        except Exception as exc:  # noqa: BLE001 (a job must end in a state the page shows)
            _done(factory, job_id, case_id, actor, "failed", f"unexpected error: {exc!r}", name)
            raise
        lines = summary_lines(result)
        if not result.signer_fingerprint:
            lines.append("  NOT signed: set ADARCHIVE_WORKBENCH_SIGNING_KEY to sign case bundles")
        _done(factory, job_id, case_id, actor, "done", "\n".join(lines), name,
              sha256=result.sha256, size=result.size,
              details=cases.export_summary(result))  # fmt: skip

    _start(job_id, work)
    return job


def start_exhibit(
    factory: sessionmaker[Session], session: Session, case: Case, bundle: CaseExport, actor: str,
    data_root: Path,
) -> CaseExport:  # fmt: skip
    """Queue the court exhibit of an exported bundle (``adarchive exhibit BUNDLE``)."""
    # Imported here: the exhibit's PDF, signing and picture code (and what it loads: pypdf,
    # pyHanko, datasketch, SciPy) is 1.5 s of CPU that every `adarchive serve` paid at start.
    from crawler.exhibit.build import ExhibitOptions, build_exhibit, default_out

    if bundle.kind != "bundle" or bundle.status != "done":
        raise cases.CaseError("an exhibit is made of an exported bundle that is done")
    path = export_dir(data_root) / bundle.file_name
    out = default_out(path)
    job = CaseExport(case_id=case.id, kind="exhibit", bundle_id=bundle.id, status="running",
                     actor=actor, started_at=utcnow(), file_name=out.name, report="")  # fmt: skip
    session.add(job)
    session.commit()
    job_id, case_id = job.id, case.id
    key = signing_key()
    options = ExhibitOptions(
        bundle=path,
        out=out,
        key=key,
        cert=None,
        tsa_url=setting("ADARCHIVE_TSA_URL"),
        examiner=actor,
        unit=setting("ADARCHIVE_OPERATOR_UNIT"),
        unblurred=False,
    )

    def work() -> None:
        try:
            result = build_exhibit(factory, options)
        except USER_ERRORS as exc:
            _done(factory, job_id, case_id, actor, "failed", error_line(exc), out.name)
            return
        except Exception as exc:  # noqa: BLE001 (a job must end in a state the page shows)
            _done(factory, job_id, case_id, actor, "failed", f"unexpected error: {exc!r}", out.name)
            raise
        lines = [
            f"wrote {result.path} ({result.pages} pages)",
            f"  sha256        {result.sha256}",
            f"  adverts       {result.adverts}   networks {result.networks}",
            f"  signed        {'yes (PAdES)' if result.signed else 'NO: give --sign KEY'}"
            f"{', time-stamped' if result.timestamped else ''}",
            "  photos        blurred",
            f"  custody event #{result.custody_seq}",
        ]
        _done(factory, job_id, case_id, actor, "done", "\n".join(lines), out.name,
              sha256=result.sha256, size=result.path.stat().st_size,
              details={"sha256": result.sha256, "pages": result.pages,
                       "custody_event": result.custody_seq, "signed": result.signed})  # fmt: skip

    _start(job_id, work)
    return job


def _done(
    factory: sessionmaker[Session], job_id: int, case_id: int, actor: str, status: str,
    report: str, name: str, *, sha256: str | None = None, size: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Timeline and audit first, the job's state last: whoever sees it finished sees them too."""
    try:
        with factory() as session:
            kind = session.scalar(select(CaseExport.kind).where(CaseExport.id == job_id))
            action = f"case.{kind}.{'written' if status == 'done' else 'failed'}"
            cases.record(session, case_id, actor, f"{kind} {status}", name)
            audit.append(session, actor, action, f"case:{case_id}",
                         {"file": name, "job": job_id, **(details or {}),
                          **({"error": report} if status != "done" else {})})  # fmt: skip
    finally:
        _finish(factory, job_id, status=status, report=report, sha256=sha256, size=size)


def progress(job: CaseExport, data_root: Path) -> str:
    """How far a running bundle is: bytes written so far, and for how long."""
    started = utc(job.started_at)
    seconds = int((datetime.now(UTC) - started).total_seconds()) if started else 0
    written = 0
    if job.kind == "bundle":
        for partial in export_dir(data_root).glob(f".{job.file_name}.partial-*"):
            try:
                written += partial.stat().st_size
            except OSError:
                continue
    what = f", {written:,} bytes written so far" if written else ""
    return f"running for {seconds} s{what}"


def file_of(job: CaseExport, data_root: Path) -> Path | None:
    path = export_dir(data_root) / job.file_name
    return path if job.status == "done" and path.is_file() else None


def verify_upload(path: Path, shown_name: str) -> tuple[list[str], bool]:
    """``adarchive verify NAME``'s lines for an uploaded file, and whether it passed."""
    out = io.StringIO()
    try:
        report = verify_bundle(path, anchors=configured_anchors())
    except USER_ERRORS as exc:
        return [error_line(exc)], False
    print_report(replace(report, bundle=Path(shown_name)), out)
    return out.getvalue().splitlines(), report.ok
