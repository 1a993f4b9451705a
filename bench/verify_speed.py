"""`adarchive verify` against the independent tools doing the same checks.

Builds a synthetic archive (our own WARC writer, a store, custody events),
exports it as one signed bundle of at least ``--mb`` megabytes, then times:

* ``adarchive verify BUNDLE`` (file hashes, every record's block and payload
  digest, CSV/index/custody/signature cross-checks), against
* ``sha256sum`` of every file in the unpacked bundle + ``warcio check`` of
  every WARC file (unpacking is timed separately and not charged to them).

Prints both times and the ratio; the target is verify at least as fast.

    .venv/bin/python bench/verify_speed.py [--mb 200] [--out bench-output/verify_speed]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BODY_BYTES = 40_000  # ≈ 21 kB per record once gzipped


def timed(cmd: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd[:3])}… failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="minimum bundle size in MB")
    parser.add_argument("--out", default=str(REPO / "bench-output" / "verify_speed"))
    args = parser.parse_args()

    from crawler.evidence.export import ExportOptions, export_bundle
    from crawler.evidence.selection import Selection
    from crawler.evidence.signing import generate_keys
    from crawler.evidence.synthetic import build_synthetic_archive
    from crawler.store.db import open_store

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    pages = max(1, int(args.mb * 1_000_000 / (BODY_BYTES * 0.52 + 900)))
    t = time.perf_counter()
    archive = build_synthetic_archive(out / "data", pages, BODY_BYTES, max_file_size=100_000_000)
    print(f"synthetic archive: {archive.captures} captures in {archive.warc_files} WARC files, "
          f"{archive.warc_bytes / 1e6:.0f} MB ({time.perf_counter() - t:.1f} s)")  # fmt: skip
    keys = generate_keys(out / "keys")
    bundle = out / "bench.wacz"
    t = time.perf_counter()
    export_bundle(
        open_store(archive.db_url, create=False),
        Selection(crawl=archive.crawl_id),
        ExportOptions(bundle, archive.data_root, case_ref="BENCH", sign_key=keys.private),
    )
    size = bundle.stat().st_size
    print(f"export: {size / 1e6:.0f} MB bundle in {time.perf_counter() - t:.1f} s")
    if size < args.mb * 1_000_000:
        raise SystemExit(f"bundle is only {size / 1e6:.0f} MB (< {args.mb} MB)")

    ours = timed([sys.executable, "-m", "crawler.cli", "verify", str(bundle)], cwd=REPO)

    unpacked = out / "unpacked"
    t = time.perf_counter()
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(unpacked)
    unzip = time.perf_counter() - t
    files = sorted(str(p.relative_to(unpacked)) for p in unpacked.rglob("*") if p.is_file())
    warcs = [f for f in files if f.startswith("archive/")]
    sha = timed(["sha256sum", *files], cwd=unpacked)
    warcio = timed([str(REPO / ".venv" / "bin" / "warcio"), "check", *warcs], cwd=unpacked)
    pair = sha + warcio
    print(f"adarchive verify:                 {ours:7.2f} s")
    print(f"sha256sum (all files):            {sha:7.2f} s")
    print(f"warcio check (all WARC files):    {warcio:7.2f} s")
    print(f"independent pair:                 {pair:7.2f} s   (+ {unzip:.2f} s to unpack)")
    print(f"ratio pair / verify:              {pair / ours:7.2f}x  "
          f"({'verify is at least as fast' if ours <= pair else 'verify is SLOWER'})")  # fmt: skip
    return 0 if ours <= pair else 1


if __name__ == "__main__":
    sys.exit(main())
