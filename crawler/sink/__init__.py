"""The evidence sink: one interface through which the crawl gets its evidence written.

See :mod:`crawler.sink.evidence_sink`: the in-process sink and the writer-process sink
(the evidence writer process, :mod:`crawler.sink.evidence_writer`), chosen by
``ADARCHIVE_EVIDENCE_PROCESS``.
"""
