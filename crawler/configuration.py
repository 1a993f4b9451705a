"""The configuration: every setting read once, from four layers, into a validated object.

Settings are *defined* in one place, :mod:`crawler.settings`: one module-level
constant per setting, with its default and a comment above it. This module
reads those definitions (type from the annotation, else from the default; the
comment is the doc) and fills Scrapy ``Settings`` from four layers, in rising
precedence:

1. the defaults in ``crawler.settings`` (Scrapy priority ``project``, 20);
2. the configuration file, ``adarchive.toml`` (priority 22): the path given
   by ``--config``, else ``$ADARCHIVE_CONFIG``, else ``./adarchive.toml``,
   else ``adarchive.toml`` in the user's configuration directory;
3. the environment (priority 24): every ``ADARCHIVE_*`` setting under its
   own name, converted by the setting's type;
4. ``-s NAME=VALUE`` (Scrapy's ``cmdline`` priority, 40).

A platform's ``custom_settings`` (Scrapy's ``spider`` priority, 30) sit
between the environment and ``-s``. Every value is then checked
(:meth:`Config.from_settings`): a wrong type, a negative number or two
settings that contradict each other stop the run with one line naming the
setting and where its value came from. ``scrapy crawl`` and Scrapyd jobs get
the same layers through :class:`ConfigAddon` (in ``ADDONS``).
"""

from __future__ import annotations

import ast
import copy
import difflib
import json
import logging
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import platformdirs

logger = logging.getLogger(__name__)
_warned: set[str] = set()

SETTINGS_MODULE = "crawler.settings"
CONFIG_FILE_NAME = "adarchive.toml"
ENV_PREFIX = "ADARCHIVE_"
TEST_PREFIX = "ADARCHIVE_TEST_"
CONFIG_PATH_SETTING = "ADARCHIVE_CONFIG"

PRIORITY_DEFAULT = 20  # Scrapy's "project"
PRIORITY_FILE = 22
PRIORITY_ENV = 24
PRIORITY_SPIDER = 30  # Scrapy's "spider"
PRIORITY_CMDLINE = 40  # Scrapy's "cmdline": -s and command options

KINDS = ("bool", "int", "float", "str", "list", "dict", "any")


class ConfigError(ValueError):
    """A setting's value cannot be used; the message is one line naming it."""


@dataclass(frozen=True)
class SettingSpec:
    """One setting as ``crawler.settings`` defines it."""

    name: str
    default: Any
    kind: str
    """bool, int, float, str, list, dict, or any (taken as given)."""
    optional: bool
    """None is a valid value (the default is None, or the annotation says ``| None``)."""
    doc: str


# -- definitions ---------------------------------------------------------------


@cache
def specs() -> dict[str, SettingSpec]:
    """Every setting defined in ``crawler.settings``, in definition order."""
    import importlib
    import inspect

    module = importlib.import_module(SETTINGS_MODULE)
    source = inspect.getsource(module)  # through the loader: works inside Scrapyd's egg too
    lines = source.splitlines()
    annotations: dict[str, Any] = getattr(module, "__annotations__", {})
    out: dict[str, SettingSpec] = {}
    for node in ast.parse(source).body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper() and target.id not in out:
                name = target.id
                default = getattr(module, name)
                kind, optional = _kind_of(default, annotations.get(name))
                out[name] = SettingSpec(
                    name, default, kind, optional, _doc_above(lines, node.lineno)
                )
    return out


def project_defaults() -> dict[str, Any]:
    """Every defined setting's default (copies), e.g. for a crawler built without a project."""
    return {name: copy.deepcopy(spec.default) for name, spec in specs().items()}


def _kind_of(default: Any, annotation: Any) -> tuple[str, bool]:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if text:
        parts = [p.strip() for p in text.split("|")]
        optional = "None" in parts or default is None
        first = next((p for p in parts if p != "None"), "Any")
        base = first.split("[", 1)[0].lower()
        return (base if base in KINDS else "any"), optional
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(default, types):
            return kind, False
    if isinstance(default, list | tuple):
        return "list", False
    if isinstance(default, dict):
        return "dict", False
    return ("str", True) if default is None else ("any", False)


def _doc_above(lines: list[str], lineno: int) -> str:
    """The comment block above a definition (or above the group of definitions it ends)."""
    comments: list[str] = []
    i = lineno - 2
    while i >= 0 and lines[i].strip():
        line = lines[i].strip()
        if line.startswith("#"):
            if line.startswith("# ---"):
                break
            comments.append(line.lstrip("#").strip())
        elif comments:
            break
        i -= 1
    return " ".join(reversed(comments))


# -- conversion ----------------------------------------------------------------

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}
WHAT = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "list": "a list (JSON, or comma-separated)",
    "dict": "a table (JSON object)",
}


