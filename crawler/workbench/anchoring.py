"""The workbench's part in anchoring its audit trail: its head into the custody chain.

When the server starts, every ``ADARCHIVE_WORKBENCH_AUDIT_ANCHOR_INTERVAL``
seconds while it serves, and when it stops, the audit chain's head is written
into the custody chain (crawler/evidence/audithead.py) and the custody head
is time-stamped by the configured TSAs (crawler/evidence/anchor.py). Crawls
and exports do the same at their end, so ``adarchive custody verify`` can
tell a rewritten audit history from the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from crawler.configuration import setting
from crawler.evidence.anchor import anchor_head, tsa_urls
from crawler.evidence.audithead import record_audit_head
from crawler.workbench.web import Workbench

logger = logging.getLogger(__name__)


def anchor_audit(wb: Workbench, reason: str) -> Any:
    """Record the audit head in the custody chain (if it moved) and time-stamp that head."""
    with wb.factory() as db:
        event = record_audit_head(db, reason)
        if event is not None:
            anchor_head(db, wb.data_root, reason, tsa_urls())
    return event


async def _safely(wb: Workbench, reason: str) -> None:
    try:
        await run_in_threadpool(anchor_audit, wb, reason)
    except Exception:  # anchoring must never take the workbench down
        logger.exception("could not write the audit head into the custody chain (%s)", reason)


async def _every(wb: Workbench, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        await _safely(wb, "workbench periodic")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    wb: Workbench = app.state.workbench
    if not app.state.anchor:  # a forked worker: the parent anchors (crawler/workbench/prefork.py)
        yield
        return
    await _safely(wb, "workbench started")
    interval = float(setting("ADARCHIVE_WORKBENCH_AUDIT_ANCHOR_INTERVAL"))
    task = asyncio.create_task(_every(wb, interval)) if interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await _safely(wb, "workbench stopped")
