"""Contact extraction in a helper process, fed by the crawl's event loop through pipes.

Extraction costs about as much CPU per advert as fetching and parsing it, and
the crawl runs in one thread. A ``concurrent.futures`` process pool moves the
work but not its overhead: its management and feeder threads fight the
reactor thread for the GIL on every item, which measured costlier than the
extraction itself. Here the helper is a plain child process
(``python -m crawler.extract.helper_process``) speaking length-prefixed pickles on
stdin/stdout, and the crawl's side is nothing but asyncio stream reads and
writes in the reactor thread: no extra threads, no locks.

The helper exits when its stdin closes (the crawl finished or died), ignores
Ctrl-C (the crawl handles that and closes the pipe), and any failure of it
makes :meth:`ExtractionWorker.extract` raise :class:`WorkerGone`, on which the
pipeline extracts in its own thread instead: no advert is lost.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import signal
import struct
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from crawler.extract import extract_identifiers
from crawler.extract.urls import extract_from_url

if TYPE_CHECKING:
    import asyncio

HEADER = struct.Struct(">I")
URL_FIELD = "url"
TEXT_FIELDS = ("title", "body", "name")
CONTACTS_FIELD = "contacts"


def identifiers_for(
    texts: list[tuple[str, str]],
    region: str | None,
    own_host: str | None,
    language: str | None = None,
) -> list[dict[str, Any]]:
    """Identifiers of every (field, text) pair; links back to the ad's own host dropped.

    The ``url`` field is the page's address, read by ``extract_from_url``.
    """
    found: list[dict[str, Any]] = []
    for field, text in texts:
        extract = extract_from_url if field == URL_FIELD else extract_identifiers
        for ident in extract(text, region, language=language):
            if ident.kind == "url" and own_host and host_of(ident.value) == own_host:
                continue
            found.append(
                {
                    "kind": ident.kind,
                    "value": ident.value,
                    "match": ident.match,
                    "start": ident.start,
                    "end": ident.end,
                    "channel": ident.channel,
                    "field": field,
                }
            )
    return found


def host_of(url: object) -> str | None:
    """The lower-case host of ``url`` without ``www.``, or None."""
    if not isinstance(url, str) or not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().removeprefix("www.") if host else None


def extraction_args(
    adapter: Mapping[str, Any],
) -> tuple[list[tuple[str, str]], str | None, str | None, str | None]:
    """What :func:`identifiers_for` reads of an advert: texts, region, own host, language."""
    return (
        _texts(adapter),
        adapter.get("region") or None,
        host_of(adapter.get("url")),
        adapter.get("language") or None,
    )


def _texts(adapter: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field name, text) pairs; ``contacts`` is one text, one entry per line."""
    texts = [(f, adapter.get(f)) for f in TEXT_FIELDS if f in adapter]
    contacts = adapter.get(CONTACTS_FIELD) if CONTACTS_FIELD in adapter else None
    if isinstance(contacts, str):
        texts.append((CONTACTS_FIELD, contacts))
    elif contacts:
        texts.append((CONTACTS_FIELD, "\n".join(str(c) for c in contacts if c)))
    if URL_FIELD in adapter:
        texts.append((URL_FIELD, adapter.get(URL_FIELD)))
    return [(f, t) for f, t in texts if isinstance(t, str) and t]


class WorkerGone(RuntimeError):
    """The helper process is not (or no longer) there to answer."""


class ExtractionWorker:
    """The crawl's end of one helper process; used from the event loop's thread."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._seq = itertools.count()
        self._starting: asyncio.Lock | None = None
        self.gone = False

    @property
    def waiting(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    async def extract(
        self,
        texts: list[tuple[str, str]],
        region: str | None,
        own_host: str | None,
        language: str | None = None,
    ) -> list[dict[str, Any]]:
        """``identifiers_for(texts, region, own_host, language)``, computed by the helper."""
        if self.gone:  # died, or closed: never start a second helper behind the pool's back
            raise WorkerGone("extraction helper has exited")
        process = self._process or await self._start()
        if self.gone or process.stdin is None:
            raise WorkerGone("extraction helper has exited")
        import asyncio  # the crawl's end only: the helper process never loads it

        seq = next(self._seq)
        future = asyncio.get_running_loop().create_future()
        self._pending[seq] = future
        args = (texts, region, own_host, language)
        data = pickle.dumps((seq, args), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            process.stdin.write(HEADER.pack(len(data)) + data)
            await process.stdin.drain()  # waits only while the pipe is full
        except (ConnectionError, RuntimeError) as exc:
            self._pending.pop(seq, None)
            self._fail_all()
            raise WorkerGone(f"extraction helper pipe closed: {exc}") from None
        return await future

    async def _start(self) -> asyncio.subprocess.Process:
        import asyncio

        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._process is None:
                try:
                    self._process = await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "crawler.extract.helper_process",
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        env=child_environment(),
                    )
                except OSError as exc:
                    self.gone = True
                    raise WorkerGone(f"cannot start extraction helper: {exc}") from None
                self._reader = asyncio.ensure_future(self._read_results())
        assert self._process is not None
        return self._process

    async def _read_results(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        buffer = b""
        try:
            # Whatever has arrived, however many replies: one wake-up per read, not two
            # per reply (the crawl's thread pays for every await).
            while chunk := await stdout.read(1 << 16):
                buffer += chunk
                start = 0
                while len(buffer) - start >= HEADER.size:
                    (size,) = HEADER.unpack_from(buffer, start)
                    end = start + HEADER.size + size
                    if end > len(buffer):
                        break
                    self._answer(pickle.loads(buffer[start + HEADER.size : end]))
                    start = end
                buffer = buffer[start:]
        except (ConnectionError, pickle.UnpicklingError):
            pass
        finally:
            self._fail_all()

    def _answer(self, reply: tuple[int, bool, Any]) -> None:
        seq, ok, value = reply
        future = self._pending.pop(seq, None)
        if future is None or future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(WorkerGone(f"extraction failed in helper: {value}"))

    def _fail_all(self) -> None:
        self.gone = True
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(WorkerGone("extraction helper has exited"))

    async def close(self) -> None:
        """Close the helper's stdin and wait for it to finish."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        import asyncio

        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.gone = True


def child_environment() -> dict[str, str]:
    """This process's environment, with its import path: under Scrapyd the code
    comes from an egg that only this process's ``sys.path`` names."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


# -- the helper's side --------------------------------------------------------


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer requests until stdin closes."""
    while True:
        header = _read_exactly(stdin, HEADER.size)
        if header is None:
            return
        body = _read_exactly(stdin, HEADER.unpack(header)[0])
        if body is None:
            return
        seq, args = pickle.loads(body)
        try:
            reply = (seq, True, identifiers_for(*args))
        except Exception as exc:  # reported to the crawl, which extracts itself
            reply = (seq, False, f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(HEADER.pack(len(data)) + data)
        stdout.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(BrokenPipeError):  # the crawl went away first
        serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
