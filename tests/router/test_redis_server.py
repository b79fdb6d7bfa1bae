"""The embedded Redis's files under the data directory."""
from __future__ import annotations

import pytest

from router.redis_server import EmbeddedRedis


@pytest.mark.parametrize("text", ["", "abc", "0", "-1", "99999999999999999999", "12\x00", "\udcff"])
def test_an_owner_file_that_names_no_process_is_nobodys_not_a_crash_of_up(tmp_path, text: str) -> None:
    """A torn or hand-edited redis.owner: `up` must neither crash on it (os.kill refuses huge
    numbers, and 0 or -1 would ask about whole process groups) nor take the server over."""
    server = EmbeddedRedis(tmp_path)
    server.ownerfile.write_text(text, errors="surrogateescape")
    assert server.owner_gone() is False
