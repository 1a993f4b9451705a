"""Shim for `scrapyd-deploy`, which builds its egg with `setup.py bdist_egg`.

All metadata (including the Scrapy settings entry point Scrapyd needs) lives
in pyproject.toml.
"""

from setuptools import setup

setup()
