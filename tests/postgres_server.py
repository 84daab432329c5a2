"""A real PostgreSQL server for the team-ledger tests, started by the tests on 127.0.0.1.

The server binaries (initdb, postgres) come from the ``pgserver`` wheel on PyPI, so a fresh machine needs nothing
from the system. PostgreSQL refuses to run as root: under root the data folder is given to ``nobody`` and the
server runs as that user, and when ``nobody`` cannot reach the binaries (a checkout in a private folder, mode 0700)
they are copied beside the data first. Only test code; it never ships in the package.
"""
from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def binaries() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver wheel (PostgreSQL binaries) is not installed: pip install -e '.[test]'")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner may reach ``path`` (every folder above it searchable by others)."""
    path = path.resolve()
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def world_readable_copy(install: Path, into: Path) -> Path:
    """``install`` (pgserver's pginstall) copied under ``into``, readable and runnable by every user, with the
    shared libraries its binaries find at ``$ORIGIN/../../../pgserver.libs`` (the wheel's layout, kept)."""
    copy = into / "pgserver" / "pginstall"
    shutil.copytree(install, copy, symlinks=True)
    libs = install.parent.parent / "pgserver.libs"
    if libs.is_dir():
        shutil.copytree(libs, into / "pgserver.libs", symlinks=True)
    for folder, _dirs, files in os.walk(into):
        os.chmod(folder, 0o755)
        for name in files:
            target = Path(folder) / name
            if not target.is_symlink():
                os.chmod(target, target.stat().st_mode | 0o444 | (0o111 if target.stat().st_mode & 0o100 else 0))
    return copy / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="batchcost-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = None
        self.proc: subprocess.Popen | None = None
        self._databases = 0

    def _as_user(self) -> dict:
        if os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam("nobody")
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def start(self) -> PostgresServer:
        who = self._as_user()
        if who:
            os.chmod(self.root, 0o755)
            if not reachable_by_others(self.bin):
                self.bin = world_readable_copy(self.bin.parent, self.root / "binaries")
            os.chown(self.root, who["user"], who["group"])
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, env=env, cwd=self.root, **who)
        log = open(self.root / "server.log", "wb")
        self.proc = subprocess.Popen([str(self.bin / "postgres"), "-D", str(self.data), "-h", "127.0.0.1",
                                      "-p", str(self.port), "-k", str(self.root), "-c", "fsync=off",
                                      "-c", "max_connections=200"],
                                     stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root, **who)
        self._wait()
        return self

    def _wait(self, timeout: float = 60) -> None:
        import psycopg

        end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.root / 'server.log').read_text()[-2000:]}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database for one test: its URL."""
        import psycopg

        self._databases += 1
        name = f"ledger_{self._databases}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
