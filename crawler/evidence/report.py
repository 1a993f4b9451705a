"""``evidence/report.html`` and ``evidence/VERIFY.txt`` of a bundle.

Everything captured was written by an adversary, so every value is
HTML-escaped and the page loads nothing (a strict Content-Security-Policy,
no scripts, no images): captured images are named by their digests only,
never shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from html import escape
from typing import Any

from crawler.evidence.custody import rfc3339

STYLE = """
body{font:14px/1.4 sans-serif;margin:2em;color:#111}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 6px;
vertical-align:top;text-align:left}code,.h{font-family:monospace;font-size:12px;word-break:break-all}
h1{font-size:20px}h2{font-size:16px;margin-top:2em}
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _when(value: datetime | None) -> str:
    return rfc3339(value) if value else ""


def render_report(ctx: dict[str, Any]) -> Iterator[str]:
    event = ctx["event"]
    yield (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>Evidence bundle {_e(ctx['case_ref'] or '')}</title><style>{STYLE}</style>"
        "</head><body>\n"
    )
    yield f"<h1>Evidence bundle: {_e(ctx['case_ref'] or '(no case reference)')}</h1>\n"
    yield "<table>\n"
    for label, value in (
        ("Case reference", ctx["case_ref"] or ""),
        ("Exported by", ctx["actor"]),
        ("Exported at (UTC)", ctx["created"].strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("Selection", ", ".join(f"{k}={v}" for k, v in ctx["selection"].items() if v)),
        ("Captures (WARC records)", len(ctx["infos"])),
        ("Custody export event", f"#{event.seq} hash {event.hash}"),
    ):
        yield f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>\n"
    if ctx["skipped_open"]:
        yield (
            f"<tr><th>Left out</th><td>{ctx['skipped_open']} captures in WARC files still being "
            "written at export time</td></tr>\n"
        )
    yield "</table>\n"

    yield "<h2>Signature</h2>\n"
    if ctx["public_key"]:
        yield (
            "<p>datapackage-digest.json is signed (ECDSA P-384, SHA-256) with the key below. "
            "Compare the fingerprint with the one the exporting agency publishes.</p>\n"
            f'<table><tr><th>Public key (SPKI, base64)</th><td class="h">{_e(ctx["public_key"])}'
            f'</td></tr><tr><th>Fingerprint (SHA-256 of SPKI DER)</th><td class="h">'
            f"{_e(ctx['fingerprint'])}</td></tr></table>\n"
        )
    else:
        yield "<p>This bundle is not signed.</p>\n"

    if ctx["ads"]:
        yield "<h2>Adverts</h2>\n<table><tr><th>Platform</th><th>Ad</th><th>Title</th>"
        yield "<th>URL</th><th>First seen</th><th>Last seen</th></tr>\n"
        for ad in ctx["ads"]:
            yield (
                f"<tr><td>{_e(ad['platform'])}</td><td>{_e(ad['external_id'])}</td>"
                f'<td>{_e(ad["title"])}</td><td class="h">{_e(ad["url"])}</td>'
                f"<td>{_e(_when(ad['first_seen']))}</td><td>{_e(_when(ad['last_seen']))}</td></tr>\n"
            )
        yield "</table>\n"

    yield "<h2>Source WARC files</h2>\n<table><tr><th>File</th><th>SHA-256</th>"
    yield "<th>Size</th><th>Closed (UTC)</th><th>RFC 3161 time-stamp</th></tr>\n"
    for source in ctx["sources"]:
        row = source.row
        yield (
            f'<tr><td class="h">{_e(source.name)}</td><td class="h">{_e(row.sha256)}</td>'
            f"<td>{_e(row.size)}</td><td>{_e(_when(row.closed_at))}</td>"
            f"<td>{'manifest, token and TSA chain in evidence/' if source.stamped else 'none'}"
            "</td></tr>\n"
        )
    yield "</table>\n"

    yield "<h2>What was captured, where and when</h2>\n"
    yield (
        "<p>Images and other media are listed by digest only; open them in a replay tool "
        "if needed.</p>\n<table><tr><th>#</th><th>Kind</th><th>URL</th><th>Fetched (UTC)</th>"
        "<th>Status</th><th>Type</th><th>WARC-Record-ID</th><th>Block / payload SHA-256</th>"
        "<th>Source file @ offset</th><th>Ads</th></tr>\n"
    )
    for i in ctx["infos"]:
        yield (
            f'<tr><td>{i.id}</td><td>{_e(i.kind)}</td><td class="h">{_e(i.url)}</td>'
            f"<td>{_e(rfc3339(i.fetched_at))}</td><td>{_e(i.status)}</td>"
            f'<td>{_e(i.content_type)}</td><td class="h">{_e(i.record_id)}</td>'
            f'<td class="h">{_e(i.block_sha256)}<br>{_e(i.payload_sha256)}</td>'
            f'<td class="h">{_e(i.source_warc)} @ {i.source_offset} (+{i.source_length})</td>'
            f"<td>{_e(i.ads)}</td></tr>\n"
        )
    yield "</table>\n"
    yield (
        "<h2>How to verify</h2>\n<p>Run <code>adarchive verify BUNDLE.wacz</code>, or follow "
        "<code>evidence/VERIFY.txt</code> with independent tools only (sha256sum, warcio, "
        "py-wacz, OpenSSL).</p>\n</body></html>\n"
    )


VERIFY_TEMPLATE = """\
HOW TO VERIFY THIS EVIDENCE BUNDLE WITHOUT TRUSTING ADARCHIVE
==============================================================

Case reference: {case_ref}
Exported by:    {actor}
Exported at:    {created} (UTC)
Custody event:  #{seq}, hash {event_hash}
Signed:         {signed}

Needed: unzip (or python3 -m zipfile), sha256sum, python3 (standard library
only), OpenSSL >= 1.1, and from PyPI: warcio and wacz (py-wacz; install it in
its own virtualenv: python3 -m venv wacz-env && wacz-env/bin/pip install wacz).

The quickest complete check is `adarchive verify BUNDLE.wacz`; every step it
takes can be repeated by hand as follows.

1. Unpack
   mkdir case && cd case && python3 -m zipfile -e ../BUNDLE.wacz .

2. The package index is the one that was signed / recorded
   sha256sum datapackage.json
   -> must equal "hash" in datapackage-digest.json (after "sha256:").

3. Every file is exactly as listed in datapackage.json
   python3 -c 'import json; [print(r["hash"].split(":")[1] + "  " + r["path"]) for r in json.load(open("datapackage.json"))["resources"]]' | sha256sum -c
   -> every line must say OK.

4. Every WARC record's digests hold (block and payload SHA-256)
   warcio check -v archive/*.warc.gz
   -> no "invalid" lines, exit status 0.

5. The bundle is a valid WACZ
   wacz validate -f ../BUNDLE.wacz

6. Records are the originals, byte for byte
   evidence/captures.csv gives, for every record, its source WARC file, that
   file's SHA-256 (also in the custody log, event "warc.closed"), and the
   record's offset and length in the source and in archive/. With access to
   the original archive, for any row:
     tail -c +$((source_offset+1)) SOURCE.warc.gz | head -c source_length | sha256sum
     tail -c +$((bundle_offset+1)) archive/SOURCE.warc.gz | head -c source_length | sha256sum
   -> the two digests are equal. The first record of each archive/ file is the
   source file's own warcinfo record (who captured, with what, under which
   rules, and what the capture could not preserve).
{signature_steps}{timestamp_steps}
9. The custody log is an unbroken hash chain
   evidence/custody.jsonl holds every event from the first to this export.
   For each line: hash = SHA-256 of the RFC 8785 canonical JSON of
   {{seq, at, actor, action, subject, details_sha256, prev_hash}} (for these
   string/integer fields that is json.dumps with sort_keys and no spaces), and
   prev_hash = the previous line's hash (64 zeros for the first). Events about
   other cases carry only details_sha256 ("redacted": true); the others carry
   details whose canonical JSON hashes to details_sha256.
   python3 - <<'PY'
   import hashlib, json
   prev = "0" * 64
   for n, line in enumerate(open("evidence/custody.jsonl"), 1):
       e = json.loads(line)
       core = {{k: e[k] for k in ("seq", "at", "actor", "action", "subject", "details_sha256", "prev_hash")}}
       text = json.dumps(core, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
       assert e["seq"] == n and e["prev_hash"] == prev, f"broken at event {{e['seq']}}"
       assert hashlib.sha256(text.encode()).hexdigest() == e["hash"], f"bad hash at {{e['seq']}}"
       prev = e["hash"]
   print("chain OK,", n, "events, head", prev)
   PY
   The last event ("export.created") lists the SHA-256 of every archive/ file.
"""

SIGNATURE_STEPS = """
7. The signature (key-only WACZ signature, as ReplayWeb.page checks it)
   python3 - <<'PY'
   import base64, json
   d = json.load(open("datapackage-digest.json"))["signedData"]
   open("hash.txt", "w").write(d["hash"])
   open("pub.der", "wb").write(base64.b64decode(d["publicKey"]))
   sig = base64.b64decode(d["signature"])          # raw r||s, 96 bytes
   open("sig.cnf", "w").write("asn1=SEQUENCE:sig\\n[sig]\\nr=INTEGER:0x%s\\ns=INTEGER:0x%s\\n"
                              % (sig[:48].hex(), sig[48:].hex()))
   PY
   openssl pkey -pubin -inform DER -in pub.der -out pub.pem
   openssl asn1parse -genconf sig.cnf -out sig.der -noout     # r||s -> DER
   openssl dgst -sha256 -verify pub.pem -signature sig.der hash.txt
   -> "Verified OK". Then check WHO signed:
   openssl pkey -pubin -in pub.pem -outform DER | sha256sum
   -> must equal the exporting agency's published key fingerprint:
      {fingerprint}
   Also check that "created" in signedData equals "created" in datapackage.json.
"""

NO_SIGNATURE = """
7. The signature
   This bundle was exported without --sign: it carries no signature.
"""

TIMESTAMP_STEPS = """
8. RFC 3161 time-stamps (for each evidence/NAME.manifest.json)
   openssl ts -verify -data evidence/NAME.manifest.json -in evidence/NAME.tsr \\
       -CAfile evidence/NAME.tsa.pem
   -> "Verification: OK". Show the time and the TSA:
   openssl ts -reply -in evidence/NAME.tsr -text
   The chain file holds the certificates that came with the token; compare its
   root with the TSA's published root certificate:
   openssl x509 -in evidence/NAME.tsa.pem -noout -subject -fingerprint -sha256
   (shows the first certificate; split the file to see the others).
   The manifest lists every record of the source file (record id, offset,
   length, digests) and the file's SHA-256: every captures.csv row from that
   file must appear in it with the same values, which proves the record
   existed no later than the token's time. Time-stamped here: {stamped}.
"""

NO_TIMESTAMPS = """
8. RFC 3161 time-stamps
   None of the source WARC files was time-stamped (no TSA was configured).
"""


def render_verify_txt(ctx: dict[str, Any]) -> str:
    event = ctx["event"]
    stamped = [s.name for s in ctx["sources"] if s.stamped]
    return VERIFY_TEMPLATE.format(
        case_ref=ctx["case_ref"] or "(none)",
        actor=ctx["actor"],
        created=ctx["created"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        seq=event.seq,
        event_hash=event.hash,
        signed=f"yes, key fingerprint {ctx['fingerprint']}" if ctx["fingerprint"] else "no",
        signature_steps=(
            SIGNATURE_STEPS.format(fingerprint=ctx["fingerprint"])
            if ctx["fingerprint"]
            else NO_SIGNATURE
        ),
        timestamp_steps=(
            TIMESTAMP_STEPS.format(stamped=", ".join(stamped)) if stamped else NO_TIMESTAMPS
        ),
    )
