from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_support import REPO
from trialsync_async.errors import ConfigError
from trialsync_async.log import MASK, redact_secrets
from trialsync_async.settings import Settings

pytestmark = pytest.mark.unit


def test_defaults_and_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TRIALSYNC_CONCURRENCY=3\nDATABASE_URL=postgresql://from-file/db\n")
    settings = Settings.from_env(
        {"DATABASE_URL": "postgresql://h/db", "TRIALSYNC_PAGE_SIZE": "200"}, env_file=env_file
    )
    assert settings.database_url == "postgresql://h/db"  # the environment wins over .env
    assert settings.concurrency == 3
    assert settings.page_size == 200
    assert Settings.from_env({}, env_file=None).database_url is None


@pytest.mark.parametrize(
    "env",
    [
        {"TRIALSYNC_PAGE_SIZE": "5000"},
        {"TRIALSYNC_CONCURRENCY": "zero"},
        {"TRIALSYNC_CONCURRENCY": "0"},
        {"TRIALSYNC_LOG_FORMAT": "xml"},
    ],
)
def test_bad_settings_are_refused(env: dict) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env, env_file=None)


def test_secrets_are_masked_in_log_events() -> None:
    event = {"event": "x", "api_key": "s3cret", "password": "p", "record_key": "id", "n": 1}
    out = redact_secrets(None, "info", dict(event))
    assert out["api_key"] == MASK and out["password"] == MASK
    assert out["record_key"] == "id" and out["n"] == 1


def test_dsn_passwords_are_masked() -> None:
    from trialsync_async.db.connect import redact_dsn

    assert redact_dsn("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_dsn("postgresql://u@h/db") == "postgresql://u@h/db"


def test_every_setting_is_documented_and_coerced_from_its_annotation() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [env for env in Settings.ENV.values() if f"`{env}`" not in readme]
    assert not missing, f"README's environment table lacks {missing}"
    s = Settings.from_env(
        {"TRIALSYNC_JOBS_FILE": "/x/jobs.toml", "TRIALSYNC_HTTP_TIMEOUT": "5",
         "TRIALSYNC_LOG_LEVEL": "debug", "TRIALSYNC_LOG_FORMAT": "JSON"},
        env_file=None,
    )  # fmt: skip
    assert s.jobs_file == Path("/x/jobs.toml") and s.http_timeout == 5.0
    assert (s.log_level, s.log_format) == ("DEBUG", "json")
    assert Settings().jobs_file is None  # the packaged inventory


def test_flags_are_overrides_of_the_same_fields() -> None:
    s = Settings().with_overrides(concurrency=3, page_size=None)
    assert s.run_options().concurrency == 3 and s.http_connections == 8
    assert s.run_options().page_size == Settings().page_size
    with pytest.raises(TypeError):
        Settings().with_overrides(no_such_setting=1)
    with pytest.raises(ConfigError):
        Settings().with_overrides(page_size=5000)


def test_the_env_file_of_a_working_copy_applies_in_its_subdirectories(tmp_path: Path) -> None:
    from trialsync_async.settings import find_env_file

    root = tmp_path / "copy"
    (root / ".trialsync").mkdir(parents=True)
    (root / "src" / "pkg").mkdir(parents=True)
    assert find_env_file(root / "src" / "pkg") is None
    (root / ".env").write_text("DATABASE_URL=postgresql://u@h/db\n")
    assert find_env_file(root / "src" / "pkg") == root / ".env"
    (root / "src" / ".env").write_text("")
    assert find_env_file(root / "src" / "pkg") == root / "src" / ".env"  # the nearest wins
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / ".env").write_text("")  # above any working copy: not ours
    assert find_env_file(tmp_path / "elsewhere") is None
