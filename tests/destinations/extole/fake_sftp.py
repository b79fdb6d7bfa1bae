"""A local SFTP server (paramiko) that plays Extole's sftp.extole.io: key auth for one user, files under a root dir."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import paramiko
from paramiko import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface


class _Auth(paramiko.ServerInterface):
    def __init__(self, username: str, key: paramiko.PKey) -> None:
        self.username, self.key = username, key

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = username == self.username and key.get_base64() == self.key.get_base64()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(SFTPHandle):
    def stat(self) -> Any:
        return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))


class _Files(SFTPServerInterface):
    """Only what a put needs: open for writing, stat, close."""

    root: Path

    def _local(self, path: str) -> Path:
        return self.root / self.canonicalize(path).lstrip("/")

    def open(self, path: str, flags: int, attr: Any) -> Any:
        local = self._local(path)
        if not local.parent.is_dir():
            return SFTP_NO_SUCH_FILE
        handle = _Handle(flags)
        f = open(local, "w+b" if flags & os.O_WRONLY or flags & os.O_RDWR else "rb")
        handle.readfile = handle.writefile = f
        return handle

    def stat(self, path: str) -> Any:
        local = self._local(path)
        return SFTPAttributes.from_stat(local.stat()) if local.exists() else SFTP_NO_SUCH_FILE

    lstat = stat

    def remove(self, path: str) -> int:
        return SFTP_FAILURE

    def chattr(self, path: str, attr: Any) -> int:
        return SFTP_OK


class FakeSftp:
    """``with FakeSftp(tmp, "acme", user_key) as sftp: ... sftp.port, sftp.host_key``; files land under ``root``."""

    def __init__(self, root: Path, username: str, user_key: paramiko.PKey) -> None:
        self.root = root
        self.username, self.user_key = username, user_key
        self.host_key = paramiko.ECDSAKey.generate()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}\n"

    def _serve(self) -> None:
        files = type("Files", (_Files,), {"root": self.root})
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", SFTPServer, files)
            self.transports.append(transport)
            try:
                transport.start_server(server=_Auth(self.username, self.user_key))
            except (paramiko.SSHException, EOFError, OSError):
                continue  # a client that refused our host key hung up

    def __enter__(self) -> "FakeSftp":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sock.close()
        for t in self.transports:
            t.close()
