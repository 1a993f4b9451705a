"""Alerts pushed to people: a webhook (JSON POST, retried) and e-mail (SMTP).

Watch hits, crawls that end ``empty``/``degraded``/``refused``/``failed``,
drifting scheduled runs and failed scheduled runs are sent through every
configured channel, so nobody has to read a log to learn that a crawl went
wrong. Sending never fails a crawl: a channel that cannot be reached is
reported in one line on stderr (and the webhook is retried first).

Settings (crawler/settings.py): ``ADARCHIVE_ALERT_WEBHOOK``,
``ADARCHIVE_ALERT_WEBHOOK_RETRIES``, ``ADARCHIVE_ALERT_EMAIL_TO``,
``ADARCHIVE_ALERT_EMAIL_FROM``, ``ADARCHIVE_ALERT_SMTP`` (``host:port``),
``ADARCHIVE_ALERT_SMTP_USER``/``_PASSWORD``, ``ADARCHIVE_ALERT_SMTP_STARTTLS``,
``ADARCHIVE_ALERT_STATES``.
"""

from __future__ import annotations

import json
import smtplib
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

SCHEMA = "adarchive-alert/1"
TIMEOUT = 10.0


@dataclass(frozen=True)
class Alert:
    """One thing a person should know about, e.g. ``crawl.empty`` or ``watch.hit``."""

    kind: str
    summary: str
    """One line, also the e-mail subject."""
    platform: str | None = None
    crawl_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "kind": self.kind,
            "summary": self.summary,
            "platform": self.platform,
            "crawl_id": self.crawl_id,
            "at": self.at.isoformat(),
            "details": self.details,
        }


@dataclass(frozen=True)
class AlertConfig:
    """The channels, read once from the settings."""

    webhook: str | None = None
    webhook_retries: int = 3
    email_to: tuple[str, ...] = ()
    email_from: str = "adarchive@localhost"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    states: tuple[str, ...] = ("degraded", "empty", "refused", "failed")
    retry_pause: float = 1.0

    @property
    def enabled(self) -> bool:
        return bool(self.webhook or (self.smtp_host and self.email_to))

    @classmethod
    def from_settings(cls, settings: Any) -> AlertConfig:
        """From Scrapy settings (or any mapping-like object with ``get``)."""

        def text(name: str) -> str | None:
            value = settings.get(name)
            return str(value).strip() or None if value is not None else None

        def listed(name: str, default: Sequence[str] = ()) -> tuple[str, ...]:
            value = settings.get(name)
            if value is None:
                return tuple(default)
            items = value if isinstance(value, list | tuple) else str(value).split(",")
            return tuple(s.strip() for s in items if str(s).strip())

        host, port = None, 25
        smtp = text("ADARCHIVE_ALERT_SMTP")
        if smtp:
            host, _, port_text = smtp.rpartition(":") if ":" in smtp else (smtp, "", "25")
            try:
                port = int(port_text)
            except ValueError:
                raise ValueError(
                    f"ADARCHIVE_ALERT_SMTP: expected HOST:PORT (got {smtp!r})"
                ) from None
        return cls(
            webhook=text("ADARCHIVE_ALERT_WEBHOOK"),
            webhook_retries=int(settings.get("ADARCHIVE_ALERT_WEBHOOK_RETRIES")),
            email_to=listed("ADARCHIVE_ALERT_EMAIL_TO"),
            email_from=text("ADARCHIVE_ALERT_EMAIL_FROM"),
            smtp_host=host,
            smtp_port=port,
            smtp_user=text("ADARCHIVE_ALERT_SMTP_USER"),
            smtp_password=text("ADARCHIVE_ALERT_SMTP_PASSWORD"),
            smtp_starttls=str(settings.get("ADARCHIVE_ALERT_SMTP_STARTTLS") or "").lower()
            in ("1", "true", "yes", "on"),
            states=listed("ADARCHIVE_ALERT_STATES", cls.states),
        )


def send_alerts(config: AlertConfig, alerts: Sequence[Alert], err: Any = None) -> int:
    """Send every alert through every configured channel; return how many deliveries failed."""
    err = err or sys.stderr
    failed = 0
    for alert in alerts:
        if config.webhook:
            try:
                post_webhook(config, alert)
            except OSError as exc:
                failed += 1
                print(
                    f"adarchive: alert {alert.kind} not delivered to the webhook: {exc}", file=err
                )
        if config.smtp_host and config.email_to:
            try:
                send_email(config, alert)
            except (OSError, smtplib.SMTPException) as exc:
                failed += 1
                print(f"adarchive: alert {alert.kind} not e-mailed: {exc}", file=err)
    return failed


def post_webhook(config: AlertConfig, alert: Alert) -> None:
    """POST the alert as JSON; retry (1 s, 2 s, 4 s …) on connection errors, 429 and 5xx."""
    body = json.dumps(alert.as_json(), ensure_ascii=False, default=str).encode("utf-8")
    attempts = max(1, config.webhook_retries + 1)
    last: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(config.retry_pause * 2 ** (attempt - 1))
        request = urllib.request.Request(
            str(config.webhook),
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "adarchive-alerts"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                response.read()
            return
        except urllib.error.HTTPError as exc:
            last = exc
            if exc.code < 500 and exc.code != 429:
                break  # the receiver refuses this alert: retrying will not help
        except (urllib.error.URLError, OSError) as exc:
            last = exc
    raise OSError(f"{config.webhook}: {last} (after {attempt + 1} attempt(s))")


def send_email(config: AlertConfig, alert: Alert) -> None:
    message = EmailMessage()
    message["Subject"] = f"[adarchive] {alert.summary}"
    message["From"] = config.email_from
    message["To"] = ", ".join(config.email_to)
    message.set_content(
        f"{alert.summary}\n\n"
        + json.dumps(alert.as_json(), ensure_ascii=False, indent=2, default=str)
        + "\n"
    )
    with smtplib.SMTP(str(config.smtp_host), config.smtp_port, timeout=TIMEOUT) as smtp:
        if config.smtp_starttls:
            smtp.starttls()
        if config.smtp_user:
            smtp.login(config.smtp_user, config.smtp_password or "")
        smtp.send_message(message)


def crawl_alerts(results: Sequence[Any], config: AlertConfig) -> list[Alert]:
    """One alert per crawl that ended in an alerting state (``CrawlResult``s)."""
    out = []
    for r in results:
        if r.state not in config.states or r.health is None:
            continue
        why = "; ".join(r.health.problems) or r.finish_reason
        fix = f" (fix: {r.health.fix})" if r.health.fix else ""
        out.append(
            Alert(
                kind=f"crawl.{r.state}",
                summary=f"{r.platform}: crawl {r.crawl_id} {r.state}: {why}{fix}",
                platform=r.platform,
                crawl_id=r.crawl_id,
                details=r.health.as_dict(),
            )
        )
    return out
