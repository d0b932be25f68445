"""Opening the database: created when missing, upgraded in place by its migrations (db/migrations.py)
and given a table for every result kind (db/kinds.py), safe from many processes at once.
"""

import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from db.errors import LeaderboardError
from db.kinds import KINDS, NOT_REGISTERED, ensure_tables
from db.migrations import migrations

BUSY_TIMEOUT_MS = 30_000  # wait this long for another writer's lock before failing
RETRY_S = 0.05  # before opening again after a lock error that came without the wait


def open_db(path, create: bool = True) -> sqlite_utils.Database:
    """Open the leaderboard database at `path`, upgrading it in place. Commands that store results
    create it (and its folder) when missing; commands that only read it pass `create=False`, and a
    missing database is then a one-line error instead of a new empty file.

    Safe from many processes at once: the busy timeout is in force before the first statement, and
    the schema is set up in one write transaction, so a second opener waits for the first and then
    finds nothing left to do. What the user can fix (a missing, read-only, locked or non-SQLite
    file, a folder that cannot be made) is a LeaderboardError naming the path and the fix.
    """
    if not KINDS:  # a programming error: the kinds register from jobs/, which db/ cannot import
        raise RuntimeError(NOT_REGISTERED)
    path = Path(path)
    check_location(path, create)
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return open_upgraded(path)
        except sqlite3.OperationalError as e:
            # "locked" at once, without the busy wait: this connection's read of the schema is older
            # than another opener's commit (WAL's busy snapshot). A fresh connection reads the new one.
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise open_error(path, e) from e
            time.sleep(RETRY_S)
        except sqlite3.DatabaseError as e:
            raise open_error(path, e) from e


def open_upgraded(path: Path) -> sqlite_utils.Database:
    """One attempt: connect, and set the schema up if anything is missing."""
    db = connect(path)
    try:
        if schema_work_left(db):
            set_up_schema(db)
    except BaseException:
        db.close()
        raise
    return db


def check_location(path: Path, create: bool) -> None:
    """Refuse, in one line, a database that cannot be there; make the folder of a new one."""
    if path.is_dir():
        raise LeaderboardError(f"{path} is a folder, not a database file: pass --db {path / 'leaderboard.db'}.")
    if path.exists():
        if create and not os.access(path, os.W_OK):  # a writer would fail halfway, after its work
            raise read_only(path)
        return
    if not create:
        # absolute: the path may have come from invoke.yaml or the environment, relative to elsewhere
        raise LeaderboardError(
            f"No database at {path.absolute()}: run invoke import-results or invoke eval-all first, or pass --db."
        )
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():  # e.g. --db /etc/passwd/x.db
        raise LeaderboardError(
            f"Cannot create database {path}: {blocker} is a file, not a folder. Pass --db with a path in a folder."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LeaderboardError(
            f"Cannot create database {path}: {e.strerror} ({e.filename}). Pass --db with a path in a writable folder."
        ) from e


def connect(path: Path) -> sqlite_utils.Database:
    """A connection that waits for other writers from its very first statement: sqlite-utils'
    Database(path) runs a PRAGMA under Python's 5 s default, and a busy timeout set after it is
    not in force for what ran before."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    db = sqlite_utils.Database(conn)
    # WAL's recommended level: a commit survives any crash of this process (kill -9 included);
    # only a power cut can lose the last few, and never corrupts the file.
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def schema_work_left(db) -> bool:
    """Whether the database still needs WAL, a migration or a kind's table (read only: an
    up-to-date database, the usual case, is opened without taking the write lock)."""
    return db.journal_mode != "wal" or bool(migrations.pending(db)) or any(not db[name].exists() for name in KINDS)


def set_up_schema(db) -> None:
    """WAL, then every pending migration and missing kind table in one write transaction: another
    process doing the same waits on the lock, then finds nothing pending."""
    db.enable_wal()  # outside any transaction, as SQLite requires; the busy timeout covers its lock
    with write_transaction(db):
        migrations.apply(db)  # sqlite-utils nests each migration's transaction as a savepoint
        ensure_tables(db)


@contextmanager
def write_transaction(db):
    """BEGIN IMMEDIATE: take the write lock now (waiting up to the busy timeout), before reading
    what is pending, so two openers never both apply a migration."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()


def open_error(path: Path, error: sqlite3.DatabaseError) -> Exception:
    """What the user reads when SQLite refuses the file: one line naming it and the fix; any other
    error (a bug in a migration) keeps its traceback."""
    message = str(error)
    if "locked" in message:
        return LeaderboardError(
            f"Database {path} is locked by another process: wait for it to finish, or pass --db OTHER.db."
        )
    if "readonly" in message:
        return read_only(path)
    if "not a database" in message or "malformed" in message:
        return LeaderboardError(
            f"{path} is not a SQLite database (or is damaged): pass --db with the "
            f"leaderboard's database file, or a new path to create one."
        )
    if "full" in message or ("disk I/O" in message and disk_full(path)):
        return LeaderboardError(
            f"No room for database {path}: its disk is full. Free space there (df -h {path.parent}), "
            f"or pass --db with a path on another disk."
        )
    if "unable to open" in message or "disk I/O" in message:
        return LeaderboardError(
            f"Cannot open database {path}: {message}. Make it and its folder readable "
            f"and writable, or pass --db with another path."
        )
    return error


def disk_full(path: Path, room_bytes: int = 1 << 20) -> bool:
    """Whether the disk holding `path` has less than `room_bytes` free (SQLite says "disk I/O error"
    when a write finds no room)."""
    folder = next((p for p in [path.parent, *path.parents] if p.exists()), None)
    try:
        return folder is not None and shutil.disk_usage(folder).free < room_bytes
    except OSError:
        return False


def read_only(path: Path) -> LeaderboardError:
    return LeaderboardError(
        f"Database {path} is read-only: make it and its folder writable "
        f"(chmod u+w {path}), or pass --db with a writable path."
    )
