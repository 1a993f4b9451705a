"""Benchmark: near-duplicate text + identifier linking of 100,000 and 1,000,000 adverts.

Synthetic adverts (invented words, numbers and names): 20% belong to networks
of 2–20 adverts that share one template text (names, ages and cities swapped
per advert); half of the networks also share a phone, the other half rotate a
new phone per advert (only the text can link those). The rest have their own
phone and their own text.
Each size runs in its own process so peak memory (ru_maxrss) is per size.
Timed: text normalisation + MinHash signatures + LSH linking + identifier
linking through the spanning forest (generation of the data is not timed).

Targets (issue 8): growth ≤ 12× for 10× the adverts; 1,000,000 adverts within
10 minutes and 8 GB. Usage: ``python bench/linking_scale.py [--sizes 100000,1000000]``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NAMES = (
    "Alda",
    "Bria",
    "Cela",
    "Dora",
    "Eliv",
    "Fara",
    "Gita",
    "Hana",
    "Ilsa",
    "Juna",
    "Kira",
    "Lina",
)
CITIES = (
    "Northvale",
    "Eastport",
    "Westmere",
    "Southby",
    "Midtown",
    "Lakeside",
    "Hillcrest",
    "Bayview",
)


def _vocabulary(rng: random.Random, size: int = 20000) -> list[str]:
    letters = "abcdefghijklmnoprstuvyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(size)]


def synthetic_adverts(n: int, seed: int = 7) -> tuple[list[dict], int]:
    """(adverts, number of planted network pairs); ``network`` is set on network adverts."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    ads: list[dict] = []
    planted_pairs = 0
    network_ads = int(n * 0.2)
    phone = 10_000_000
    while len(ads) < network_ads:
        size = min(rng.randint(2, 20), network_ads - len(ads))
        template = " ".join(rng.choice(vocab) for _ in range(rng.randint(40, 70)))
        network = len(ads)
        rotate = network % 2 == 1
        phone += 1
        for _ in range(size):
            phone += rotate
            name, city = rng.choice(NAMES), rng.choice(CITIES)
            text = f"Hi I am {name}, {rng.randint(21, 39)} years, in {city}. {template} Call +1555{phone}"
            ads.append({"text": text, "name": name, "city": city, "phone": f"+1555{phone}",
                        "network": network})  # fmt: skip
        planted_pairs += size * (size - 1) // 2
    while len(ads) < n:
        phone += 1
        name, city = rng.choice(NAMES), rng.choice(CITIES)
        body = " ".join(rng.choice(vocab) for _ in range(rng.randint(40, 70)))
        ads.append({"text": f"{name} in {city}. {body} Call +1555{phone}", "name": name,
                    "city": city, "phone": f"+1555{phone}"})  # fmt: skip
    return ads, planted_pairs


def run_one(n: int) -> dict:
    from crawler.analysis.analysis_config import load_config
    from crawler.analysis.linking import Linker, Member
    from crawler.analysis.textnorm import informative_length, normalise

    ads, planted = synthetic_adverts(n)
    config = load_config().linking
    started = time.monotonic()
    linker = Linker(config)
    phones: dict[str, list[Member]] = {}
    for i, ad in enumerate(ads):
        phones.setdefault(ad["phone"], []).append(Member(i))
    for value, members in phones.items():
        if len(members) > 1:
            linker.link_group("phone", value, members, {"kind": "phone", "value": value})
    t_ident = time.monotonic() - started
    batch = 20000
    signed = 0
    for lo in range(0, n, batch):
        part = ads[lo : lo + batch]
        texts = [
            normalise(a["text"], names=[a["name"]], places=[a["city"]], contacts=[a["phone"]])
            for a in part
        ]
        rows = linker.signer.signatures(texts)
        new = [
            (lo + k, rows[k], None)
            for k, t in enumerate(texts)
            if informative_length(t) >= config.min_chars
        ]
        signed += len(new)
        linker.link_texts(new)
    seconds = time.monotonic() - started
    kinds: dict[str, int] = {}
    for edge in linker.edges:
        kinds[edge.kind] = kinds.get(edge.kind, 0) + 1
    linked = linker.forest.tier(0.0)
    together: dict[tuple[int, int], int] = {}
    for i, ad in enumerate(ads):
        if "network" in ad:
            key = (ad["network"], linked.find(i))
            together[key] = together.get(key, 0) + 1
    recovered = sum(k * (k - 1) // 2 for k in together.values())
    false_links = sum(
        1
        for e in linker.edges
        if ads[e.a].get("network", -1 - e.a) != ads[e.b].get("network", -2 - e.b)
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "adverts": n,
        "seconds": round(seconds, 1),
        "identifier_seconds": round(t_ident, 1),
        "peak_mb": round(peak_mb),
        "edges_stored": len(linker.edges),
        "edge_kinds": kinds,
        "texts_signed": signed,
        "planted_pairs": planted,
        "pair_recall": round(recovered / planted, 4) if planted else 1.0,
        "false_links": false_links,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"{n:>9,} adverts: {result['seconds']:>7.1f} s  peak {result['peak_mb']:>6,} MB  "
              f"edges {result['edge_kinds']}  planted-pair recall {result['pair_recall']:.3f}, "
              f"false links {result['false_links']}",
              flush=True)  # fmt: skip
    ok = True
    for small, big in zip(results, results[1:], strict=False):
        factor = big["seconds"] / max(small["seconds"], 1e-9)
        ratio = big["adverts"] / small["adverts"]
        print(f"growth {small['adverts']:,} → {big['adverts']:,} ({ratio:.0f}× adverts): {factor:.1f}× time "
              f"(target ≤ {1.2 * ratio:.0f}×)")  # fmt: skip
        ok &= factor <= 1.2 * ratio
    for r in results:
        if r["adverts"] >= 1_000_000:
            within = r["seconds"] <= 600 and r["peak_mb"] <= 8192
            print(f"1,000,000 adverts: {r['seconds']:.0f} s, {r['peak_mb']:,} MB "
                  f"({'within' if within else 'OVER'} 10 min / 8 GB)")  # fmt: skip
            ok &= within
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