def convert(spec: SettingSpec, value: Any, source: str = "") -> Any:
    """``value`` as the setting's type; text (environment, -s) is parsed."""
    where = f" (from {source})" if source else ""
    if value is None:
        if spec.optional or spec.kind == "any":
            return None
        raise ConfigError(f"{spec.name}: must be set{where}")
    try:
        return _convert(spec, value)
    except (ValueError, TypeError):
        shown = value if isinstance(value, str) else repr(value)
        shown = shown if len(str(shown)) <= 60 else str(shown)[:57] + "..."
        raise ConfigError(
            f"{spec.name}: expected {WHAT.get(spec.kind, spec.kind)}, got {shown!r}{where}"
        ) from None


def _convert(spec: SettingSpec, value: Any) -> Any:
    """Text is parsed by the setting's kind; any value must then be of that kind."""
    if isinstance(value, str) and spec.optional and value.strip() in ("", "None", "none", "null"):
        return None  # an empty variable or -s NAME= unsets an optional setting
    if isinstance(value, str) and spec.kind != "str":
        from_text = _FROM_TEXT.get(spec.kind)
        return value if from_text is None else from_text(spec, value.strip())
    return _typed(spec, value)


# -- text (environment, -s) to a value, one parser per kind --------------------


def _bool_from_text(spec: SettingSpec, text: str) -> bool:
    if text.lower() in TRUE:
        return True
    if text.lower() in FALSE:
        return False
    raise ValueError(text)


