"""The database schema, created and upgraded through sqlite-utils migrations.

Never edit a migration that has shipped: add a new one, so an old database upgrades in place.
"""
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from db.errors import LeaderboardError
from db.families import FAMILY_LABELS

BUSY_TIMEOUT_MS = 30_000  # wait this long for another writer's lock before failing
RETRY_S = 0.05  # before opening again after a lock error that came without the wait

migrations = Migrations("leaderboard")

# m001's tables; later migrations add columns (below), so an old database upgrades in place.
ENVIRONMENT_COLUMNS_M001 = {
    "id": str,            # hash of every other column: one row per distinct environment
    "device": str,        # e.g. "NVIDIA GeForce RTX 4090" or "cpu: Intel(R) Core(TM) i7"
    "device_type": str,   # cuda | cpu | mps ...
    "device_count": int,
    "torch": str,
    "timm": str,
    "cuda": str,          # CUDA the device used (none on a CPU)
    "cudnn": str,         # cuDNN the device used (none on a CPU)
    "driver": str,
    "python": str,
    "host": str,
    "platform": str,
}

MODEL_COLUMNS = {
    "name": str,              # timm architecture name, no weight tag
    "family": str,            # readable label of the timm module the model is registered in
    "family_module": str,     # that module, e.g. "efficientnet"
    "norm": str,              # primary canonical norm label
    "norms": str,             # JSON list of every canonical norm label found
    "params": int,
    "gmacs": float,           # per sample at the default input size
    "input_size": int,
    "test_input_size": int,
    "fixed_input_size": int,
    "crop_pct": float,
    "interpolation": str,
    "pretrained_tags": str,   # JSON list
    "has_weights": int,       # 1 when any tag has published weights
    "timm_version": str,
    "updated_at": str,
}

JOB_COLUMNS_M001 = {
    "key": str,          # hash of everything that changes the job's result
    "kind": str,         # accuracy | throughput
    "model": str,
    "spec": str,         # JSON of the job spec
    "status": str,       # queued | running | done | failed | skipped
    "attempts": int,
    "sweep": str,
    "created_at": str,
    "started_at": str,
    "finished_at": str,
    "error": str,        # one line
    "exit_code": int,
    "output_tail": str,
    "result_id": str,
}

# Columns shared by both result tables: where a number came from.
PROVENANCE_COLUMNS = {
    "id": str,              # the row's run: its series, plus its time for measured runs (db.store.row_id)
    "source": str,          # "measured", or "<collection>:<file name>" for imports
    "source_url": str,      # the file or URL an import was read from
    "environment_id": str,
    "job_key": str,
    "created_at": str,
}

ACCURACY_COLUMNS_M001 = {
    "model": str,           # architecture
    "tag": str,             # pretrained weight tag, e.g. r160_in1k
    "dataset": str,         # imagenet, imagenet-real, sketch, ...
    "img_size": int,
    "top1": float,          # percent
    "top5": float,
    "top1_err": float,
    "top5_err": float,
    "top1_diff": float,     # against ImageNet-1k, as published for other datasets
    "top5_diff": float,
    "rank_diff": int,
    "param_count": float,   # millions
    "crop_pct": float,
    "interpolation": str,
    "images": int,
    "images_per_sec": float,
    "wall_s": float,
    "batch_size": int,
    "precision": str,
    "weights": str,         # hf-hub id or checkpoint path the weights came from
    **PROVENANCE_COLUMNS,
}

THROUGHPUT_COLUMNS_M001 = {
    "model": str,
    "bench": str,               # infer | train
    "compile_mode": str,        # eager | default | reduce-overhead | max-autotune
    "precision": str,           # fp32 | amp | amp_bf16 | amp_fp16 | bf16 ...
    "channels_last": int,
    "fast_norm": int,
    "img_size": int,
    "batch_size": int,          # the batch actually used
    "samples_per_sec": float,   # median over repeats
    "samples_per_sec_min": float,
    "samples_per_sec_max": float,
    "step_time_ms": float,
    "compile_s": float,         # first call, never part of throughput
    "peak_mem_mb": float,
    "gmacs": float,             # per sample
    "macts": float,             # millions of activations per sample
    "param_count": float,       # millions
    "steps": int,
    "repeats": int,
    **PROVENANCE_COLUMNS,
}


