"""The Ad item: one advert as seen on one detail page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Ad:
    """An advert extracted from a captured detail page.

    Text fields are clean text (line breaks kept) exactly as the page showed
    them; nothing is normalised here, so extraction offsets stay meaningful.
    """

    platform: str
    """Platform name (the definition's ``[platform] name``)."""
    external_id: str
    """The platform's own id of the advert; with ``platform`` the ad's key."""
    url: str
    """URL of the detail page the advert was read from."""
    fetched_at: datetime
    """UTC time the detail page was received."""
    title: str | None = None
    body: str | None = None
    name: str | None = None
    age: str | None = None
    location: str | None = None
    price: str | None = None
    posted: str | None = None
    poster_account: str | None = None
    images: list[str] = field(default_factory=list)
    """Absolute URLs of the advert's images."""
    contacts: list[str] = field(default_factory=list)
    """Contact texts and link targets (``tel:``, ``https://t.me/…``) from the page."""
    region: str | None = None
    """Default region (ISO country) for phone parsing: the platform's country."""
    language: str | None = None
    capture_id: int | None = None
    """Store id of the ``response`` capture of the detail page (the proof)."""
    capture_record_id: str | None = None
    """WARC-Record-ID of that response record."""
    text_capture_id: int | None = None
    """For browser pages: the rendered-DOM ``resource`` capture the fields were read from.

    A phone revealed by a click is in the DOM record, not in the document
    response, so identifiers point here when it is set.
    """
    identifiers: list[dict] = field(default_factory=list)
    """Contact identifiers found by the contacts pipeline (kind, value, field, …)."""

    TEXT_FIELDS = ("title", "body", "name", "age", "location", "price", "posted", "poster_account")
