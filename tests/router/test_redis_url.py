"""redis_url: the schemes connect() takes, Sentinel URLs parsed, secrets kept out of log lines."""
from __future__ import annotations

import pytest

from router.config import parse_config
from router.errors import ConfigError
from router.redis_server import connect
from router.redis_url import SentinelURL, safe_url


def test_a_sentinel_url_names_every_sentinel_the_service_the_db_and_the_credentials() -> None:
    url = "redis+sentinel://app:s%40cret@10.0.0.1:26379,10.0.0.2:26380/orders?db=3&sentinel_password=sp"
    assert SentinelURL.parse(url) == SentinelURL(
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26380)), service="orders", db=3,
        username="app", password="s@cret", sentinel_password="sp",
    )


def test_a_sentinel_url_takes_tls_options_for_the_data_nodes() -> None:
    client = connect("redis+sentinel://127.0.0.1:26379/mymaster?ssl=1&ssl_ca_certs=/etc/ca.pem")
    pool = client.connection_pool
    assert pool.connection_kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    assert "SSL" in pool.connection_class.__mro__[1].__name__


def test_a_sentinel_url_may_give_the_db_as_a_path_segment() -> None:
    assert SentinelURL.parse("redis+sentinel://h:26379/mymaster/2").db == 2


@pytest.mark.parametrize("url, reason", [
    ("redis+sentinel://h/mymaster", "wants host:port"),
    ("redis+sentinel://h:26379", "needs the monitored service name"),
    ("redis+sentinel://h:26379/m?db=x", "db must be a number"),
    ("redis+sentinel://h:26379/m?pasword=x", "does not know pasword"),
])
def test_a_bad_sentinel_url_is_refused_at_start_up_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        parse_config({"redis_url": url})


def test_a_url_of_another_scheme_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="redis_url: embedded, or a URL starting with redis://"):
        parse_config({"redis_url": "http://redis:6379"})


def test_a_sentinel_url_gives_a_client_that_asks_the_sentinels_for_the_master() -> None:
    client = connect("redis+sentinel://127.0.0.1:26379/mymaster?db=4")
    pool = client.connection_pool
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["db"] == 4
    assert pool.connection_kwargs["socket_timeout"] == 10


def test_a_tls_url_gives_a_tls_client_with_the_acl_user() -> None:
    client = connect("rediss://worker:pw@redis.internal:6380/1")
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("worker", "pw", 1)
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"


@pytest.mark.parametrize("url, shown", [
    ("redis://:pw@h:6379/0", "redis://***@h:6379/0"),
    ("rediss://user:pw@h:6380/1", "rediss://***@h:6380/1"),
    ("redis+sentinel://u:pw@a:1,b:2/m?db=3&sentinel_password=sp", "redis+sentinel://***@a:1,b:2/m?db=3&sentinel_password=***"),
    ("redis://h:6379/0", "redis://h:6379/0"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
])
def test_a_redis_url_is_shown_without_its_passwords(url: str, shown: str) -> None:
    assert safe_url(url) == shown


@pytest.mark.parametrize("url, reason", [
    ("redis://127.0.0.1:6379/0?ssl_ca_cert=/etc/ca.pem", "does not know ssl_ca_cert"),
    ("rediss://127.0.0.1:6380/0?ssl_cert_reqs=nonee", "Invalid SSL Certificate Requirements Flag: nonee"),
    ("redis://127.0.0.1:6379/0?socket_timeout=ten", "Invalid value for 'socket_timeout'"),
    ("redis://127.0.0.1:63x9/0", "the port must be a number"),
    ("redis://127.0.0.1:6379/zero", "the db .* must be a number"),
    ("redis+sentinel://127.0.0.1:26379/m?ssl=1&ssl_ca_cert=/etc/ca.pem", "does not know ssl_ca_cert"),
    ("redis+sentinel://127.0.0.1:26379/m?ssl_ca_certs=/etc/ca.pem", "ssl_ca_certs only with ssl=1"),
    ("rediss://127.0.0.1:6380/0?ssl_ca_certs=/nonexistent/ca.pem", "ssl_ca_certs: cannot read /nonexistent/ca.pem"),
    ("redis+sentinel://127.0.0.1:26379/m?ssl=1&ssl_certfile=/nonexistent/c.pem", "ssl_certfile: cannot read /nonexistent/c.pem"),
])
def test_a_redis_url_with_a_typo_is_refused_at_start_up_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        parse_config({"redis_url": url})


@pytest.mark.parametrize("url, reason", [
    ("redis://127.0.0.1:6379/0?socket_timeout=nan", "socket_timeout must be a number of seconds, not nan"),
    ("redis://127.0.0.1:6379/0?socket_connect_timeout=1e400", "socket_connect_timeout must be a number of seconds, not inf"),
    ("redis://127.0.0.1:6379/0?health_check_interval=-5", "health_check_interval must be a number of seconds, not -5"),
    ("redis://127.0.0.1:6379/" + "9" * 40, "the db must be a number from 0"),
    ("redis+sentinel://127.0.0.1:26379/m?db=99999999999", "the db must be a number from 0"),
    ("unix://", "unix:// needs the socket's path"),
    ("redis://127.0.0.1\x00:6379/0", "control character"),
    ("redis+sentinel://127.0.0.1:26379/m\nX", "control character"),
])
def test_a_redis_url_whose_numbers_no_connection_can_use_is_refused_at_start_up(url: str, reason: str) -> None:
    """NaN or infinite seconds, a db Redis can't select, no socket path: redis-py takes them, and
    every connect would then fail (a 503 for every event) instead of one clear error at start-up."""
    with pytest.raises(ConfigError, match=reason):
        parse_config({"redis_url": url})


@pytest.mark.parametrize("url", [
    "redis://:s3cr/et@127.0.0.1:6379/0",
    "rediss://app:s3cr/et@127.0.0.1:6380/0",
    "redis+sentinel://app:s3cr/et@127.0.0.1:26379/m",
])
def test_a_password_with_an_unencoded_slash_is_refused_without_showing_any_of_it(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"redis_url": url})
    assert "s3cr" not in str(refused.value)
    assert "percent-encoded" in str(refused.value)


def test_a_sentinel_url_turns_tls_flags_into_booleans_as_a_rediss_url_does() -> None:
    client = connect("redis+sentinel://127.0.0.1:26379/mymaster?ssl=1&ssl_ca_certs=/etc/ca.pem&ssl_check_hostname=false")
    assert client.connection_pool.make_connection().check_hostname is False
    plain = connect("rediss://127.0.0.1:6380/0?ssl_ca_certs=/etc/ca.pem&ssl_check_hostname=false")
    assert plain.connection_pool.make_connection().check_hostname is False
