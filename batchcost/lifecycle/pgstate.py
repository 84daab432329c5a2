"""The team ledger: the ledger and the calibration store in PostgreSQL (``BATCHCOST_LEDGER_URL=postgresql://…``)
with the SQLite store's guarantees.

The ledger's SQL is written once, in SQLite's dialect; this connection speaks it to PostgreSQL through psycopg:
``?`` parameters, ``INSERT OR IGNORE`` (``ON CONFLICT DO NOTHING``), ``BEGIN IMMEDIATE`` (``BEGIN``), and
``INTEGER PRIMARY KEY`` (an identity column). Each statement outside an explicit transaction commits at once,
as SQLite's autocommit does, so every step is recorded before the next remote call. One submitter per plan
across machines is held by a PostgreSQL advisory lock (``pg_advisory_lock``), which the server releases when
the holder's connection ends, as the OS does for SQLite's file lock.

The URL's password never appears in a message: ``LedgerUrl.shown`` names user, host, port and database only, and
every message of the driver's passes through ``LedgerUrl.scrub``.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from batchcost.core.home import StateError

ENV = "BATCHCOST_LEDGER_URL"
_PARAM = re.compile(r"\?")
_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.I)


_HEX = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SECRET_PARAMS = ("password", "sslpassword")  # query parameters libpq takes that hold a secret


@dataclass(frozen=True)
class LedgerUrl:
    """BATCHCOST_LEDGER_URL, checked: ``url`` goes to the driver, ``shown`` is what messages say (scheme, user,
    host, port and database: never a password), and ``scrub`` takes every form of every secret the URL holds
    (the password as written, percent-decoded, ``+`` as a space; ``password=`` in the query) out of a message,
    the driver's own included."""

    url: str
    shown: str
    secrets: tuple[str, ...]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:  # longest first, so a secret inside another goes with it
            if secret in text:
                if len(secret) < 4:  # too short to cut out of a sentence: the sentence goes instead
                    return "(the database's message is not shown: it holds the password)"
                text = text.replace(secret, "***")
        return text


def _secrets(value: str) -> tuple[str, ...]:
    """Every form of every secret in a URL, read by hand (so even a URL ``urlsplit`` refuses is scrubbed)."""
    rest = value.split("://", 1)[-1]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    userinfo = authority.rpartition("@")[0]
    found = {userinfo.split(":", 1)[1]} if ":" in userinfo else set()
    query = rest.split("?", 1)[1].split("#", 1)[0] if "?" in rest else ""
    for pair in query.split("&"):
        name, _, secret = pair.partition("=")
        if unquote_plus(name).strip().lower() in _SECRET_PARAMS and secret:
            found.add(secret)
    forms = set()
    for secret in found:
        forms |= {secret, unquote(secret), unquote_plus(secret), quote(unquote(secret), safe="")}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


def ledger_url() -> LedgerUrl | None:
    """BATCHCOST_LEDGER_URL when it names PostgreSQL; None for the embedded SQLite default. A URL the driver would
    refuse is refused here first (a port that is not one, an unterminated IPv6 host, a ``%`` that is not an
    escape, a space), and no message repeats a secret it holds."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    secrets = _secrets(value)
    try:
        return _checked(value, secrets)
    except StateError as exc:
        raise StateError(LedgerUrl(value, "", secrets).scrub(exc.message)) from None


def _checked(value: str, secrets: tuple[str, ...]) -> LedgerUrl:
    try:
        parts = urlsplit(value)
        scheme = parts.scheme
    except ValueError as exc:  # "Invalid IPv6 URL": an unterminated [ host
        raise StateError(f"{ENV} is not a valid URL ({exc}); it should look like "
                         "postgresql://USER:PASSWORD@HOST:5432/DATABASE") from None
    if scheme not in ("postgresql", "postgres"):
        raise StateError(f"{ENV} must be a postgresql:// URL (unset it for the SQLite ledger under BATCHCOST_HOME)")
    try:
        port = parts.port
    except ValueError:  # out of 0-65535, or not a number
        port_text = parts.netloc.rpartition("@")[2].rpartition("]")[2].rpartition(":")[2]
        raise StateError(f"{ENV} has a port that is not one ({port_text[:12]!r}); a port is a number from 1 to "
                         "65535") from None
    if _HEX.search(parts.netloc + parts.path + "?" + parts.query):
        raise StateError(f"{ENV} has a % that is not followed by two hex digits; write a % in a password as %25")
    if any(c.isspace() for c in value):
        raise StateError(f"{ENV} holds a space; write a space in a password as %20")
    user = f"{unquote(parts.username)}@" if parts.username else ""
    host = parts.hostname or ""
    shown = f"{scheme}://{user}{f'[{host}]' if ':' in host else host}{f':{port}' if port else ''}{parts.path}"
    return LedgerUrl(value, LedgerUrl(value, "", secrets).scrub(shown), secrets)


def translate(sql: str) -> str:
    """SQLite's dialect, as the ledger writes it, in PostgreSQL's."""
    sql = sql.replace("%", "%%")
    if _IGNORE.match(sql):
        sql = _IGNORE.sub("INSERT INTO", sql, count=1).rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    if sql.strip().upper() == "BEGIN IMMEDIATE":
        return "BEGIN"
    return _PARAM.sub("%s", sql)


def _schema(schema: str) -> list[str]:
    text = re.sub(r"--[^\n]*", "", schema)
    text = re.sub(r"\bid INTEGER PRIMARY KEY\b", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", text)
    return [s.strip() for s in text.split(";") if s.strip()]


class Row:
    """A result row read as SQLite's ``sqlite3.Row`` is: by name, by index, as a tuple, or as a dict."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: list[str], values: tuple):
        self._names, self._values = names, tuple(values)

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self._values[key]
        return self._values[self._names.index(key)]

    def keys(self) -> list[str]:
        return list(self._names)

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _row_factory(cursor):
    names = [c.name for c in cursor.description or ()]
    return lambda values: Row(names, values)


