"""``evidence/report.html`` and ``evidence/VERIFY.txt`` of a bundle.

Everything captured was written by an adversary, so every value is
HTML-escaped and the page loads nothing (a strict Content-Security-Policy,
no scripts, no images): captured images are named by their digests only,
never shown.
"""

from __future__ import annotations

import shlex
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

Case reference: @@CASE_REF@@
Exported by:    @@ACTOR@@
Exported at:    @@CREATED@@ (UTC)
Custody event:  #@@SEQ@@, hash @@EVENT_HASH@@
Signed:         @@SIGNED@@

Needed: bash, sha256sum, python3 (standard library only), OpenSSL >= 1.1,
and from PyPI warcio and py-wacz, each pinned, in a virtualenv of their own:
  python3 -m venv tools && tools/bin/pip install warcio==1.8.1 wacz==0.6.0
  export PATH="$PWD/tools/bin:$PATH"

The quickest complete check is `adarchive verify @@BUNDLE@@`; every step it
takes can be repeated by hand as follows. Each block between "---- run" and
"---- end" is meant to be pasted into bash as it stands, in the directory that
holds @@BUNDLE@@; each prints "step N OK" and exits 0 only if its check holds.

Times: every time in this bundle is UTC. WARC-Date and captures.csv
fetched_at carry microseconds; ReplayWeb.page shows capture times to the
second (truncated) in the viewer's own time zone; timestamps in replay
URLs are UTC digits. Convert a time seen in a viewer to UTC and compare to
the second; the record's WARC-Date is the authoritative value.

1. Unpack (into ./case, which must not exist yet)
---- run (step 1)
python3 -m zipfile -e @@BUNDLE_SH@@ case && echo "step 1 OK"
---- end

2. The package index is the one that was signed / recorded
---- run (step 2)
( cd case && test "sha256:$(sha256sum datapackage.json | cut -d' ' -f1)" = \
  "$(python3 -c 'import json; print(json.load(open("datapackage-digest.json"))["hash"])')" \
  && echo "step 2 OK" )
---- end

3. Every file is exactly as listed in datapackage.json
---- run (step 3)
( cd case && python3 -c 'import json; [print(r["hash"].split(":")[1] + "  " + r["path"]) for r in json.load(open("datapackage.json"))["resources"]]' \
  | sha256sum -c && echo "step 3 OK" )
---- end

4. Every WARC record's digests hold (block and payload SHA-256). warcio marks
   a bad record "digest failed" and, being lenient, may still exit 0, so the
   block looks for that text too.
