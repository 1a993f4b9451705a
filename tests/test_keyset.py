"""The compact sets a crawl remembers its URLs in (issue 21): the same answers as a
Python set, in a fraction of the memory; and Scrapy's duplicate filter built on one
filters exactly what Scrapy's own does, across a JOBDIR pause and resume."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

from scrapy import Request, Spider
from scrapy.dupefilters import RFPDupeFilter

from conftest import project_crawler
from crawler.dupefilter import CompactDupeFilter, read_fingerprints
from crawler.keyset import KeySet, digest_key


def test_keyset_answers_like_a_set_through_growth_collisions_and_deletions() -> None:
    rng = random.Random(21)
    # Keys sharing their home slot (same first 8 bytes) force long probing chains.
    keys = [rng.randbytes(16) for _ in range(600)]
    keys += [keys[n][:8] + rng.randbytes(8) for n in range(0, 600, 7)]
    keys.append(bytes(16))  # the all-zero key is a key like any other
    model: set[bytes] = set()
    keyset = KeySet()
    for _ in range(20_000):
        key = rng.choice(keys)
        if rng.random() < 0.3:
            keyset.discard(key)
            model.discard(key)
        else:
            assert keyset.add(key) == (key not in model)
            model.add(key)
        assert len(keyset) == len(model)
    assert all((key in keyset) == (key in model) for key in keys)
    keyset.update(keys)
    assert len(keyset) == len(set(keys)) and all(key in keyset for key in keys)


def test_keyset_takes_under_half_of_a_set_of_digests() -> None:
    keys = [digest_key(f"http://127.0.0.50/ad/{n}") for n in range(20_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        compact = KeySet()
        compact.update(keys)
        compact_bytes = tracemalloc.get_traced_memory()[0] - before
        before = tracemalloc.get_traced_memory()[0]
        plain = {key[:8] + key[8:] for key in keys}  # a new object each, as in a crawl
        plain_bytes = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(compact) == len(plain) == 20_000
    assert compact_bytes <= 64 * 20_000 < plain_bytes / 2


def test_compact_dupefilter_filters_what_scrapys_filters_and_resumes(tmp_path: Path) -> None:
    crawler = project_crawler(Spider)
    fingerprinter = crawler.request_fingerprinter
    urls = [f"http://127.0.0.50/list?page={n % 40}&b={n % 3}" for n in range(200)]
    urls += ["http://127.0.0.50/ad/1", "http://127.0.0.50/ad/1#top", "http://127.0.0.50/ad/1?"]
    requests = [Request(u) for u in urls] + [Request(urls[0], method="POST", body=b"x")]
    scrapys = RFPDupeFilter(fingerprinter=fingerprinter)
    ours = CompactDupeFilter(str(tmp_path), fingerprinter=fingerprinter)
    answers = [ours.request_seen(r) for r in requests]
    assert answers == [scrapys.request_seen(r) for r in requests]
    assert answers.count(False) == len(ours.seen) == 40 * 3 + 1 + 1
    ours.close("finished")
    # The JOBDIR file is Scrapy's, so either filter resumes from it.
    seen_file = (tmp_path / "requests.seen").read_bytes()
    assert len(read_fingerprints(seen_file)) == len(ours.seen)
    resumed = CompactDupeFilter(str(tmp_path), fingerprinter=fingerprinter)
    assert all(resumed.request_seen(r) for r in requests)
    assert not resumed.request_seen(Request("http://127.0.0.50/ad/2"))
    resumed.close("finished")
    scrapy_resumed = RFPDupeFilter(str(tmp_path), fingerprinter=fingerprinter)
    assert scrapy_resumed.request_seen(Request("http://127.0.0.50/ad/2"))
    scrapy_resumed.close("finished")
    # A fingerprint torn by an unclean shutdown is left out, not misread.
    assert len(read_fingerprints(seen_file + b"\x00\x14abc")) == len(ours.seen)


def test_the_project_uses_the_compact_dupefilter() -> None:
    crawler = project_crawler(Spider)
    assert crawler.settings.get("DUPEFILTER_CLASS") == "crawler.dupefilter.CompactDupeFilter"
