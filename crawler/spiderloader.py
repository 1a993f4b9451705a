"""A spider loader that offers every platform definition as a spider.

Code spiders in ``SPIDER_MODULES`` win over a definition of the same name, so
a platform that needs more than a definition can still be written in Python.
"""

from __future__ import annotations

from typing import Any

from scrapy.spiderloader import SpiderLoader

from crawler.platforms import load_all


class DefinitionSpiderLoader(SpiderLoader):
    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        from spiders.base import DefinitionSpider

        self._spiders.pop(DefinitionSpider.name, None)
        directory = settings.get("ADARCHIVE_DEFINITIONS_DIR")
        for name, definition in load_all(directory).items():
            self._spiders.setdefault(name, DefinitionSpider.for_definition(definition))
