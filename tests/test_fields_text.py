"""Field text read from the parsed tree equals BeautifulSoup's re-parse of the element (issue 21)."""

from __future__ import annotations

import pytest
from parsel import Selector

from crawler.fields import clean_text, element_text

PAGES = [
    "<div>a<script>x</script>b<!-- c -->d<br>e<p>f</p>g<template>t</template>h&nbsp;i</div>",
    "<table><tr><td>1</td><td>2</td></tr><tr><td>3</td></tr></table><ul><li>x<li>y</ul>",
    "<article><h1> Title\u3000 here </h1><noscript>no</noscript><p>line<br/>two\t three</p></article>",
    "<div>+7 <b>(701)</b>&#160;555-<span>01</span>-02<style>p{}</style> call</div>",
]


@pytest.mark.parametrize("html", PAGES)
def test_every_element_reads_the_same_text(html: str) -> None:
    for item in Selector(text=html).xpath("//*"):
        assert element_text(item.root) == clean_text(item.get()), item.get()


def test_deep_nesting_does_not_recurse() -> None:
    html = "<div>" * 250 + "deep" + "</div>" * 250
    root = Selector(text=html).xpath("//body").getall()
    assert root and element_text(Selector(text=html).xpath("//body")[0].root) == "deep"


def test_skipped_tags_keep_the_text_after_them() -> None:
    item = Selector(text="<p>before<script>var x</script>after<br>next</p>").xpath("//p")[0]
    assert element_text(item.root) == "beforeafter\nnext"
