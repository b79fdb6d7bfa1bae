"""Hosts for a test, as Linux network namespaces on one bridge (needs root: CAP_SYS_ADMIN).

Every namespace, veth and address is the test's own: the bridge lives in a namespace too, so
nothing is added to the machine's own network and nothing leaves it. ``Network.close`` kills
what still runs inside and deletes the namespaces (their veths go with them)."""
from __future__ import annotations

import os
import signal
import subprocess
import uuid
from typing import Any

SUBNET = "10.213.0"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def cannot_create() -> str:
    """Why namespaces can't be made here ('' when they can): the reason a test skips."""
    name = f"er-probe-{uuid.uuid4().hex[:6]}"
    try:
        ip("netns", "add", name)
    except FileNotFoundError:
        return "the ip command (iproute2) is not installed"
    except subprocess.CalledProcessError as exc:
        return f"cannot create network namespaces here (ip netns add: {exc.stderr.strip()}); run as root"
    ip("netns", "del", name)
    return ""


class Network:
    """A bridge and hosts on it at 10.213.0.<n>/24."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:4]
        self.switch = f"er{self.tag}-switch"
        self.hosts: dict[str, str] = {}  # role -> namespace
        self.addresses: dict[str, str] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        ip("netns", "add", self.switch)
        self._in(self.switch, "ip", "link", "add", "br0", "type", "bridge")
        self._in(self.switch, "ip", "link", "set", "br0", "up")

    def _in(self, ns: str, *cmd: str) -> None:
        subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, capture_output=True, text=True)

    def add_host(self, role: str, last_octet: int) -> str:
        """A namespace with lo and eth0 (on the bridge) up; returns its address."""
        ns = f"er{self.tag}-{role}"
        ip("netns", "add", ns)
        self.hosts[role] = ns
        host_end, switch_end = f"er{self.tag}h{last_octet}", f"er{self.tag}s{last_octet}"
        ip("link", "add", host_end, "type", "veth", "peer", "name", switch_end)
        ip("link", "set", host_end, "netns", ns, "name", "eth0")
        ip("link", "set", switch_end, "netns", self.switch)
        self._in(self.switch, "ip", "link", "set", switch_end, "master", "br0", "up")
        address = f"{SUBNET}.{last_octet}"
        self._in(ns, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        self._in(ns, "ip", "link", "set", "eth0", "up")
        self._in(ns, "ip", "link", "set", "lo", "up")
        self.addresses[role] = address
        return address

    def run(self, role: str, cmd: list[str], log: Any, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``cmd`` inside the host's namespace."""
        popen = subprocess.Popen(["ip", "netns", "exec", self.hosts[role], *cmd], stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        self.procs.append(popen)
        return popen

    def output(self, role: str, cmd: list[str]) -> str:
        return subprocess.run(["ip", "netns", "exec", self.hosts[role], *cmd], check=True, capture_output=True,
                              text=True, timeout=30).stdout

    def pids(self, role: str) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.hosts[role]], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def kill_host(self, role: str) -> int:
        """SIGKILL every process of the host at once: the machine is gone. Returns how many."""
        pids = self.pids(role)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue  # exited meanwhile
        return len(pids)

    def close(self) -> None:
        for role in self.hosts:
            self.kill_host(role)
        for popen in self.procs:
            try:
                popen.wait(10)
            except subprocess.TimeoutExpired:
                popen.kill()
        for ns in [*self.hosts.values(), self.switch]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