class _Result:
    def __init__(self, cursor):
        self.cursor = cursor

    def fetchone(self):
        return self.cursor.fetchone() if self.cursor.description else None

    def fetchall(self):
        return self.cursor.fetchall() if self.cursor.description else []

    def __iter__(self):
        return iter(self.fetchall())


class PgConnection:
    """What the ledger and the calibration store use of ``sqlite3.Connection``, on PostgreSQL."""

    def __init__(self, url: LedgerUrl, what: str):
        try:
            import psycopg
            from psycopg.types.numeric import FloatLoader
        except ImportError:
            raise StateError(f"{ENV} names PostgreSQL, which needs psycopg: pip install 'batchcost[postgres]'") \
                from None
        self.url, self.what, self.total_changes = url, what, 0
        self._psycopg = psycopg
        try:
            self.conn = psycopg.connect(url.url, autocommit=True, row_factory=_row_factory, connect_timeout=15)
        except psycopg.Error as exc:
            raise StateError(f"cannot reach the {what} at {url.shown}: {self._said(exc)}") from None
        self.conn.adapters.register_loader("numeric", FloatLoader)  # ratios, as SQLite gives them
        self.state_path = url.shown

    def _said(self, exc: Exception) -> str:
        """The driver's message, first line, every form of the password taken out."""
        return self.url.scrub(_first_line(exc))

    def _run(self, sql: str, args: Any = (), many: bool = False):
        psycopg = self._psycopg
        try:
            cursor = self.conn.cursor()
            if many:
                cursor.executemany(translate(sql), list(args))
            else:
                cursor.execute(translate(sql), tuple(args or ()))
        except psycopg.Error as exc:  # one line naming the database (never its password), never a traceback
            raise StateError(f"the {self.what} at {self.url.shown} failed: {self._said(exc)}") from None
        if cursor.rowcount and cursor.rowcount > 0 and not cursor.description:
            self.total_changes += cursor.rowcount
        return _Result(cursor)

    def execute(self, sql: str, args: Any = ()):
        return self._run(sql, args)

    def executemany(self, sql: str, rows):
        return self._run(sql, rows, many=True)

    def executescript(self, schema: str) -> None:
        for statement in _schema(schema):
            self.conn.execute(statement)

    def columns(self, table: str) -> set[str]:
        rows = self.conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                                 "AND table_schema = current_schema()", (table,))
        return {r[0] for r in rows}

    @contextmanager
    def advisory_lock(self, name: str) -> Iterator[None]:
        """One holder of ``name`` at a time across every machine using this database (a connection of its own,
        so the server releases the lock if this process dies)."""
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        psycopg = self._psycopg
        try:
            lock = psycopg.connect(self.url.url, autocommit=True, connect_timeout=15)
        except psycopg.Error as exc:
            raise StateError(f"cannot reach the {self.what} at {self.url.shown}: {self._said(exc)}") from None
        try:
            lock.execute("SELECT pg_advisory_lock(%s)", (key,))
            yield
        finally:
            try:
                lock.execute("SELECT pg_advisory_unlock(%s)", (key,))
            finally:
                lock.close()

    def close(self) -> None:
        self.conn.close()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def open_pg(url: LedgerUrl, schema: str, what: str) -> PgConnection:
    db = PgConnection(url, what)
    with db.advisory_lock("batchcost-schema"):  # two first runs at once create the tables once
        try:
            db.executescript(schema)
        except db._psycopg.Error as exc:
            raise StateError(f"cannot create the {what}'s tables at {url.shown}: {db._said(exc)}") from None
    return db
