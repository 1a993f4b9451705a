"""Linking adverts, networks, risk indicators and the HTML report (leads for review)."""