# Added by m003.
ENVIRONMENT_COLUMNS_M003 = {
    "build_cuda": str,    # CUDA the torch build was compiled for, whatever the device used
    "build_cudnn": str,   # cuDNN the torch build ships
}
JOB_COLUMNS_M003 = {"traceback": str}  # where a failed job's error came from
THROUGHPUT_COLUMNS_M003 = {"sync_each_step": int}  # 1: timed as timm's benchmark.py (sync after every step)

# Added by m004: every run is kept, so a row names its series and what its run asked for.
RUN_COLUMNS_M004 = {
    "series": str,          # hash of the row's identity: the runs of one measurement share it (db.store.series_id)
    "low_fidelity": int,    # 1: a smoke/low-fidelity run, never shown as a model's figure beside real runs
}
THROUGHPUT_COLUMNS_M004 = {
    "requested_batch_size": int,  # the batch asked for (batch_size is the one used after any OOM back-off)
    "warmup_steps": int,
    **RUN_COLUMNS_M004,
}

ENVIRONMENT_COLUMNS = {**ENVIRONMENT_COLUMNS_M001, **ENVIRONMENT_COLUMNS_M003}
ACCURACY_COLUMNS = {**ACCURACY_COLUMNS_M001, **RUN_COLUMNS_M004}
THROUGHPUT_COLUMNS = {**THROUGHPUT_COLUMNS_M001, **THROUGHPUT_COLUMNS_M003, **THROUGHPUT_COLUMNS_M004}


@migrations()
def m001_create_tables(db):
    db["environments"].create(ENVIRONMENT_COLUMNS_M001, pk="id")
    db["models"].create(MODEL_COLUMNS, pk="name")
    db["jobs"].create(JOB_COLUMNS_M001, pk="key")
    db["accuracy"].create(ACCURACY_COLUMNS_M001, pk="id", foreign_keys=[("environment_id", "environments")])
    db["throughput"].create(
        THROUGHPUT_COLUMNS_M001, pk="id", foreign_keys=[("environment_id", "environments")]
    )


@migrations()
def m002_lookup_indexes(db):
    # The site and the queue look rows up by model, source and status.
    db["accuracy"].create_index(["model", "dataset", "img_size"])
    db["accuracy"].create_index(["source"])
    db["throughput"].create_index(["model", "bench", "compile_mode"])
    db["throughput"].create_index(["source"])
    db["jobs"].create_index(["status"])


@migrations()
def m003_build_versions_tracebacks_sync(db):
    for table, columns in (("environments", ENVIRONMENT_COLUMNS_M003), ("jobs", JOB_COLUMNS_M003),
                           ("throughput", THROUGHPUT_COLUMNS_M003)):
        for name, type_ in columns.items():
            db[table].add_column(name, type_)
    # Measured environments (they have a host) recorded the torch build's CUDA/cuDNN even on a
    # CPU: keep those as the build's and say a CPU used none. An environment's id hashes its
    # contents, so each changed one is stored under its new id and its results move with it.
    from db.store import rekey_environment

    for env in list(db.query("SELECT * FROM environments WHERE host IS NOT NULL")):
        used = {"cuda": None, "cudnn": None} if env["device_type"] == "cpu" else {}
        rekey_environment(db, env["id"], {**env, "build_cuda": env["cuda"], "build_cudnn": env["cudnn"], **used},
                          tables=("accuracy", "throughput"))


@migrations()
def m004_every_run_kept(db):
    """Rows become runs: each gets its series (the identity, now with batch, warm-up, steps and
    repeats) and an id of its run; every row is kept, and jobs keep pointing at theirs."""
    for table, columns in (("accuracy", RUN_COLUMNS_M004), ("throughput", THROUGHPUT_COLUMNS_M004)):
        for name, type_ in columns.items():
            db[table].add_column(name, type_)
    from db.store import reidentify_rows

    backfill_run_settings(db)
    for table in ("accuracy", "throughput"):
        mark_smoke_runs(db, table)
        reidentify_rows(db, table)
        db[table].create_index(["series", "created_at"])


# Added by m005: a running job's claim, so sweeps sharing a database never run one job twice.
JOB_COLUMNS_M005 = {
    "owner": str,           # the sweep that claimed the job: "host:pid:token"
    "lease_expires": float,  # unix time its claim lapses unless the owner renews it
}


