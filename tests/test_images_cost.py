"""The images pipeline's cost controls (issue 21): the per-site image limit."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from pipelines.images import ImagesPipeline


def _pipeline(per_site: int) -> ImagesPipeline:
    crawler = SimpleNamespace(stats=None)
    return ImagesPipeline(crawler, SimpleNamespace(), per_site=per_site)  # type: ignore[arg-type]


def test_images_hold_at_most_per_site_slots_of_each_site() -> None:
    pipeline = _pipeline(2)
    a = pipeline._site_limit("http://127.0.0.11:8000/img/1.jpg")
    assert pipeline._site_limit("http://127.0.0.11:8000/img/2.jpg") is a
    assert pipeline._site_limit("http://127.0.0.12:8000/img/1.jpg") is not a
    assert pipeline._site_limit("http://[::1/broken") is pipeline._site_limit("")

    async def crowd() -> int:
        inside = peak = 0

        async def one() -> None:
            nonlocal inside, peak
            async with pipeline._site_limit("http://127.0.0.11/x.jpg"):
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0)
                inside -= 1

        await asyncio.gather(*(one() for _ in range(10)))
        return peak

    assert asyncio.run(crowd()) == 2
