"""The PostgreSQL server the ledger tests start: reachable from a checkout in a private folder (mode 0700) when the
tests run as root and the server as ``nobody``."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, binaries, reachable_by_others, world_readable_copy


def _private_install(tmp_path):
    """pgserver's binaries and their libraries, in the wheel's layout, under a folder only its owner may enter."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    site = binaries().parent.parent.parent  # .../site-packages: pgserver/pginstall/bin
    shutil.copytree(site / "pgserver" / "pginstall", private / "site" / "pgserver" / "pginstall", symlinks=True)
    if (site / "pgserver.libs").is_dir():
        shutil.copytree(site / "pgserver.libs", private / "site" / "pgserver.libs", symlinks=True)
    os.chmod(private, 0o700)
    return private / "site" / "pgserver" / "pginstall" / "bin"


def test_a_private_folder_is_seen_as_unreachable_and_its_copy_as_reachable(tmp_path):
    bin_dir = _private_install(tmp_path)
    assert not reachable_by_others(bin_dir)
    shared = Path(tempfile.mkdtemp(prefix="batchcost-pg-test-"))  # pytest's own tmp_path is private (0700)
    try:
        os.chmod(shared, 0o755)
        copy = world_readable_copy(bin_dir.parent, shared)
        assert reachable_by_others(copy) and (copy / "initdb").stat().st_mode & 0o005 == 0o005
        version = subprocess.run([str(copy / "postgres"), "--version"], capture_output=True, text=True)
        assert version.returncode == 0 and "PostgreSQL" in version.stdout, version.stderr  # its libraries came too
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root run hands the server to another user")
def test_as_root_the_server_starts_from_binaries_in_a_private_folder(tmp_path):
    server = PostgresServer()
    server.bin = _private_install(tmp_path)
    try:
        server.start()
        import psycopg

        with psycopg.connect(server.new_database(), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
