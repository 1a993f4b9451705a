"""``adarchive exhibit``: parse, call crawler.exhibit, print."""

from __future__ import annotations

import argparse
from pathlib import Path

from crawler.configuration import setting

# Named, not imported: the exhibit's modules load only when `adarchive exhibit` runs.
USER_ERROR_NAMES: tuple[str, ...] = (
    "crawler.exhibit.case.ExhibitError",
    "crawler.evidence.pywb_replay.ReplayError",
)


def cmd_exhibit(args: argparse.Namespace) -> int:
    from crawler.exhibit.build import ExhibitOptions, build_exhibit, default_out
    from crawler.exhibit.case import ExhibitError
    from crawler.store.db import open_store, resolve_db_url

    bundle = Path(args.bundle)
    if not bundle.is_file():
        raise ExhibitError(f"no bundle at {bundle}")
    out = Path(args.out) if args.out else default_out(bundle)
    if out.resolve() == bundle.resolve():
        raise ExhibitError("--out would overwrite the bundle; the exhibit is kept beside it")
    options = ExhibitOptions(
        bundle=bundle,
        out=out,
        key=Path(args.sign) if args.sign else None,
        cert=Path(args.cert) if args.cert else None,
        tsa_url=args.tsa_url or setting("ADARCHIVE_TSA_URL"),
        examiner=args.examiner or setting("ADARCHIVE_OPERATOR_NAME"),
        unit=args.unit or setting("ADARCHIVE_OPERATOR_UNIT"),
        unblurred=args.unblurred_photos,
        pywb_bin=Path(args.pywb_bin) if args.pywb_bin else None,
        html_out=Path(args.html) if args.html else None,
    )
    result = build_exhibit(open_store(resolve_db_url(args.db), create=False), options)
    print(f"wrote {result.path} ({result.pages} pages)")
    print(f"  sha256        {result.sha256}")
    print(f"  adverts       {result.adverts}   networks {result.networks}")
    print(f"  signed        {'yes (PAdES)' if result.signed else 'NO: give --sign KEY'}"
          f"{', time-stamped' if result.timestamped else ''}")  # fmt: skip
    print(f"  photos        {'UNBLURRED (recorded)' if options.unblurred else 'blurred'}")
    print(f"  custody event #{result.custody_seq}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("exhibit", help="a signed PDF exhibit of an evidence bundle, for court")
    p.add_argument("bundle", help="the evidence bundle (*.wacz) the exhibit describes")
    p.add_argument("--db", help="the store it was exported from (default: $ADARCHIVE_DB, …)")
    p.add_argument("--out", help="the PDF to write (default: beside the bundle, *.exhibit.pdf)")
    p.add_argument("--sign", metavar="KEY", help="sign with this private key (PAdES)")
    p.add_argument(
        "--cert", help="its certificate (default: adarchive-signing-cert.pem beside the key)"
    )
    p.add_argument("--tsa-url", help="RFC 3161 time-stamp authority (default: $ADARCHIVE_TSA_URL)")
    p.add_argument(
        "--examiner", help="examiner's name (default: $ADARCHIVE_OPERATOR_NAME, else OS user)"
    )
    p.add_argument("--unit", help="examiner's unit (default: $ADARCHIVE_OPERATOR_UNIT)")
    p.add_argument("--unblurred-photos", action="store_true",
                   help="show photos unblurred (recorded in the custody log)")  # fmt: skip
    p.add_argument(
        "--pywb-bin", help="bin directory of a pywb 2.10 install (default: .tools/pywb/bin)"
    )
    p.add_argument("--html", help="also write the HTML the PDF was printed from")
    p.set_defaults(func=cmd_exhibit)
