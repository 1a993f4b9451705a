"""The synthetic fixture web: a seeded world of invented ad platforms served on loopback.

``world.build_world`` generates it, ``server.FixtureWeb`` serves it and
``World.truth`` is the answer key (``truth.json``) tests and benchmarks use.
"""

from __future__ import annotations