def _int_from_text(spec: SettingSpec, text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        if spec.name.startswith(ENV_PREFIX):
            raise
        return float(text)  # Scrapy's own (DOWNLOAD_TIMEOUT = 60) also take 1.5


def _float_from_text(spec: SettingSpec, text: str) -> float:
    return float(text)


def _list_from_text(spec: SettingSpec, text: str) -> list[Any]:
    if text.startswith("["):
        return _typed(spec, json.loads(text))
    return [part.strip() for part in text.split(",") if part.strip()]


def _dict_from_text(spec: SettingSpec, text: str) -> dict[str, Any]:
    return _typed(spec, json.loads(text) if text else {})


_FROM_TEXT: dict[str, Callable[[SettingSpec, str], Any]] = {
    "bool": _bool_from_text,
    "int": _int_from_text,
    "float": _float_from_text,
    "list": _list_from_text,
    "dict": _dict_from_text,
}


# -- a value (settings module, Python code) checked against its kind ------------


def _typed(spec: SettingSpec, value: Any) -> Any:
    """``value`` if it is of the setting's kind (ints widen to float); TypeError if not."""
    kind = spec.kind
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and number and (isinstance(value, int) or not _env_setting(spec)):
        return value  # a float only in Scrapy's own settings (see _int_from_text)
    if kind == "float" and number:
        return float(value)
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "list" and isinstance(value, list | tuple):
        return list(value)
    if kind == "dict" and hasattr(value, "copy_to_dict"):
        return value.copy_to_dict()
    if kind == "dict" and isinstance(value, dict):
        return dict(value)
    if kind == "any":
        return value
    raise TypeError(kind)


def _env_setting(spec: SettingSpec) -> bool:
    return spec.name.startswith(ENV_PREFIX)


# -- checks across settings ----------------------------------------------------

Check = Callable[[Mapping[str, Any], Mapping[str, str]], "str | None"]


def _not_above(low: str, high: str) -> Check:
    def check(v: Mapping[str, Any], src: Mapping[str, str]) -> str | None:
        if v.get(low) and v.get(high) and v[low] > v[high]:
            return (
                f"{low} ({v[low]}, from {src.get(low)}) is larger than "
                f"{high} ({v[high]}, from {src.get(high)})"
            )
        return None

    return check


def _header_safe(name: str) -> Check:
    def check(v: Mapping[str, Any], src: Mapping[str, str]) -> str | None:
        value = v.get(name)
        if isinstance(value, str) and any(ord(c) < 32 or ord(c) == 127 for c in value):
            return (
                f"{name}: contains a control character (it goes into HTTP headers and WARC)"
                f" (from {src.get(name)})"
            )
        return None

    return check


def _contact_set(v: Mapping[str, Any], src: Mapping[str, str]) -> str | None:
    name = "ADARCHIVE_OPERATOR_CONTACT"
    if not str(v.get(name) or "").strip():
        return (
            f"{name}: must not be empty, site operators must reach a human (from {src.get(name)})"
        )
    return None


CHECKS: list[Check] = [
    _contact_set,
    _header_safe("ADARCHIVE_OPERATOR_CONTACT"),
    _header_safe("ADARCHIVE_USER_AGENT"),
    _not_above("ADARCHIVE_BACKOFF_BASE", "ADARCHIVE_BACKOFF_MAX"),
    _not_above("ADARCHIVE_SHUTDOWN_GRACE", "ADARCHIVE_SHUTDOWN_TIMEOUT"),
]
"""Contradictions and bad values a type cannot express; each returns one line or None."""


# -- the configuration object -------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Every defined setting's value (converted to its type) and where it came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    file: Path | None = None

    def __getitem__(self, name: str) -> Any:
        if name not in self.values:
            raise ConfigError(f"{name}: not a defined setting (see crawler/settings.py)")
        return self.values[name]

    @classmethod
    def from_settings(cls, settings: Any, file: Path | None = None) -> Config:
        """Convert and check every setting ``crawler.settings`` defines; raise ConfigError."""
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name, spec in specs().items():
            source = source_label(settings.getpriority(name), file)
            sources[name] = source
            values[name] = convert(spec, settings.get(name), source)
            number = values[name]
            if (
                name.startswith(ENV_PREFIX)
                and spec.kind in ("int", "float")
                and number is not None
                and number < 0
            ):
                raise ConfigError(f"{name}: must not be negative, got {number} (from {source})")
        for check in CHECKS:
            problem = check(values, sources)
            if problem:
                raise ConfigError(problem)
        return cls(values, sources, file)


def source_label(priority: int | None, file: Path | None = None) -> str:
    if priority is None or priority <= PRIORITY_DEFAULT:
        return "default"
    if priority == PRIORITY_FILE:
        return str(file) if file else "file"
    if priority == PRIORITY_ENV:
        return "environment"
    if priority == PRIORITY_SPIDER:
        return "platform"
    if priority >= PRIORITY_CMDLINE:
        return "-s / command line"
    return f"priority {priority}"


# -- layers --------------------------------------------------------------------


def user_config_file() -> Path:
    """``adarchive.toml`` in the user's configuration directory (XDG on Linux)."""
    return Path(platformdirs.user_config_dir("adarchive")) / CONFIG_FILE_NAME


def config_file_path(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """The configuration file to read: --config (explicit), $ADARCHIVE_CONFIG, ./, user dir."""
    named = explicit or environ.get(CONFIG_PATH_SETTING)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_PATH_SETTING}: configuration file {path} not found")
        return path.resolve()
    for candidate in (Path.cwd() / CONFIG_FILE_NAME, user_config_file()):
        if candidate.is_file():
            return candidate.resolve()
    return None


def use_config_file(path: str) -> None:
    """``--config FILE``: this process and every crawl or writer it starts read FILE
    (through ``$ADARCHIVE_CONFIG``, which child processes inherit)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"--config: configuration file {file} not found")
    os.environ[CONFIG_PATH_SETTING] = str(file.resolve())


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of a configuration file, each converted and known; else one line."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    defined = specs()
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name not in defined and name not in _scrapy_defaults():
            hint = difflib.get_close_matches(name, list(defined), n=1)
            also = f" (did you mean {hint[0]}?)" if hint else ""
            raise ConfigError(f"{path}: unknown setting {name!r}{also}")
        out[name] = convert(defined[name], value, str(path)) if name in defined else value
    return out


def environment_values(environ: Mapping[str, str]) -> dict[str, Any]:
    """Every defined ``ADARCHIVE_*`` setting present in the environment, converted."""
    return {
        name: convert(spec, environ[name], "environment")
        for name, spec in specs().items()
        if name.startswith(ENV_PREFIX) and name in environ
    }


def unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """``ADARCHIVE_*`` variables that name no setting (typos), each with a hint; the
    test suite's own ``ADARCHIVE_TEST_*`` variables are not settings and not listed."""
    defined = specs()
    out = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in defined and not name.startswith(TEST_PREFIX):
            hint = difflib.get_close_matches(name, list(defined), n=1)
            out.append(f"{name} (did you mean {hint[0]}?)" if hint else name)
    return out


def apply_layers(settings: Any, environ: Mapping[str, str] | None = None) -> Config:
    """Add the file and environment layers to ``settings``, check everything, normalise.

    Idempotent: a second call (the add-on, after ``adarchive crawl`` built the
    settings) sets the same values at the same priorities.
    """
    environ = os.environ if environ is None else environ
    explicit = None
    if (settings.getpriority(CONFIG_PATH_SETTING) or 0) >= PRIORITY_CMDLINE:
        explicit = settings.get(CONFIG_PATH_SETTING)
    path = config_file_path(explicit, environ)
    if path is not None:
        for name, value in read_config_file(path).items():
            settings.set(name, value, priority=PRIORITY_FILE)
    for name, value in environment_values(environ).items():
        settings.set(name, value, priority=PRIORITY_ENV)
    for name in unknown_environment(environ):
        if name not in _warned:  # once per process: the add-on passes again
            _warned.add(name)
            logger.warning("adarchive: environment variable %s is not a setting: ignored", name)
    config = Config.from_settings(settings, path)
    for name, value in config.values.items():
        # Ours only: Scrapy's component dicts keep their per-key priorities.
        if name.startswith(ENV_PREFIX) and settings.get(name) != value:
            settings.set(name, value, priority=settings.getpriority(name))
    if hasattr(settings, "getbool"):  # Scrapy's Settings (Layers hold no components)
        _skip_disabled_extensions(settings)
    return config


# Scrapy extensions that Scrapy imports before they find themselves turned off by their
# setting: the remote control loads aiohttp's web server, 0.1 s of CPU per crawl, the
# telnet console Twisted's conch. Each is loaded again when its setting turns it on.
SKIPPED_WHEN_OFF = {
    "scrapy.extensions.remote_control.RemoteControl": "REMOTE_CONTROL_ENABLED",
    "scrapy.extensions.telnet.TelnetConsole": "TELNETCONSOLE_ENABLED",
}


def _skip_disabled_extensions(settings: Any) -> None:
    """Leave out (never import) the extensions of :data:`SKIPPED_WHEN_OFF` whose setting
    turns them off: None in Scrapy's own table (``EXTENSIONS_BASE``), whose keys Scrapy
    does not import (it imports every key of ``EXTENSIONS``, None or not)."""
    base, extensions = settings["EXTENSIONS_BASE"], settings["EXTENSIONS"]
    for path, enabled in SKIPPED_WHEN_OFF.items():
        if not settings.getbool(enabled) and path in base and path not in extensions:
            base.set(path, None, priority=PRIORITY_DEFAULT)


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Any, Config]:
    """Scrapy settings from every layer (``overrides`` are ``-s``), and their Config."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule(SETTINGS_MODULE, priority="project")
    for name, value in (overrides or {}).items():
        settings.set(name, value, priority=PRIORITY_CMDLINE)
    return settings, apply_layers(settings, environ)


class Layers:
    """The layers without Scrapy, for commands that do not crawl: one value per name,
    replaced by a value set at the same or a higher priority (Scrapy's rule for a
    plain value), with ``get``, ``getpriority`` and ``set`` as ``Settings`` has them.

    Importing Scrapy costs about 0.4 s of CPU, which every store command (``verify``
    included) paid for one value. Scrapy merges its own table settings
    (``ITEM_PIPELINES``, ``DOWNLOADER_MIDDLEWARES``...) key by key across layers,
    which this does not: :func:`setting` reads those through :func:`load_settings`.
    """

    def __init__(self) -> None:
        self._values: dict[str, tuple[Any, int]] = {}

    def set(self, name: str, value: Any, priority: int) -> None:
        held = self._values.get(name)
        if held is None or priority >= held[1]:
            self._values[name] = (value, priority)

    def get(self, name: str, default: Any = None) -> Any:
        held = self._values.get(name)
        return default if held is None else held[0]

    def getpriority(self, name: str) -> int | None:
        held = self._values.get(name)
        return None if held is None else held[1]


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Every setting's checked value from defaults, file and environment, without Scrapy:
    the same values and the same errors as :func:`load_settings` for every ``ADARCHIVE_*``
    setting (tests/test_config_layers.py compares them)."""
    layers = Layers()
    for name, value in project_defaults().items():
        layers.set(name, value, PRIORITY_DEFAULT)
    return apply_layers(layers, environ)


