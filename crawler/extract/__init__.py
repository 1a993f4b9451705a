"""Contact-identifier extraction: pure functions over text, no Scrapy.

``extract_identifiers(text, region)`` finds phone numbers (E.164, also when
obfuscated), e-mails, Telegram / LINE / KakaoTalk / WeChat handles and
off-platform links, each with its exact match and offsets in ``text``.
"""

from __future__ import annotations

from crawler.extract.extractor import extract_identifiers
from crawler.extract.identifier import KINDS, Identifier

__all__ = ["KINDS", "Identifier", "extract_identifiers"]
