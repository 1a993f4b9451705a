"""Near-duplicate text: masking, MinHash signatures (datasketch-compatible), LSH lookups."""

from __future__ import annotations

import numpy as np
from datasketch import MinHash

from crawler.analysis.minhash import (
    SCHEME,
    SignatureParams,
    Signer,
    TextIndex,
    estimated_jaccard,
    signature_bytes,
    signature_from_bytes,
)
from crawler.analysis.textnorm import (
    MASK_CONTACT,
    MASK_NAME,
    MASK_NUMBER,
    MASK_PLACE,
    informative_length,
    normalise,
)

TEMPLATE = (
    "Hi, I'm {name}, {age}. Available for corporate dinners, conferences and receptions. "
    "Based in {city}, happy to travel. Represented by Silver Line, event staffing since 2016. "
    "Call {phone}"
)


def _ad(name: str, age: int, city: str, phone: str) -> str:
    return TEMPLATE.format(name=name, age=age, city=city, phone=phone)


def test_masks_names_numbers_places_and_contacts() -> None:
    text = _ad("Amelia", 23, "Leeds", "07700 900123")
    out = normalise(text, names=["Amelia"], places=["Leeds"], contacts=["07700 900123"])
    assert "amelia" not in out and "leeds" not in out and "900123" not in out
    assert MASK_NAME in out and MASK_PLACE in out and MASK_CONTACT in out and MASK_NUMBER in out
    assert "silver line" in out


def test_templated_adverts_under_different_names_normalise_identically() -> None:
    a = _ad("Amelia", 23, "Leeds", "07700 900123")
    b = _ad("Chloe", 31, "Bristol", "07700 900456")
    na = normalise(a, names=["Amelia"], places=["Leeds"], contacts=["07700 900123"])
    nb = normalise(b, names=["Chloe"], places=["Bristol"], contacts=["07700 900456"])
    assert na == nb


def test_unmasked_links_and_handles_are_still_masked() -> None:
    out = normalise("write t.me/sunny_star12 or @velvet_rose or mila@example.org", names=[])
    assert "sunny" not in out and "velvet" not in out and "mila" not in out
    assert out.count(MASK_CONTACT) == 3


def test_thai_combining_marks_survive_normalisation() -> None:
    out = normalise("สวัสดีค่ะ รับงานพริตตี้และงานอีเวนต์")
    assert "สวัสดีค่ะ" in out  # vowel and tone marks are letters here, not punctuation


def test_informative_length_ignores_placeholders() -> None:
    assert informative_length(f"{MASK_NAME} {MASK_NUMBER} ab") == 2


def test_signatures_equal_datasketch_minhash_of_the_same_shingles() -> None:
    signer = Signer(SignatureParams(num_perm=64, shingle=5, seed=1))
    text = normalise(_ad("Amelia", 23, "Leeds", "07700 900123"), names=["Amelia"])
    hashes, offsets = signer.shingle_hashes([text])
    reference = MinHash(num_perm=64, seed=1, scheme=SCHEME, hashfunc=lambda v: v)
    reference.update_batch([int(h) for h in hashes[offsets[0] : offsets[1]]])
    assert np.array_equal(reference.hashvalues, signer.signatures([text])[0])


def test_signature_round_trips_through_bytes() -> None:
    row = Signer().signatures(["some advert text long enough to shingle"])[0]
    assert np.array_equal(signature_from_bytes(signature_bytes(row)), row)


def test_short_and_empty_texts() -> None:
    rows = Signer().signatures(["ab", "ab", "", "abc"])
    assert np.array_equal(rows[0], rows[1])
    assert (rows[2] == 0xFFFFFFFF).all()
    assert not np.array_equal(rows[0], rows[3])


def test_jaccard_estimate_separates_templates_from_unrelated_text() -> None:
    signer = Signer(SignatureParams(num_perm=128))
    texts = [
        normalise(_ad("Amelia", 23, "Leeds", "07700 900123"), names=["Amelia"], places=["Leeds"]),
        normalise(
            _ad("Chloe", 31, "Bristol", "07700 900456") + " Weekend bookings welcome.",
            names=["Chloe"],
            places=["Bristol"],
        ),
        normalise(
            "Ballroom and Latin dance partner wanted for classes twice a week near the park."
        ),
    ]
    rows = signer.signatures(texts)
    assert estimated_jaccard(rows[0], rows[1]) >= 0.75
    assert estimated_jaccard(rows[0], rows[2]) <= 0.2


def test_text_index_returns_only_pairs_at_or_above_threshold() -> None:
    signer = Signer()
    base = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    texts = [
        base,
        base + " fifteen",
        "completely different words about a photo shoot in the studio",
    ]
    rows = signer.signatures(texts)
    index = TextIndex(signer, threshold=0.8)
    index.add(0, rows[0])
    index.add(2, rows[2])
    found = dict(index.similar(1, rows[1]))
    assert set(found) == {0} and found[0] >= 0.8
