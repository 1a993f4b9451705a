"""Replay links and the replay origin's byte ranges, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.workbench.replay_origin import ReplayConfig, _ranged
from crawler.workbench.replaytoken import BadToken, _b64, _unb64, sign, verify

KEY = b"k" * 32


def test_a_signed_link_says_who_which_advert_until_when() -> None:
    token = sign(KEY, 42, "officer", 1_000)
    claims = verify(KEY, token, 999.0)
    assert (claims.ad_id, claims.user, claims.expires) == (42, "officer", 1_000)
    assert sign(KEY, 42, "officer", 1_000) != token  # a fresh nonce each time


def test_expired_forged_altered_and_malformed_links_are_refused() -> None:
    token = sign(KEY, 42, "officer", 1_000)
    with pytest.raises(BadToken, match="expired"):
        verify(KEY, token, 1_000.0)
    with pytest.raises(BadToken, match="forged or altered"):
        verify(b"x" * 32, token, 0.0)
    body, mac = token.split(".")
    altered = _b64(_unb64(body).replace(b'"ad":42', b'"ad":43'))
    with pytest.raises(BadToken, match="forged or altered"):
        verify(KEY, f"{altered}.{mac}", 0.0)
    longer = _b64(_unb64(body).replace(b'"exp":1000', b'"exp":9999'))
    with pytest.raises(BadToken, match="forged or altered"):
        verify(KEY, f"{longer}.{mac}", 0.0)
    for bad in ("", "abc", "a.b.c", "!!.??", "x" * 5000):
        with pytest.raises(BadToken):
            verify(KEY, bad, 0.0)


def test_archive_ranges(tmp_path: Path) -> None:
    path = tmp_path / "a.wacz"
    path.write_bytes(bytes(range(100)))
    whole = _ranged(path, "", head=False)
    assert whole.status_code == 200 and whole.body == bytes(range(100))
    part = _ranged(path, "bytes=10-19", head=False)
    assert part.status_code == 206 and part.body == bytes(range(10, 20))
    assert part.headers["content-range"] == "bytes 10-19/100"
    tail = _ranged(path, "bytes=-5", head=False)
    assert tail.body == bytes(range(95, 100))
    assert _ranged(path, "bytes=100-", head=False).status_code == 416
    head = _ranged(path, "bytes=0-9", head=True)
    assert head.body == b"" and head.headers["content-length"] == "10"


def test_settings_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from crawler.workbench.replay_origin import ReplayConfigError

    monkeypatch.setenv("ADARCHIVE_WORKBENCH_REPLAY_SECRET", "short")
    with pytest.raises(ReplayConfigError, match="at least 32"):
        ReplayConfig.from_settings()
    monkeypatch.setenv("ADARCHIVE_WORKBENCH_REPLAY_SECRET", "s" * 40)
    monkeypatch.setenv("ADARCHIVE_REPLAYWEBPAGE_DIR", str(tmp_path))
    config = ReplayConfig.from_settings("127.0.0.3", 9001)
    assert config.public_url == "http://127.0.0.3:9001"
    assert config.key == b"s" * 40
    missing = config.missing_build()
    assert missing is not None and "make tools" in missing and str(tmp_path) in missing
    link, claims = config.issue(7, "officer", 100.0)
    assert link.startswith("http://127.0.0.3:9001/r/") and claims.expires == 100 + config.ttl