---- run (step 4)
( cd case && warcio check -v archive/*.warc.gz > ../warcio-check.txt; status=$?; \
  cat ../warcio-check.txt; test "$status" -eq 0 \
  && ! grep -q "digest failed" ../warcio-check.txt \
  && grep -q "digest pass" ../warcio-check.txt && echo "step 4 OK" )
---- end

5. The bundle is a valid WACZ (py-wacz 0.6.0)
---- run (step 5)
wacz validate -f @@BUNDLE_SH@@ && echo "step 5 OK"
---- end

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
@@SIGNATURE_STEPS@@@@TIMESTAMP_STEPS@@
9. The custody log is an unbroken hash chain
   evidence/custody.jsonl holds every event from the first to this export.
   For each line: hash = SHA-256 of the RFC 8785 canonical JSON of
   {seq, at, actor, action, subject, details_sha256, prev_hash} (for these
   string/integer fields that is json.dumps with sort_keys and no spaces), and
   prev_hash = the previous line's hash (64 zeros for the first). Events about
   other cases carry only details_sha256 ("redacted": true); the others carry
   details whose canonical JSON hashes to details_sha256 (checked by
   `adarchive verify`; RFC 8785 for nested details is more than a few lines).
---- run (step 9)
( cd case && python3 - <<'PY'
import hashlib, json, sys
prev, n = "0" * 64, 0
for n, line in enumerate(open("evidence/custody.jsonl"), 1):
    e = json.loads(line)
    core = {k: e[k] for k in ("seq", "at", "actor", "action", "subject", "details_sha256", "prev_hash")}
    text = json.dumps(core, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if e["seq"] != n or e["prev_hash"] != prev:
        sys.exit(f"custody chain broken at event {e['seq']} (line {n})")
    if hashlib.sha256(text.encode()).hexdigest() != e["hash"]:
        sys.exit(f"custody event {e['seq']} (line {n}): hash does not match its contents")
    prev = e["hash"]
print("chain of", n, "events, head", prev)
PY
) && echo "step 9 OK"
---- end
   The last event ("export.created") lists the SHA-256 of every archive/ file.
"""

SIGNATURE_STEPS = r"""
7. The signature (key-only WACZ signature, as ReplayWeb.page checks it), and
   WHO signed: the key must be the exporting agency's, whose fingerprint you
   know from the agency itself (letter, web site, agreement), not from this
   file. This bundle names @@FINGERPRINT@@;
   set EXPECTED to the fingerprint the agency gave you.
---- run (step 7)
EXPECTED="@@FINGERPRINT@@"
( cd case && python3 - <<'PY'
import base64, json, sys
digest = json.load(open("datapackage-digest.json"))
d = digest["signedData"]
if d["hash"] != digest["hash"]:
    sys.exit("signedData.hash differs from the datapackage hash")
if d["created"] != json.load(open("datapackage.json"))["created"]:
    sys.exit("signedData.created differs from datapackage.json created")
open("../hash.txt", "w").write(d["hash"])
open("../pub.der", "wb").write(base64.b64decode(d["publicKey"]))
sig = base64.b64decode(d["signature"])  # raw r||s, 96 bytes
open("../sig.cnf", "w").write("asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x%s\ns=INTEGER:0x%s\n"
                              % (sig[:48].hex(), sig[48:].hex()))
PY
) && openssl pkey -pubin -inform DER -in pub.der -out pub.pem \
  && openssl asn1parse -genconf sig.cnf -out sig.der -noout \
  && openssl dgst -sha256 -verify pub.pem -signature sig.der hash.txt \
  && test "$(openssl pkey -pubin -in pub.pem -outform DER | sha256sum | cut -d' ' -f1)" = "$EXPECTED" \
  && echo "step 7 OK"
---- end
"""

NO_SIGNATURE = """
7. The signature
   This bundle was exported without --sign: it carries no signature, and
   nothing in it says who exported it.
"""

TIMESTAMP_STEPS = r"""
8. RFC 3161 time-stamps. Trust a token only under the TSA's root certificate
   as the TSA publishes it (not the certificates inside this bundle): save it
   as tsa-root.pem beside the bundle. evidence/NAME.tsa.pem only supplies
   intermediate certificates. Time-stamped here: @@STAMPED@@.
   With several TSAs a file has a token from each (NAME.tsr, NAME.<tsa>.tsr):
   one that verifies under your tsa-root.pem suffices; the others are listed.
   Each manifest lists every record of its source file (record id, offset,
   length, digests) and the file's SHA-256; the second block checks that every
   captures.csv row appears in it with the same values, which proves the
   record existed no later than the token's time.@@BOUND@@
---- run (step 8)
( cd case && for m in evidence/*.manifest.json; do b="${m%.manifest.json}"; ok=""; \
  for t in "$b".tsr "$b".*.tsr; do [ -f "$t" ] || continue; \
  if openssl ts -verify -data "$m" -in "$t" -CAfile ../tsa-root.pem -untrusted "${t%.tsr}.tsa.pem"; \
  then ok=1; openssl ts -reply -in "$t" -text | grep "Time stamp:"; \
  else echo "$t: not verified under tsa-root.pem"; fi; done; \
  test -n "$ok" || { echo "$m: no token verifies under tsa-root.pem"; exit 1; }; done ) \
  && ( cd case && python3 - <<'PY'
import csv, glob, json, sys
manifests = {}
for path in glob.glob("evidence/*.manifest.json"):
    m = json.load(open(path))
    manifests[m["warc"]] = (m["sha256"], {r["record_id"]: r for r in m["records"]})
for line, row in enumerate(csv.DictReader(open("evidence/captures.csv", newline="")), 2):
    if row["source_warc"] not in manifests:
        continue
    sha, records = manifests[row["source_warc"]]
    r = records.get(row["warc_record_id"])
    if sha != row["source_warc_sha256"] or r is None or (
        str(r["offset"]), str(r["length"]), r["block_sha256"], r.get("payload_sha256") or ""
    ) != (row["source_offset"], row["source_length"], row["block_sha256"], row["payload_sha256"]):
        sys.exit(f"evidence/captures.csv line {line} differs from its time-stamped manifest")
PY
) && echo "step 8 OK"
---- end
"""

NO_TIMESTAMPS = """
8. RFC 3161 time-stamps
   None of the source WARC files was time-stamped (no TSA was configured):
   nothing in this bundle dates the captures independently.
"""


def _bound_text(bound: Any) -> str:
    """Step 8's statement of how soon each capture was time-stamped (computed, never assumed)."""
    if bound is None:
        return ""
    lines = [
        "",
        "",
        "   Time bound (computed at export; `adarchive verify --tsa-root` recomputes it",
        "   under the roots you trust): " + bound.statement() + ".",
        "   Per source file, the token's time against its oldest capture (fetched_at):",
        *(f"     {f.describe()}" for f in bound.files),
        '   Check it: the "Time stamp:" openssl prints below, minus the earliest',
        "   fetched_at of that source_warc in evidence/captures.csv.",
    ]
    return "\n".join(lines)


def render_verify_txt(ctx: dict[str, Any]) -> str:
    event = ctx["event"]
    stamped = [s.name for s in ctx["sources"] if s.stamped]
    steps = {
        "@@SIGNATURE_STEPS@@": SIGNATURE_STEPS if ctx["fingerprint"] else NO_SIGNATURE,
        "@@TIMESTAMP_STEPS@@": TIMESTAMP_STEPS if stamped else NO_TIMESTAMPS,
    }
    values = {
        "@@CASE_REF@@": ctx["case_ref"] or "(none)",
        "@@ACTOR@@": ctx["actor"],
        "@@CREATED@@": ctx["created"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "@@SEQ@@": str(event.seq),
        "@@EVENT_HASH@@": event.hash,
        "@@SIGNED@@": f"yes, key fingerprint {ctx['fingerprint']}" if ctx["fingerprint"] else "no",
        "@@FINGERPRINT@@": ctx["fingerprint"] or "",
        "@@STAMPED@@": ", ".join(stamped),
        "@@BOUND@@": _bound_text(ctx.get("time_bound")),
        "@@BUNDLE_SH@@": shlex.quote(ctx.get("bundle", "BUNDLE.wacz")),
        "@@BUNDLE@@": ctx.get("bundle", "BUNDLE.wacz"),
    }
    text = VERIFY_TEMPLATE
    for key, value in steps.items():
        text = text.replace(key, value)
    for key, value in values.items():
        text = text.replace(key, value)
    return text
