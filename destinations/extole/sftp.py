"""Upload of the event file to Extole's SFTP server (paramiko, from the ``sftp`` extra)."""
from __future__ import annotations

import posixpath
from pathlib import Path

from destinations.extole.backfill_input import BackfillError

DEFAULT_SFTP_HOST = "sftp.extole.io"
DEFAULT_SFTP_DIR = "/events"


def upload_sftp(
    local: Path,
    *,
    username: str,
    key_file: Path,
    host: str = DEFAULT_SFTP_HOST,
    port: int = 22,
    remote_dir: str = DEFAULT_SFTP_DIR,
    known_hosts: Path | None = None,
    passphrase: str | None = None,
    timeout: float = 30.0,
) -> str:
    """Put the event file on Extole's SFTP with a key; the host key must be known (no trust on first use)."""
    try:
        import paramiko
    except ImportError:
        raise BackfillError("--sftp needs paramiko: pip install 'eventrouter[sftp]'") from None
    try:
        key = paramiko.PKey.from_path(key_file, passphrase.encode() if passphrase else None)
    except (OSError, ValueError, TypeError, paramiko.SSHException) as exc:  # TypeError: encrypted, no passphrase
        raise BackfillError(f"cannot read the SFTP key {key_file}: {exc}") from None
    client = paramiko.SSHClient()
    if known_hosts:
        client.load_host_keys(str(known_hosts))
    else:
        client.load_system_host_keys()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    remote = posixpath.join(remote_dir, local.name)
    try:
        client.connect(
            host, port=port, username=username, pkey=key, allow_agent=False, look_for_keys=False, timeout=timeout
        )
        with client.open_sftp() as sftp:
            sftp.put(str(local), remote, confirm=True)
    except (OSError, paramiko.SSHException) as exc:
        raise BackfillError(f"SFTP upload to {username}@{host}:{port}{remote_dir} failed: {exc}") from None
    finally:
        client.close()
    return remote
