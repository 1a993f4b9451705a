"""Image hashes: pHash of near-duplicates, the Hamming index, the known-hash list."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from crawler.analysis.knownhashes import KnownHashError, KnownHashes
from crawler.analysis.phash import ImageDecodeError, PhashIndex, hamming, image_facts
from crawler.demo import generated_pictures

DEFAULT_DISTANCE = 6


def test_reencoded_and_resized_copies_are_close_unrelated_pictures_are_far() -> None:
    originals = [image_facts(generated_pictures.original(f"t/{i}").data)[0] for i in range(30)]
    for i in range(30):
        for kind in ("reencode", "resize"):
            copy = image_facts(generated_pictures.variant(f"t/{i}", kind).data)[0]
            assert hamming(copy, originals[i]) <= DEFAULT_DISTANCE
    far = [hamming(a, b) for n, a in enumerate(originals) for b in originals[n + 1 :]]
    assert min(far) > DEFAULT_DISTANCE


def test_image_facts_reports_size_and_rejects_garbage() -> None:
    phash, width, height = image_facts(generated_pictures.original("t/size").data)
    assert len(phash) == 16 and (width, height) == (
        generated_pictures.WIDTH,
        generated_pictures.HEIGHT,
    )
    with pytest.raises(ImageDecodeError):
        image_facts(b"<html>not an image</html>")


def test_phash_index_matches_brute_force() -> None:
    rng = random.Random(5)
    values = [rng.getrandbits(64) for _ in range(400)]
    # plant near neighbours at 1..8 bits
    for i in range(100):
        v = values[i]
        for bit in rng.sample(range(64), k=rng.randint(1, 8)):
            v ^= 1 << bit
        values.append(v)
    hexes = [f"{v:016x}" for v in values]
    index = PhashIndex(8)
    for n, h in enumerate(hexes):
        index.add(n, h)
    for n, h in enumerate(hexes[:150]):
        expected = {m for m, other in enumerate(hexes) if hamming(h, other) <= 8}
        assert set(index.near(h)) == expected, n


def test_known_hash_list_matches_sha256_and_phash(tmp_path: Path) -> None:
    pic = generated_pictures.original("t/known")
    phash = image_facts(generated_pictures.variant("t/known", "reencode").data)[0]
    listing = tmp_path / "known.txt"
    listing.write_text(
        f"# agency list\nsha256:{pic.sha256}\nphash:{phash}  # a re-encoded copy\n\n{'ab' * 32}\n",
        encoding="utf-8",
    )
    known = KnownHashes.load(listing)
    assert len(known) == 3
    assert known.match(pic.sha256, None) == "known sha256"
    original_phash = image_facts(pic.data)[0]
    assert known.match("0" * 64, original_phash) is not None
    assert known.match("0" * 64, f"{int(phash, 16) ^ 0xFFFF_FFFF:016x}") is None


def test_known_hash_list_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("md5:abc\n", encoding="utf-8")
    with pytest.raises(KnownHashError, match="bad.txt:1"):
        KnownHashes.load(bad)
    with pytest.raises(KnownHashError, match="cannot read"):
        KnownHashes.load(tmp_path / "missing.txt")
