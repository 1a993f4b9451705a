"""Evidence for court: custody log (hash chain), WACZ bundle export, signing,
RFC 3161 time-stamps, and the verifier that checks a bundle end to end.

``canonical`` is RFC 8785 JSON, ``custody`` the append-only chain, ``signing``
the agency's ECDSA P-384 key pair, ``timestamp`` the TSA client and WARC
manifests, ``wacz_export`` the streaming WACZ writer, ``verify`` its
counterpart, ``commands`` the ``adarchive`` sub-commands.
"""
