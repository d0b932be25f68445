"""Opening the database: many processes at once, and files the user can fix (one line, never a traceback)."""

import ctypes
import multiprocessing
import os
import sqlite3
import subprocess
import sys

import pytest
import sqlite_utils

from checkout import REFERENCE, ROOT, invoke
from db.errors import LeaderboardError
from db.schema import migrations, open_db

TABLES = ("models", "environments", "jobs", "accuracy", "throughput")
OPENERS = 6
ROUNDS = 3  # the race is a race: a few new databases make a lost one show every time


# --- many processes at once --------------------------------------------------------------------


def open_and_count(path, start, outcomes) -> None:
    """One of several processes opening `path` at the same moment: "ok", or the error it met."""
    start.wait()
    try:
        db = open_db(path)
        for table in TABLES:
            db[table].count  # noqa: B018 (a read: it takes the read lock)
        outcomes.put("ok")
    except Exception as e:
        outcomes.put(repr(e))


def poll_while_created(path, stop, outcomes) -> None:
    """A reader (`invoke status` in a loop) while others create `path`: the errors it met, and how
    many times it read every table."""
    errors, reads = [], 0
    while not stop.is_set():
        if not os.path.exists(path):
            continue
        try:
            db = open_db(path)
            for table in TABLES:
                db[table].count  # noqa: B018 (a read: it takes the read lock)
            db.close()
            reads += 1
        except Exception as e:
            errors.append(repr(e))
    outcomes.put((errors, reads))


def open_at_once(path) -> tuple[list, list, int]:
    """OPENERS processes open `path` together while a reader polls it: (their outcomes, the reader's
    errors, its successful reads)."""
    context = multiprocessing.get_context("fork")  # fast: this process has imported everything already
    start, stop, outcomes, reads = context.Barrier(OPENERS), context.Event(), context.Queue(), context.Queue()
    reader = context.Process(target=poll_while_created, args=(path, stop, reads))
    reader.start()
    openers = [context.Process(target=open_and_count, args=(path, start, outcomes)) for _ in range(OPENERS)]
    for process in openers:
        process.start()
    results = [outcomes.get(timeout=60) for _ in openers]
    for process in openers:
        process.join()
    stop.set()
    reader_errors, reader_reads = reads.get(timeout=60)
    reader.join()
    return results, reader_errors, reader_reads


def applied_counts(path) -> dict:
    rows = sqlite3.connect(path).execute("SELECT name, count(*) FROM _sqlite_migrations GROUP BY name")
    return dict(rows.fetchall())


def old_database(path) -> None:
    """A database from before m002, with rows to keep."""
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m002_lookup_indexes")
    old["jobs"].insert({"key": "k1", "kind": "accuracy", "status": "done"})
    old.close()


@pytest.mark.parametrize("start_from", ["new", "old"])
def test_many_processes_open_a_new_or_old_database_at_once(tmp_path, start_from):
    """Each opener waits for the first to set the schema up, then finds nothing pending; a reader
    polling meanwhile never sees a lock error or half a schema."""
    for round_ in range(ROUNDS):
        path = tmp_path / f"round{round_}" / "leaderboard.db"
        if start_from == "old":
            path.parent.mkdir()
            old_database(path)
        results, reader_errors, reader_reads = open_at_once(path)
        assert results == ["ok"] * OPENERS
        assert reader_errors == [] and reader_reads > 0
        assert applied_counts(path) == {m.name: 1 for m in migrations._migrations}  # each applied once
        if start_from == "old":
            assert sqlite_utils.Database(path)["jobs"].get("k1")["status"] == "done"


def test_a_lock_error_that_came_without_the_wait_is_tried_again_on_a_fresh_connection(db_path, monkeypatch):
    """SQLite answers "database is locked" at once, not after the busy wait, to a connection whose read
    is older than another opener's commit (WAL's busy snapshot): seen about once in 15 runs of the test
    above on a loaded machine. Opening again reads the new state."""
    import db.schema

    seen = []
    real = db.schema.schema_work_left

    def stale_the_first_time(database):
        seen.append(database)
        if len(seen) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real(database)

    monkeypatch.setattr(db.schema, "schema_work_left", stale_the_first_time)
    opened = db.schema.open_db(db_path)
    assert len(seen) == 2 and seen[0] is not seen[1] and opened["jobs"].exists()


def test_a_failed_migration_leaves_nothing_half_done(db_path, monkeypatch):
    """The schema is set up in one transaction: a migration that fails leaves the file as it was."""
    old_database(db_path)

    def broken(db):
        db["jobs"].add_column("half_done", str)
        raise RuntimeError("a bug in a migration")

    monkeypatch.setattr(migrations._migrations[-1], "fn", broken)
    with pytest.raises(RuntimeError, match="a bug in a migration"):  # a bug keeps its traceback
        open_db(db_path)
    db = sqlite_utils.Database(db_path)
    assert [m.name for m in migrations.applied(db)] == ["m001_create_tables"]
    assert "half_done" not in db["jobs"].columns_dict and db["jobs"].count == 1


