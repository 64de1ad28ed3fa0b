"""Settings: read once, typed, demo secrets in demo mode, production refuses to start without secrets."""
import pytest

from backend.config import ConfigError, load_settings


def test_demo_mode_makes_stable_development_secrets(tmp_path):
    a = load_settings(environ={"EJIA_VAR": str(tmp_path)})
    b = load_settings(environ={"EJIA_VAR": str(tmp_path)})
    assert a.secret_key and a.secret_key == b.secret_key and len(a.wechat_aes_key) == 43
    assert a.database_url == f"sqlite+pool:///{(tmp_path / 'ejia.db').resolve()}?check_same_thread=false"
    assert a.media_dir == tmp_path / "media" and a.redis_url == ""


def test_production_names_every_missing_variable():
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"EJIA_ENV": "production", "SECRET_KEY": "x"})
    message = str(err.value)
    for name in ("FIELD_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY",
                 "DATABASE_URL", "REDIS_URL"):
        assert name in message
    assert "SECRET_KEY," not in message.split("set: ")[1] + ","


def test_production_with_tencent_sms_needs_its_keys():
    env = {"EJIA_ENV": "production", "SECRET_KEY": "s", "FIELD_KEY": "f", "WECHAT_APP_ID": "wx1",
           "WECHAT_APP_SECRET": "x", "WECHAT_TOKEN": "t", "WECHAT_AES_KEY": "a" * 43,
           "DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r:6379/0", "SMS_PROVIDER": "tencent"}
    with pytest.raises(ConfigError, match="SMS_TENCENT_SECRET_ID"):
        load_settings(environ=env)
    settings = load_settings(environ={**env, "SMS_TENCENT_SECRET_ID": "i", "SMS_TENCENT_SECRET_KEY": "k"})
    assert settings.production and settings.secret_key == "s"


def test_production_accepts_only_safe_mode_pushes_unless_told_otherwise():
    assert load_settings(environ={}).wechat_encrypt_mode == "plain"  # demo: the sandbox may send any
    env = {"EJIA_ENV": "production", "SECRET_KEY": "s", "FIELD_KEY": "f", "WECHAT_APP_ID": "wx1",
           "WECHAT_APP_SECRET": "x", "WECHAT_TOKEN": "t", "WECHAT_AES_KEY": "a" * 43,
           "DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r:6379/0"}
    assert load_settings(environ=env).wechat_encrypt_mode == "safe"
    assert load_settings(environ={**env, "WECHAT_ENCRYPT_MODE": "compatible"}).wechat_encrypt_mode == "compatible"


@pytest.mark.parametrize("env, name", [
    ({"EJIA_ENV": "staging"}, "EJIA_ENV"),
    ({"WECHAT_TIMESTAMP_WINDOW": "five"}, "WECHAT_TIMESTAMP_WINDOW"),
    ({"WEBHOOK_ALLOW_LOOPBACK": "maybe"}, "WEBHOOK_ALLOW_LOOPBACK"),
    ({"OFFICE_HOURS": "9-5"}, "OFFICE_HOURS"),
    ({"SMS_PROVIDER": "pigeon"}, "SMS_PROVIDER"),
    ({"WECHAT_LOCATION_DATUM": "bd09"}, "WECHAT_LOCATION_DATUM"),
    ({"WECHAT_ENCRYPT_MODE": "aes"}, "WECHAT_ENCRYPT_MODE"),
    ({"WECHAT_SPOOL_MAX_MB": "0"}, "WECHAT_SPOOL_MAX_MB"),
    ({"REDIS_REQUEST_TIMEOUT_MS": "-5"}, "REDIS_REQUEST_TIMEOUT_MS"),
])
def test_malformed_values_are_refused_naming_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        load_settings(environ=env)


def test_trusted_proxies_is_a_small_count():
    assert load_settings(environ={"TRUSTED_PROXIES": "1"}).trusted_proxies == 1
    for bad in ("-1", "9", "yes"):
        with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
            load_settings(environ={"TRUSTED_PROXIES": bad})