def setting(name: str) -> Any:
    """One setting's effective value outside a crawl (defaults, file, environment)."""
    if name not in specs():
        raise ConfigError(f"{name}: not a defined setting (see crawler/settings.py)")
    if not name.startswith(ENV_PREFIX):
        _, config = load_settings()  # Scrapy's own: its tables merge key by key
        return config[name]
    return load_config()[name]


@cache
def _scrapy_defaults() -> frozenset[str]:
    from scrapy.settings import default_settings

    return frozenset(n for n in dir(default_settings) if n.isupper())


def defined_names() -> frozenset[str]:
    """Names code may read: ours (crawler.settings) and Scrapy's own defaults."""
    return frozenset(specs()) | _scrapy_defaults()


class ConfigAddon:
    """Scrapy add-on: the file and environment layers for ``scrapy crawl`` and Scrapyd.

    Registered in ``ADDONS`` by ``crawler.settings``; runs before any crawler
    exists, so every component sees the same checked values as ``adarchive
    crawl`` gives them.
    """

    @classmethod
    def update_pre_crawler_settings(cls, settings: Any) -> None:
        try:
            apply_layers(settings)
        except ConfigError as exc:
            print(f"adarchive: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    def update_settings(self, settings: Any) -> None:
        """Nothing per crawler: the process-wide pass above already applied the layers."""