# --- what the user can fix: one line naming the path and the fix ------------------------------


def one_line_error(result) -> str:
    """The error a command printed: exit 1, one line, no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [["status"], ["import-results", REFERENCE / "tiny-test-models-accuracy.csv"]],
    ids=["status", "import-results"],
)
def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path, command):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n" * 200)
    error = one_line_error(invoke(*command, "--db", notes))
    assert error.startswith(f"{notes} is not a SQLite database") and "pass --db" in error
    assert notes.read_text() == "my notes\n" * 200


def test_a_path_under_a_file_names_the_file(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    error = one_line_error(invoke("import-results", REFERENCE, "--db", notes / "sub" / "x.db"))
    assert error == (
        f"Cannot create database {notes / 'sub' / 'x.db'}: {notes} is a file, not a folder. "
        f"Pass --db with a path in a folder."
    )
    assert notes.read_text() == "my notes"


def test_a_folder_is_not_a_database_file(tmp_path):
    error = one_line_error(invoke("status", "--db", tmp_path))
    assert error == f"{tmp_path} is a folder, not a database file: pass --db {tmp_path / 'leaderboard.db'}."


@pytest.mark.parametrize("command", [["status"], ["export"], ["build", "--out"]], ids=["status", "export", "build"])
def test_reading_a_database_that_does_not_exist_says_so_and_creates_nothing(tmp_path, command):
    missing = tmp_path / "no-such-folder" / "leaderboard.db"
    out = [tmp_path / "www"] if command[0] == "build" else []
    error = one_line_error(invoke(*command, *out, "--db", missing))
    assert error == (f"No database at {missing}: run invoke import-results or invoke eval-all first, or pass --db.")
    assert not missing.parent.exists()


def test_storing_into_a_new_folder_creates_it(tmp_path):
    new = tmp_path / "new-folder" / "leaderboard.db"
    result = invoke("import-results", REFERENCE / "tiny-test-models-accuracy.csv", "--db", new)
    assert result.returncode == 0, result.stderr
    assert sqlite_utils.Database(new)["accuracy"].count == 26


def test_open_db_reader_refuses_a_missing_database(tmp_path):
    with pytest.raises(LeaderboardError, match="No database at"):
        open_db(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def without_root_powers() -> None:
    """In the child, before exec: drop the capabilities that let root write a read-only file (from
    the bounding set, so the new program never gets them back). Harmless for other users."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "cannot drop root's file capabilities")


def invoke_without_root_powers(*args):
    return subprocess.run(
        [sys.executable, "-m", "invoke", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=without_root_powers,
    )


def test_a_read_only_database_is_read_but_not_written(tmp_path):
    path = tmp_path / "leaderboard.db"
    assert invoke("import-results", REFERENCE / "tiny-test-models-accuracy.csv", "--db", path).returncode == 0
    path.chmod(0o444)
    try:
        status = invoke_without_root_powers("status", "--db", path)
    except subprocess.SubprocessError as e:  # preexec_fn refused (no CAP_SETPCAP)
        pytest.skip(f"cannot make a read-only file read-only for root here: {e}")
    assert status.returncode == 0 and "accuracy results: 26 runs" in status.stdout, status.stderr
    error = one_line_error(
        invoke_without_root_powers("import-results", REFERENCE / "tiny-test-models-throughput.csv", "--db", path)
    )
    assert error == (
        f"Database {path} is read-only: make it and its folder writable (chmod u+w {path}), "
        f"or pass --db with a writable path."
    )
    assert sqlite_utils.Database(path)["throughput"].count == 0


def test_a_full_disk_is_named_as_the_cause(tmp_path, monkeypatch):
    """SQLite says "database or disk is full", or only "disk I/O error" when a write finds no room."""
    import sqlite3
    from collections import namedtuple

    import db.schema
    from db.schema import open_error

    path = tmp_path / "lb.db"
    full = open_error(path, sqlite3.OperationalError("database or disk is full"))
    assert str(full) == (
        f"No room for database {path}: its disk is full. Free space there (df -h {tmp_path}), "
        "or pass --db with a path on another disk."
    )
    assert "readable and writable" in str(open_error(path, sqlite3.OperationalError("disk I/O error")))  # room left
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(db.schema.shutil, "disk_usage", lambda folder: usage(10**9, 10**9, 4096))
    assert str(open_error(path, sqlite3.OperationalError("disk I/O error"))).startswith("No room for database")
