"""The court exhibit: a signed, time-stamped PDF per case, tied record by record to its bundle.

``adarchive exhibit CASE.wacz`` reads an evidence bundle (and the store it was
exported from, for the adverts' text, identifiers and networks), pictures each
advert's page as captured, lays everything out as HTML, prints it to PDF in
headless Chromium with the fonts embedded, signs the PDF (PAdES, with an RFC
3161 time-stamp when a TSA is configured) and logs its creation and SHA-256 as
a custody event. See docs/exhibit.md.
"""
