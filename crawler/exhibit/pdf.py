"""Print the exhibit's HTML to PDF in headless Chromium, fonts embedded.

Chromium lays the page out with the system's fonts (Noto for Latin, Cyrillic,
Japanese, Korean and Thai; `.ci/run` installs them) and embeds the subsets it
used, so the PDF reads the same on a machine without those fonts. Every page
carries the case reference and "page X of Y" in its footer. The browser is
started with the same guard as the picture renderer and nothing allowed: the
document needs no network (pictures are ``data:`` URIs).
"""

from __future__ import annotations

from markupsafe import escape
from playwright.sync_api import sync_playwright

from crawler.browser.features import with_quiet_features
from crawler.browser.launch import find_browser
from crawler.exhibit.pictures import blocked_proxy, guard_args

FOOTER = (
    '<div style="font-size:8px;width:100%;text-align:center;color:#333;'
    "font-family:'Noto Sans','Noto Sans CJK JP',sans-serif\">"
    '{ref} &middot; page <span class="pageNumber"></span> of <span class="totalPages"></span>'
    "</div>"
)


def html_to_pdf(html: str, case_ref: str, browser: str | None = None) -> bytes:
    dead = blocked_proxy()
    try:
        with sync_playwright() as pw:
            launched = pw.chromium.launch(
                executable_path=find_browser(browser),
                args=with_quiet_features(guard_args(dead.getsockname()[1], dead.getsockname()[1])),
            )
            try:
                context = launched.new_context(java_script_enabled=False, service_workers="block")
                page = context.new_page()
                page.set_content(html, wait_until="load")
                return page.pdf(
                    format="A4",
                    print_background=True,
                    display_header_footer=True,
                    header_template="<div></div>",
                    footer_template=FOOTER.format(ref=escape(case_ref or "exhibit")),
                    margin={"top": "18mm", "bottom": "20mm", "left": "16mm", "right": "16mm"},
                    prefer_css_page_size=True,
                )
            finally:
                launched.close()
    finally:
        dead.close()
