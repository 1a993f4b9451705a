"""The project runs from a zipped egg (how Scrapyd deploys it): definitions and migrations load."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO


def test_definitions_and_migrations_load_from_a_zip(tmp_path: Path) -> None:
    archive = tmp_path / "adarchive.egg"
    with zipfile.ZipFile(archive, "w") as zf:
        for package in ("crawler", "spiders", "pipelines"):
            for path in (REPO / package).rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts:
                    zf.write(path, path.relative_to(REPO).as_posix())
    code = (
        f"import sys; sys.path.insert(0, {str(archive)!r})\n"
        "import crawler.platforms as p, crawler.store.db as d\n"
        f"assert p.__file__.startswith({str(archive)!r}), p.__file__\n"
        "names = sorted(p.load_all())\n"
        f"d.upgrade_schema(d.make_engine('sqlite:///{tmp_path / 'x.db'}'))\n"
        "print(' '.join(names))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert {"kz_board", "jp_dating", "uk_directory", "kr_board"} <= set(result.stdout.split())
