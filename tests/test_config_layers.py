"""The configuration's layers, checks and ``adarchive settings`` (no crawl).

defaults < configuration file < environment < -s; a bad value stops with one
line naming the setting and where the value came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import adarchive
from crawler.configuration import (
    PRIORITY_ENV,
    PRIORITY_FILE,
    Config,
    ConfigError,
    config_file_path,
    load_config,
    load_settings,
    specs,
)
from crawler.settings_report import mask, mask_url


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ./adarchive.toml, user configuration or ADARCHIVE_* variable but the test's own."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in list(__import__("os").environ):
        if name.startswith("ADARCHIVE_"):
            monkeypatch.delenv(name)
    return work


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_the_settings_module() -> None:
    settings, config = load_settings(environ={})
    assert config["ADARCHIVE_OPERATOR_CONTACT"] == "adarchive-operator@example.org"
    assert config["ADARCHIVE_EVIDENCE_PROCESS"] is True
    assert config.sources["ADARCHIVE_OPERATOR_CONTACT"] == "default"
    assert config.file is None
    assert settings.getint("ADARCHIVE_WARC_MAX_SIZE") == 1_000_000_000


def test_file_then_environment_then_s_override_each_other(isolated: Path) -> None:
    write(
        isolated / "adarchive.toml",
        'ADARCHIVE_OPERATOR_CONTACT = "file@unit.example"\n'
        "ADARCHIVE_WARC_MAX_SIZE = 5000000\n"
        "ADARCHIVE_MAX_SECONDS = 30\n"
        "DOWNLOAD_DELAY = 3.5\n"
        'ADARCHIVE_BROWSER_ARGS = ["--a", "--b=1,2"]\n'
        '[ADARCHIVE_BUDGETS."*"]\nmax_pages = 7\n',
    )
    env = {"ADARCHIVE_OPERATOR_CONTACT": "env@unit.example", "ADARCHIVE_WARC_MAX_SIZE": "6000000"}
    settings, config = load_settings({"ADARCHIVE_WARC_MAX_SIZE": "7000000"}, environ=env)
    file = (isolated / "adarchive.toml").resolve()
    # file only
    assert config["ADARCHIVE_MAX_SECONDS"] == 30.0 and isinstance(
        config["ADARCHIVE_MAX_SECONDS"], float
    )
    assert config.sources["ADARCHIVE_MAX_SECONDS"] == str(file)
    assert settings.getfloat("DOWNLOAD_DELAY") == 3.5
    assert config["ADARCHIVE_BROWSER_ARGS"] == ["--a", "--b=1,2"]
    assert config["ADARCHIVE_BUDGETS"] == {"*": {"max_pages": 7}}
    # environment over file
    assert config["ADARCHIVE_OPERATOR_CONTACT"] == "env@unit.example"
    assert config.sources["ADARCHIVE_OPERATOR_CONTACT"] == "environment"
    assert settings.getpriority("ADARCHIVE_OPERATOR_CONTACT") == PRIORITY_ENV
    # -s over environment over file, and converted to its type
    assert config["ADARCHIVE_WARC_MAX_SIZE"] == 7_000_000
    assert settings.get("ADARCHIVE_WARC_MAX_SIZE") == 7_000_000
    assert config.sources["ADARCHIVE_WARC_MAX_SIZE"] == "-s / command line"
    assert settings.getpriority("ADARCHIVE_MAX_SECONDS") == PRIORITY_FILE


def test_environment_values_are_typed_by_the_setting() -> None:
    env = {
        "ADARCHIVE_WARC_ENABLED": "false",
        "ADARCHIVE_BACKOFF_MAX": "120",
        "ADARCHIVE_CONTACTS_WORKERS": "0",
        "ADARCHIVE_BROWSER_ARGS": '["--x=1,2", "--y"]',
        "ADARCHIVE_BUDGETS": '{"kz_board": {"max_pages": 3}}',
        "ADARCHIVE_PROXY": "",
        "ADARCHIVE_SCALE_DELAY": "0.5",
    }
    settings, config = load_settings(environ=env)
    assert config["ADARCHIVE_WARC_ENABLED"] is False
    assert settings.get("ADARCHIVE_WARC_ENABLED") is False
    assert config["ADARCHIVE_BACKOFF_MAX"] == 120.0
    assert config["ADARCHIVE_CONTACTS_WORKERS"] == 0
    assert config["ADARCHIVE_BROWSER_ARGS"] == ["--x=1,2", "--y"]
    assert settings.getdict("ADARCHIVE_BUDGETS") == {"kz_board": {"max_pages": 3}}
    assert config["ADARCHIVE_PROXY"] is None
    assert config["ADARCHIVE_SCALE_DELAY"] == 0.5


def test_every_adarchive_setting_can_come_from_the_environment() -> None:
    """Each one, by its own type: the default's text form read back gives the default."""
    env = {}
    for name, spec in specs().items():
        if (
            name.startswith("ADARCHIVE_")
            and spec.default is not None
            and name != "ADARCHIVE_CONFIG"
        ):
            value = spec.default
            env[name] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    _, config = load_settings(environ=env)
    assert len(env) > 40
    for name in env:
        assert config.sources[name] == "environment", name
        assert config[name] == specs()[name].default, name


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ADARCHIVE_WARC_MAX_SIZE": "1GB"},
         "ADARCHIVE_WARC_MAX_SIZE: expected a whole number, got '1GB' (from environment)"),
        ({"ADARCHIVE_WARC_ENABLED": "maybe"},
         "ADARCHIVE_WARC_ENABLED: expected true or false, got 'maybe' (from environment)"),
        ({"ADARCHIVE_BUDGETS": "{not json"},
         "ADARCHIVE_BUDGETS: expected a table (JSON object), got '{not json' (from environment)"),
        ({"ADARCHIVE_MAX_SECONDS": "-5"},
         "ADARCHIVE_MAX_SECONDS: must not be negative, got -5.0 (from environment)"),
        ({"ADARCHIVE_OPERATOR_CONTACT": "  "},
         "ADARCHIVE_OPERATOR_CONTACT: must not be empty, site operators must reach a human (from environment)"),
        ({"ADARCHIVE_OPERATOR_CONTACT": "a@b.example\r\nX-Injected: 1"},
         "ADARCHIVE_OPERATOR_CONTACT: contains a control character"),
        ({"ADARCHIVE_SHUTDOWN_GRACE": "30"},
         "ADARCHIVE_SHUTDOWN_GRACE (30.0, from environment) is larger than "
         "ADARCHIVE_SHUTDOWN_TIMEOUT (8.0, from default)"),
        ({"ADARCHIVE_BACKOFF_BASE": "500"},
         "ADARCHIVE_BACKOFF_BASE (500.0, from environment) is larger than "
         "ADARCHIVE_BACKOFF_MAX (300.0, from default)"),
        ({"ADARCHIVE_CONFIG": "/nonexistent/adarchive.toml"},
         "ADARCHIVE_CONFIG: configuration file /nonexistent/adarchive.toml not found"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("scrapy", [True, False], ids=["scrapy", "without-scrapy"])
def test_bad_values_stop_with_one_line_naming_the_setting(
    env: dict[str, str], message: str, scrapy: bool
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env) if scrapy else load_config(environ=env)
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text


def test_commands_that_do_not_crawl_read_the_same_configuration_without_scrapy(
    isolated: Path,
) -> None:
    """``setting()`` (every store command) reads the layers without Scrapy's ``Settings``:
    the same value, source and file for every ADARCHIVE_* setting as a crawl gets."""
    write(
        isolated / "adarchive.toml",
        'ADARCHIVE_OPERATOR_CONTACT = "file@unit.example"\n'
        "ADARCHIVE_WARC_MAX_SIZE = 5000000\n"
        "ADARCHIVE_MAX_SECONDS = 30\n"
        "DOWNLOAD_DELAY = 3.5\n"
        "COOKIES_ENABLED = false\n"  # Scrapy's own, not ours: still a known name
        'ITEM_PIPELINES = {"pipelines.store.StorePipeline" = 800}\n'
        '[ADARCHIVE_BUDGETS."*"]\nmax_pages = 7\n',
    )
    env = {"ADARCHIVE_OPERATOR_CONTACT": "env@unit.example", "ADARCHIVE_PROXY": "",
           "ADARCHIVE_BROWSER_ARGS": '["--x=1,2"]', "ADARCHIVE_DB": "sqlite:////tmp/x.db"}  # fmt: skip
    _, full = load_settings(environ=env)
    light = load_config(environ=env)
    ours = [name for name in specs() if name.startswith("ADARCHIVE_")]
    assert {n: light[n] for n in ours} == {n: full[n] for n in ours}
    assert {n: light.sources[n] for n in ours} == {n: full.sources[n] for n in ours}
    assert light.file == full.file == (isolated / "adarchive.toml").resolve()
    assert light["ADARCHIVE_OPERATOR_CONTACT"] == "env@unit.example"
    assert light.sources["ADARCHIVE_WARC_MAX_SIZE"] == str(light.file)
    assert light["ADARCHIVE_BUDGETS"] == {"*": {"max_pages": 7}}


def test_bad_values_in_the_file_and_in_s_name_their_source(isolated: Path) -> None:
    file = write(isolated / "adarchive.toml", 'ADARCHIVE_BROWSER_MAX_PAGES = "two"\n').resolve()
    with pytest.raises(ConfigError, match=rf"ADARCHIVE_BROWSER_MAX_PAGES: .* \(from {file}\)$"):
        load_settings(environ={})
    file.write_text("ADARCHIVE_WARC_MAX_SZE = 5\n")
    with pytest.raises(
        ConfigError,
        match="unknown setting 'ADARCHIVE_WARC_MAX_SZE' \\(did you mean ADARCHIVE_WARC_MAX_SIZE\\?\\)",
    ):
        load_settings(environ={})
    file.write_text("ADARCHIVE_WARC_MAX_SIZE = = 5\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={})
    file.unlink()
    with pytest.raises(
        ConfigError, match=r"RETRY_TIMES: expected a whole number, got 'often' \(from -s"
    ):
        load_settings({"RETRY_TIMES": "often"}, environ={})


def test_the_configuration_file_is_found_in_order(isolated: Path, tmp_path: Path) -> None:
    user = write(tmp_path / "xdg" / "adarchive" / "adarchive.toml", "")
    assert config_file_path(None, {}) == user.resolve()
    local = write(isolated / "adarchive.toml", "")
    assert config_file_path(None, {}) == local.resolve()
    named = write(tmp_path / "elsewhere.toml", "")
    assert config_file_path(None, {"ADARCHIVE_CONFIG": str(named)}) == named.resolve()
    explicit = write(tmp_path / "explicit.toml", "")
    assert config_file_path(str(explicit), {"ADARCHIVE_CONFIG": str(named)}) == explicit.resolve()
    # -s ADARCHIVE_CONFIG=... picks the file too
    write(explicit, 'ADARCHIVE_WARC_PREFIX = "case17"\n')
    _, config = load_settings({"ADARCHIVE_CONFIG": str(explicit)}, environ={})
    assert config["ADARCHIVE_WARC_PREFIX"] == "case17" and config.file == explicit.resolve()


def test_config_object_rejects_unknown_names() -> None:
    _, config = load_settings(environ={})
    with pytest.raises(ConfigError, match="ADARCHIVE_NOPE: not a defined setting"):
        config["ADARCHIVE_NOPE"]
    assert isinstance(config, Config)


def test_masking_hides_credentials_everywhere() -> None:
    assert mask("ADARCHIVE_KEY_PASSPHRASE", "hunter2") == "***"
    assert mask("ADARCHIVE_KEY_PASSPHRASE", None) is None
    assert mask("ADARCHIVE_PROXY", "http://alice:hunter2@proxy.example:3128") == (
        "http://***:***@proxy.example:3128"
    )
    assert mask("ADARCHIVE_DB", "postgresql+psycopg://app:pw@db.example/adarchive") == (
        "postgresql+psycopg://***:***@db.example/adarchive"
    )
    masked = mask(
        "ADARCHIVE_BUDGETS", {"*": {"proxy": "socks5://u:p@10.0.0.1:1080", "max_pages": 5}}
    )
    assert masked == {"*": {"proxy": "socks5://***:***@10.0.0.1:1080", "max_pages": 5}}
    hook = mask_url("https://hooks.example/services/T000/B000/abcdefSECRET?token=zzz&channel=ops")
    assert "abcdefSECRET" not in hook and "zzz" not in hook and "channel=ops" in hook
    assert "SECRET" not in mask_url("https://chat.example/webhook/abcSECRET")
    assert mask("ADARCHIVE_OPERATOR_CONTACT", "ops@unit.example") == "ops@unit.example"


def test_settings_command_prints_values_sources_and_masks(tmp_path: Path) -> None:
    config = write(
        tmp_path / "case.toml",
        'ADARCHIVE_WARC_PREFIX = "case17"\nADARCHIVE_PROXY = "http://alice:hunter2@proxy.example:3128"\n',
    )
    env = {
        "ADARCHIVE_OPERATOR_CONTACT": "unit7@police.example",
        "ADARCHIVE_KEY_PASSPHRASE": "hunter2",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    result = adarchive(
        "settings", "--config", str(config), "-s", "ADARCHIVE_MAX_DEPTH=4", env=env, check=True
    )
    out = result.stdout
    assert "hunter2" not in out + result.stderr
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert lines["ADARCHIVE_OPERATOR_CONTACT"].split()[1:] == [
        '"unit7@police.example"',
        "environment",
    ]
    assert lines["ADARCHIVE_WARC_PREFIX"].split()[1:] == ['"case17"', str(config.resolve())]
    assert lines["ADARCHIVE_PROXY"].split()[1:] == [
        '"http://***:***@proxy.example:3128"',
        str(config.resolve()),
    ]
    assert lines["ADARCHIVE_KEY_PASSPHRASE"].split()[1:] == ['"***"', "environment"]
    assert lines["ADARCHIVE_MAX_DEPTH"].split()[1:] == ["4", "-s", "/", "command", "line"]
    assert lines["ADARCHIVE_WARC_MAX_SIZE"].split()[1:] == ["1000000000", "default"]
    assert len(lines) == sum(1 for n in specs() if n.startswith("ADARCHIVE_"))
    # --config after the command, JSON output, a chosen setting
    result = adarchive("settings", "ADARCHIVE_WARC_PREFIX", "--json", "--config", str(config),
                       env=env, check=True)  # fmt: skip
    assert json.loads(result.stdout) == {
        "name": "ADARCHIVE_WARC_PREFIX", "value": "case17", "source": str(config.resolve())
    }  # fmt: skip


def test_settings_command_bad_value_is_one_line(tmp_path: Path) -> None:
    env = {"ADARCHIVE_WARC_MAX_SIZE": "big", "XDG_CONFIG_HOME": str(tmp_path)}
    result = adarchive("settings", env=env)
    assert result.returncode == 2
    assert result.stderr == (
        "adarchive: error: ADARCHIVE_WARC_MAX_SIZE: expected a whole number, got 'big' "
        "(from environment)\n"
    )
    result = adarchive(
        "platforms",
        "--config",
        str(tmp_path / "missing.toml"),
        env={"XDG_CONFIG_HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "configuration file" in result.stderr


def test_a_misspelt_environment_variable_is_reported(tmp_path: Path) -> None:
    env = {"ADARCHIVE_OPERATOR_CONTCT": CONTACT_TYPO, "XDG_CONFIG_HOME": str(tmp_path)}
    result = adarchive("settings", "ADARCHIVE_OPERATOR_CONTACT", env=env, check=True)
    assert "adarchive-operator@example.org" in result.stdout  # not taken
    assert result.stderr == (
        "adarchive: environment variable ADARCHIVE_OPERATOR_CONTCT (did you mean "
        "ADARCHIVE_OPERATOR_CONTACT?) is not a setting: ignored\n"
    )


CONTACT_TYPO = "unit7@police.example"


def test_scrapy_number_settings_keep_accepting_fractions() -> None:
    """DOWNLOAD_TIMEOUT's default is a whole number, but Scrapy reads it as seconds."""
    settings, _ = load_settings({"DOWNLOAD_TIMEOUT": "1.5"}, environ={})
    assert settings.getfloat("DOWNLOAD_TIMEOUT") == 1.5
    with pytest.raises(ConfigError, match="ADARCHIVE_MAX_DEPTH: expected a whole number"):
        load_settings({"ADARCHIVE_MAX_DEPTH": "1.5"}, environ={})


def test_an_extension_turned_off_by_its_setting_is_never_imported() -> None:
    # Scrapy imports every listed extension before it reads its on/off setting: the remote
    # control (aiohttp's web server, 0.1 s of CPU per crawl) is left out while it is off.
    remote = "scrapy.extensions.remote_control.RemoteControl"
    telnet = "scrapy.extensions.telnet.TelnetConsole"
    settings, _ = load_settings({}, environ={})
    # What Scrapy's ExtensionManager reads (it imports every key of EXTENSIONS on the way).
    loaded = settings.get_component_priority_dict_with_base("EXTENSIONS")
    assert remote not in loaded and telnet not in loaded
    assert "crawler.schedule.progress.ProgressExtension" in loaded
    settings, _ = load_settings({"REMOTE_CONTROL_ENABLED": True}, environ={})
    assert remote in settings.get_component_priority_dict_with_base("EXTENSIONS")
    settings, _ = load_settings({"TELNETCONSOLE_ENABLED": True}, environ={})
    loaded = settings.get_component_priority_dict_with_base("EXTENSIONS")
    assert telnet in loaded and remote not in loaded
