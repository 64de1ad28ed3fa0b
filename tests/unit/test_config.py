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
    ({"OUTBOX_DRAIN_THREADS": "four"}, "OUTBOX_DRAIN_THREADS"),
    ({"OUTBOX_DRAIN_THREADS": "0"}, "OUTBOX_DRAIN_THREADS"),
    ({"OUTBOX_DRAIN_THREADS": "500"}, "OUTBOX_DRAIN_THREADS"),
])
def test_malformed_values_are_refused_naming_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        load_settings(environ=env)


def test_trusted_proxies_is_a_small_count():
    assert load_settings(environ={"TRUSTED_PROXIES": "1"}).trusted_proxies == 1
    for bad in ("-1", "9", "yes"):
        with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
            load_settings(environ={"TRUSTED_PROXIES": bad})


def test_a_sentinel_url_names_its_sentinels_service_database_and_passwords():
    from backend.redis_conn import parse_sentinel_url

    target = parse_sentinel_url("redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2,sentinel-3:26380/ejia/2"
                                "?sentinel_password=sp")
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("sentinel-3", 26380))
    assert (target.service, target.db, target.password, target.sentinel_password) == ("ejia", 2, "s3cret", "sp")
    assert target.username is None
    plain = parse_sentinel_url("redis+sentinel://h:1/mymaster")
    assert (plain.service, plain.db, plain.password) == ("mymaster", 0, None)


@pytest.mark.parametrize("url, says", [
    ("redis+sentinel://h:26379", "/<service>/<db>"),
    ("redis+sentinel://h:26379/ejia/zero", "'zero' is not a number"),
    ("redis+sentinel://h:port/ejia/0", "'h:port' is not a Sentinel host:port"),
    ("redis+sentinel://h:99999/ejia/0", "is not a Sentinel host:port"),
    ("redis+sentinel:///ejia/0", "at least one Sentinel"),
    ("redis+sentinel://h:1/ejia/0/extra", "/<service>/<db>"),
])
def test_a_malformed_sentinel_url_refuses_to_start_naming_redis_url(url, says):
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"REDIS_URL": url})
    assert str(err.value).startswith("REDIS_URL:") and says in str(err.value)


def test_a_replica_url_is_a_postgresql_replica_of_a_postgresql_primary_or_the_primary_itself():
    primary = "postgresql://u@db1/ejia"
    same = load_settings(environ={"DATABASE_URL": primary, "DATABASE_REPLICA_URL": primary})
    assert same.database_replica_url == primary and same.database_replica_max_lag_seconds == 10
    other = load_settings(environ={"DATABASE_URL": primary, "DATABASE_REPLICA_URL": "postgresql+pool://u@db2/ejia",
                                   "DATABASE_REPLICA_MAX_LAG_SECONDS": "30"})
    assert other.database_replica_max_lag_seconds == 30
    sqlite = "sqlite:////tmp/x.db"
    assert load_settings(environ={"DATABASE_URL": sqlite, "DATABASE_REPLICA_URL": sqlite}).database_replica_url
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_URL: a read replica needs a PostgreSQL DATABASE_URL"):
        load_settings(environ={"DATABASE_URL": sqlite, "DATABASE_REPLICA_URL": primary})
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_URL: unsupported scheme 'mysql'"):
        load_settings(environ={"DATABASE_URL": primary, "DATABASE_REPLICA_URL": "mysql://db2/ejia"})
    with pytest.raises(ConfigError, match="DATABASE_REPLICA_MAX_LAG_SECONDS"):
        load_settings(environ={"DATABASE_URL": primary, "DATABASE_REPLICA_MAX_LAG_SECONDS": "0"})
