"""A real Redis master, its replicas and three sentinels on 127.0.0.1, for failover tests
and bench/failover.py. Debian's redis-server / redis-sentinel (`apt-get install
redis-sentinel`); ``missing()`` says what is not installed."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.e2e.procs import free_port

SERVICE = "mymaster"


def binaries() -> tuple[str | None, str | None]:
    """(redis-server, redis-sentinel): Debian's when installed, else whatever is on PATH."""
    server = "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else shutil.which("redis-server")
    sentinel = "/usr/bin/redis-sentinel" if os.path.exists("/usr/bin/redis-sentinel") else shutil.which("redis-sentinel")
    return server, sentinel


def missing() -> str:
    """Why the topology cannot be built here, or ''."""
    server, sentinel = binaries()
    if not server or not sentinel:
        return "redis-server and redis-sentinel are needed (apt-get install -y redis-sentinel; .ci/install-clients does it)"
    return ""


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass  # not up yet
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


class Node:
    """One redis-server (or sentinel) process on a port of its own."""

    def __init__(self, tmp: Path, name: str, args: list[str]) -> None:
        self.port = free_port()
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.args = args
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [a.replace("{port}", str(self.port)).replace("{dir}", str(self.dir)) for a in self.args]
        log = (self.dir / "log").open("ab")
        self.popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        wait_until(lambda: self.client().ping(), 10, f"{self.name} on port {self.port}")

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1)

    def kill(self) -> None:
        """SIGKILL: no chance to flush, to hand over, or to say goodbye."""
        if self.popen and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class RedisHA:
    """A master with ``replicas`` replicas (AOF everysec, as in production) and three sentinels
    (quorum 2, down after 1 s)."""

    def __init__(self, tmp: Path, replicas: int = 1, down_after_ms: int = 1000) -> None:
        server, sentinel = binaries()
        assert server and sentinel, missing()
        self.tmp = tmp
        data = [server, "--port", "{port}", "--bind", "127.0.0.1", "--dir", "{dir}", "--appendonly", "yes",
                "--appendfsync", "everysec", "--save", "", "--daemonize", "no"]
        self.master = Node(tmp, "master", data)
        self.replicas = [Node(tmp, f"replica{i}", data + ["--replicaof", "127.0.0.1", str(self.master.port)])
                         for i in range(replicas)]
        self.sentinels = []
        for i in range(3):
            node = Node(tmp, f"sentinel{i}", [sentinel, str(tmp / f"sentinel{i}" / "sentinel.conf")])
            (node.dir / "sentinel.conf").write_text(
                f"port {node.port}\nbind 127.0.0.1\ndaemonize no\ndir {node.dir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self.sentinels.append(node)
        self.nodes = [self.master, *self.replicas]

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels) + f"/{SERVICE}"

    def start(self) -> "RedisHA":
        for node in [*self.nodes, *self.sentinels]:
            node.start()
        for r in self.replicas:
            wait_until(lambda r=r: r.client().info("replication")["master_link_status"] == "up", 20, "replication link")
        # every sentinel knows the replicas and the other two sentinels: a failover can be voted. A
        # sentinel learns replicas from the master's INFO every 10 s, so a loaded machine can take a while
        for s in self.sentinels:
            wait_until(lambda s=s: len(s.client().sentinel_slaves(SERVICE)) == len(self.replicas)
                       and len(s.client().sentinel_sentinels(SERVICE)) == 2, 60, "sentinels to discover each other")
        return self

    def master_port(self) -> int:
        host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def current_master(self) -> Node:
        port = self.master_port()
        return next(n for n in self.nodes if n.port == port)

    def wait_failover(self, old: Node, timeout: float = 30) -> Node:
        """The promoted node, once every sentinel names it and it answers as a master."""
        def moved() -> bool:
            ports = {int(s.client().sentinel_get_master_addr_by_name(SERVICE)[1]) for s in self.sentinels}
            return len(ports) == 1 and old.port not in ports
        wait_until(moved, timeout, "the sentinels to promote a replica")
        new = self.current_master()
        wait_until(lambda: new.client().info("replication")["role"] == "master", timeout, "the promoted master")
        return new

    def stop(self) -> None:
        for node in [*self.sentinels, *self.nodes]:
            node.stop()
