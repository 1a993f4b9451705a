"""The garbage-collector extension (crawler/gctune.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from scrapy import Spider
from scrapy.exceptions import NotConfigured

from conftest import project_crawler
from crawler.gctune import GcTuneExtension
from crawler.heap import forget_freeze


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    forget_freeze()
    gc.set_threshold(*thresholds)


def test_engine_start_freezes_the_heap_and_raises_the_threshold(restored_gc: None) -> None:
    forget_freeze()
    gc.set_threshold(700, 10, 10)
    extension = GcTuneExtension.from_crawler(
        project_crawler(Spider, {"ADARCHIVE_GC_THRESHOLD": 5000})
    )
    extension.engine_started()
    assert gc.get_threshold() == (5000, 10, 10)
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # the imported modules' objects, at least
    made_since = [[n] for n in range(5000)]  # lists are always tracked: a freeze would take them
    extension.engine_started()  # a second crawler in the same process: no second freeze
    # Frozen objects that die leave the count, so it may shrink; it must not take the new ones.
    assert gc.get_freeze_count() <= frozen
    # Frozen objects leave the collector's generations: the new ones must still be in them.
    collected = {id(o) for o in gc.get_objects()}
    assert all(id(obj) in collected for obj in made_since)


def test_zero_leaves_the_collector_alone() -> None:
    with pytest.raises(NotConfigured):
        GcTuneExtension.from_crawler(project_crawler(Spider, {"ADARCHIVE_GC_THRESHOLD": 0}))