@migrations()
def m005_job_leases(db):
    for name, type_ in JOB_COLUMNS_M005.items():
        db["jobs"].add_column(name, type_)


@migrations()
def m006_family_display_names(db):
    """Family labels were title-cased module names ("Byoanet", "Cspnet", "Vgg"); now each module has
    one display name (db/families.py): the stored catalogue takes them without being rebuilt."""
    for module, label in FAMILY_LABELS.items():
        db.execute("UPDATE models SET family = ? WHERE family_module = ?", [label, module])


def mark_smoke_runs(db, table: str) -> None:
    """Before m004 a smoke run replaced the real run of the same settings: mark the smoke sweep's
    rows low-fidelity, and queue again the jobs whose result one of them replaced."""
    smoke = "job_key IN (SELECT key FROM jobs WHERE sweep = 'smoke')"
    db.execute(f"UPDATE [{table}] SET low_fidelity = 1 WHERE {smoke}")
    db.execute(f"UPDATE jobs SET status = 'queued', result_id = NULL WHERE status = 'done' "
               f"AND coalesce(sweep, '') != 'smoke' AND result_id IN (SELECT id FROM [{table}] WHERE {smoke})")
    db.execute(f"UPDATE [{table}] SET low_fidelity = 0 WHERE low_fidelity IS NULL AND source = 'measured'")


def backfill_run_settings(db) -> None:
    """What a measured throughput run asked for, from its job's spec: its later runs, which store
    it, then continue its series."""
    db.execute("UPDATE throughput SET sync_each_step = 0 WHERE sync_each_step IS NULL AND source = 'measured'")
    db.execute("UPDATE throughput SET "
               "requested_batch_size = (SELECT json_extract(spec, '$.batch_size') FROM jobs WHERE key = job_key), "
               "warmup_steps = (SELECT json_extract(spec, '$.warmup_steps') FROM jobs WHERE key = job_key) "
               "WHERE source = 'measured' AND job_key IS NOT NULL")


def open_db(path, create: bool = True) -> sqlite_utils.Database:
    """Open the leaderboard database at `path`, upgrading it in place. Commands that store results
    create it (and its folder) when missing; commands that only read it pass `create=False`, and a
    missing database is then a one-line error instead of a new empty file.

    Safe from many processes at once: the busy timeout is in force before the first statement, and
    the schema is set up in one write transaction, so a second opener waits for the first and then
    finds nothing left to do. What the user can fix (a missing, read-only, locked or non-SQLite
    file, a folder that cannot be made) is a LeaderboardError naming the path and the fix.
    """
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
        raise LeaderboardError(f"No database at {path.absolute()}: run invoke import-results or invoke eval-all "
                               f"first, or pass --db.")
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():  # e.g. --db /etc/passwd/x.db
        raise LeaderboardError(f"Cannot create database {path}: {blocker} is a file, not a folder. "
                               f"Pass --db with a path in a folder.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LeaderboardError(f"Cannot create database {path}: {e.strerror} ({e.filename}). "
                               f"Pass --db with a path in a writable folder.") from e


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
    from db.kinds import KINDS  # the kinds are defined over this schema: imported late

    return (db.journal_mode != "wal" or bool(migrations.pending(db))
            or any(not db[name].exists() for name in KINDS))


def set_up_schema(db) -> None:
    """WAL, then every pending migration and missing kind table in one write transaction: another
    process doing the same waits on the lock, then finds nothing pending."""
    from db.kinds import ensure_tables

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
        return LeaderboardError(f"Database {path} is locked by another process: wait for it to finish, "
                                f"or pass --db OTHER.db.")
    if "readonly" in message:
        return read_only(path)
    if "not a database" in message or "malformed" in message:
        return LeaderboardError(f"{path} is not a SQLite database (or is damaged): pass --db with the "
                                f"leaderboard's database file, or a new path to create one.")
    if "unable to open" in message or "disk I/O" in message:
        return LeaderboardError(f"Cannot open database {path}: {message}. Make it and its folder readable "
                                f"and writable, or pass --db with another path.")
    return error


def read_only(path: Path) -> LeaderboardError:
    return LeaderboardError(f"Database {path} is read-only: make it and its folder writable "
                            f"(chmod u+w {path}), or pass --db with a writable path.")
