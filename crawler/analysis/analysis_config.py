"""Analysis settings, indicator rules and lexicons: read from data files, validated once.

Defaults live in ``crawler/analysis/data`` (``analysis.toml``, ``indicators.toml``,
``lexicons/<language>.toml``). An analyst's file given with ``--config`` is
merged over them table by table, so it only needs the keys it changes;
lexicon directories given there replace or add languages.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
IDENTIFIER_KINDS = ("phone", "email", "telegram", "line", "kakao", "wechat", "url")
LINK_KINDS = (*IDENTIFIER_KINDS, "image_sha256", "image_phash", "poster_account", "text")


# The MinHash hash scheme (crawler/analysis/minhash.py computes it).
SIGNATURE_SCHEME = "affine32"


@dataclass(frozen=True)
class SignatureParams:
    """How texts become signatures; a change of any field means recomputing them.

    Defined here, not beside the signer (crawler.analysis.minhash, which re-exports it):
    reading the configuration must not load datasketch and numpy (0.5 s of CPU), which
    `exhibit` and `report` never use.
    """

    num_perm: int = 64
    shingle: int = 5
    seed: int = 1

    @property
    def key(self) -> str:
        return f"minhash/{SIGNATURE_SCHEME}/p{self.num_perm}/k{self.shingle}/s{self.seed}"


class ConfigError(ValueError):
    """The analysis configuration is unusable; the message is one line for the user."""


@dataclass(frozen=True)
class LinkingConfig:
    weights: dict[str, float]
    strong_min_weight: float = 0.7
    identifier_max_ads: int = 0
    jaccard_threshold: float = 0.8
    min_chars: int = 60
    signature: SignatureParams = SignatureParams()
    phash_max_distance: int = 6
    known_phash_max_distance: int = 6

    def weight(self, kind: str) -> float:
        return self.weights.get(kind, 0.0)

    def enabled(self, kind: str) -> bool:
        return self.weight(kind) > 0


@dataclass(frozen=True)
class IndicatorRule:
    id: str
    title: str
    source: str
    description: str
    enabled: bool
    weight: float
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclass(frozen=True)
class Lexicon:
    language: str
    word_boundaries: bool
    third_person: tuple[str, ...]
    youth: tuple[str, ...]
    movement: tuple[str, ...]
    native_digits: str
    at_words: tuple[str, ...]


@dataclass(frozen=True)
class AnalysisConfig:
    linking: LinkingConfig
    indicators: dict[str, IndicatorRule]
    lexicons: dict[str, Lexicon]
    raw: dict[str, Any]
    default_networks: str = "strong"

    @property
    def strong_default(self) -> bool:
        """True when networks over strong links only are the default view."""
        return self.default_networks == "strong"

    def lexicon(self, language: str | None) -> Lexicon | None:
        if not language:
            return None
        return self.lexicons.get(language.lower().split("-")[0])

    def to_json(self) -> str:
        return json.dumps(self.raw, sort_keys=True, ensure_ascii=False)

    def linking_sha256(self) -> str:
        """Digest of what shapes the stored links: a change means relinking everything."""
        part = json.dumps(self.raw.get("linking", {}), sort_keys=True)
        return hashlib.sha256(part.encode()).hexdigest()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _number(table: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigError(f"{key} must be a number between {lo} and {hi} (got {value!r})")
    return value


def _linking(raw: dict[str, Any]) -> LinkingConfig:
    weights_raw = raw.get("weights", {})
    unknown = set(weights_raw) - set(LINK_KINDS)
    if unknown:
        raise ConfigError(
            f"unknown link kind(s) in [linking.weights]: {', '.join(sorted(unknown))}"
        )
    weights = {k: float(_number(weights_raw, k, 0.0, 0.0, 10.0)) for k in weights_raw}
    if not any(w > 0 for w in weights.values()):
        raise ConfigError("every link kind has weight 0: nothing could be linked")
    text = raw.get("text", {})
    images = raw.get("images", {})
    return LinkingConfig(
        weights=weights,
        strong_min_weight=float(_number(raw, "strong_min_weight", 0.7, 0.0, 10.0)),
        identifier_max_ads=int(_number(raw, "identifier_max_ads", 0, 0, 10**9)),
        jaccard_threshold=float(_number(text, "jaccard_threshold", 0.8, 0.05, 1.0)),
        min_chars=int(_number(text, "min_chars", 60, 0, 10**6)),
        signature=SignatureParams(
            num_perm=int(_number(text, "num_perm", 64, 16, 1024)),
            shingle=int(_number(text, "shingle", 5, 1, 32)),
            seed=int(_number(text, "seed", 1, 0, 2**31)),
        ),
        phash_max_distance=int(_number(images, "phash_max_distance", 6, 0, 32)),
        known_phash_max_distance=int(
            _number(
                images,
                "known_phash_max_distance",
                images.get("phash_max_distance", 6),
                0,
                32,
            )
        ),
    )


_RULE_FIELDS = ("title", "source", "description", "enabled", "weight")


def _indicators(raw: dict[str, Any]) -> dict[str, IndicatorRule]:
    rules = {}
    for rule_id, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"[indicators.{rule_id}] must be a table")
        missing = [f for f in ("title", "source") if not table.get(f)]
        if missing:
            raise ConfigError(f"indicator {rule_id!r} lacks {', '.join(missing)}")
        rules[rule_id] = IndicatorRule(
            id=rule_id,
            title=str(table["title"]),
            source=str(table["source"]),
            description=str(table.get("description", "")),
            enabled=bool(table.get("enabled", True)),
            weight=float(_number(table, "weight", 1.0, 0.0, 100.0)),
            params={k: v for k, v in table.items() if k not in _RULE_FIELDS},
        )
    return rules


def _lexicon(path: Path) -> Lexicon:
    raw = _read_toml(path)
    language = raw.get("language") or path.stem

    def phrases(section: str) -> tuple[str, ...]:
        values = raw.get(section, {}).get("phrases", [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ConfigError(f"{path}: [{section}] phrases must be a list of strings")
        return tuple(v for v in values if v.strip())

    obfuscation = raw.get("obfuscation", {})
    return Lexicon(
        language=str(language).lower(),
        word_boundaries=bool(raw.get("word_boundaries", True)),
        third_person=phrases("third_person"),
        youth=phrases("youth"),
        movement=phrases("movement"),
        native_digits=str(obfuscation.get("native_digits", "")),
        at_words=tuple(obfuscation.get("at_words", ())),
    )


def _lexicons(dirs: list[Path]) -> dict[str, Lexicon]:
    out: dict[str, Lexicon] = {}
    for directory in dirs:
        if not directory.is_dir():
            raise ConfigError(f"lexicon directory {directory} does not exist")
        for path in sorted(directory.glob("*.toml")):
            lexicon = _lexicon(path)
            out[lexicon.language] = lexicon
    return out


def load_config(path: str | Path | None = None) -> AnalysisConfig:
    """Defaults from the data files, merged with the analyst's file at ``path``."""
    raw = _merge(_read_toml(DATA_DIR / "analysis.toml"), _read_toml(DATA_DIR / "indicators.toml"))
    lexicon_dirs = [DATA_DIR / "lexicons"]
    if path is not None:
        path = Path(path)
        user = _read_toml(path)
        raw = _merge(raw, user)
        for extra in user.get("lexicon_dirs", []):
            lexicon_dirs.append((path.parent / extra).resolve())
    unknown = set(raw.get("indicators", {})) - set(_known_rule_ids())
    if unknown:
        raise ConfigError(f"unknown indicator(s): {', '.join(sorted(unknown))}")
    default_networks = raw.get("networks", {}).get("default", "strong")
    if default_networks not in ("strong", "all"):
        raise ConfigError(
            f'[networks] default must be "strong" or "all" (got {default_networks!r})'
        )
    return AnalysisConfig(
        default_networks=default_networks,
        linking=_linking(raw.get("linking", {})),
        indicators=_indicators(raw.get("indicators", {})),
        lexicons=_lexicons(lexicon_dirs),
        raw=raw,
    )


def _known_rule_ids() -> tuple[str, ...]:
    from crawler.analysis.indicators import RULES

    return tuple(RULES)
