"""The database's migrations (sqlite-utils), frozen: each does to an old database exactly what it did
when it shipped, whatever today's code defines. A migration therefore uses only the columns of its
own time (db/columns.py's _M00n names) and the identities and ids written beside it here, never
db.store or db.kinds. Never edit one that has shipped: add a new one.
"""

from sqlite_utils import Migrations

from db.columns import (
    ACCURACY_COLUMNS_M001,
    ENVIRONMENT_COLUMNS_M001,
    ENVIRONMENT_COLUMNS_M003,
    JOB_COLUMNS_M001,
    JOB_COLUMNS_M003,
    JOB_COLUMNS_M005,
    MODEL_COLUMNS,
    RUN_COLUMNS_M004,
    THROUGHPUT_COLUMNS_M001,
    THROUGHPUT_COLUMNS_M003,
    THROUGHPUT_COLUMNS_M004,
)
from db.families import FAMILY_LABELS
from db.ids import stable_hash

migrations = Migrations("leaderboard")


@migrations()
def m001_create_tables(db):
    db["environments"].create(ENVIRONMENT_COLUMNS_M001, pk="id")
    db["models"].create(MODEL_COLUMNS, pk="name")
    db["jobs"].create(JOB_COLUMNS_M001, pk="key")
    db["accuracy"].create(ACCURACY_COLUMNS_M001, pk="id", foreign_keys=[("environment_id", "environments")])
    db["throughput"].create(THROUGHPUT_COLUMNS_M001, pk="id", foreign_keys=[("environment_id", "environments")])


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
    for table, columns in (
        ("environments", ENVIRONMENT_COLUMNS_M003),
        ("jobs", JOB_COLUMNS_M003),
        ("throughput", THROUGHPUT_COLUMNS_M003),
    ):
        for name, type_ in columns.items():
            db[table].add_column(name, type_)
    # Measured environments (they have a host) recorded the torch build's CUDA/cuDNN even on a
    # CPU: keep those as the build's and say a CPU used none. An environment's id hashes its
    # contents, so each changed one is stored under its new id and its results move with it.
    for env in list(db.query("SELECT * FROM environments WHERE host IS NOT NULL")):
        used = {"cuda": None, "cudnn": None} if env["device_type"] == "cpu" else {}
        rekey_environment_m003(db, env["id"], {**env, "build_cuda": env["cuda"], "build_cudnn": env["cudnn"], **used})


ENVIRONMENT_COLUMNS_OF_M003 = {**ENVIRONMENT_COLUMNS_M001, **ENVIRONMENT_COLUMNS_M003}


def environment_id_m003(env: dict) -> str:
    """An environment's id in m003's time: its columns then; m003's own, unset, left out (so an
    environment stored before m003 keeps its id)."""
    known = {k: env.get(k) for k in ENVIRONMENT_COLUMNS_OF_M003 if k != "id"}
    return stable_hash({k: v for k, v in known.items() if v is not None or k not in ENVIRONMENT_COLUMNS_M003})


def rekey_environment_m003(db, old_id: str, env: dict) -> None:
    """Store environment `old_id`'s changed contents `env` under their own id and move its results."""
    new = {**{k: env.get(k) for k in ENVIRONMENT_COLUMNS_OF_M003 if k != "id"}, "id": environment_id_m003(env)}
    db["environments"].insert(new, pk="id", replace=True)
    if new["id"] == old_id:
        return
    for table in ("accuracy", "throughput"):
        db.execute(f"UPDATE [{table}] SET environment_id = ? WHERE environment_id = ?", [new["id"], old_id])
    db["environments"].delete(old_id)


@migrations()
def m004_every_run_kept(db):
    """Rows become runs: each gets its series (the identity, now with batch, warm-up, steps and
    repeats) and an id of its run; every row is kept, and jobs keep pointing at theirs."""
    for table, columns in (("accuracy", RUN_COLUMNS_M004), ("throughput", THROUGHPUT_COLUMNS_M004)):
        for name, type_ in columns.items():
            db[table].add_column(name, type_)
    backfill_run_settings(db)
    for table in ("accuracy", "throughput"):
        mark_smoke_runs(db, table)
        reidentify_rows_m004(db, table)
        db[table].create_index(["series", "created_at"])


# Each kind's identity when m004 shipped: the columns that make a row the measurement it is.
IDENTITY_M004 = {
    "accuracy": (
        "model",
        "tag",
        "dataset",
        "img_size",
        "precision",
        "weights",
        "batch_size",
        "images",
        "low_fidelity",
        "source",
        "environment_id",
    ),
    "throughput": (
        "model",
        "bench",
        "compile_mode",
        "precision",
        "channels_last",
        "fast_norm",
        "sync_each_step",
        "img_size",
        "requested_batch_size",
        "batch_size",
        "warmup_steps",
        "steps",
        "repeats",
        "low_fidelity",
        "source",
        "environment_id",
    ),
}


def reidentify_rows_m004(db, table: str) -> None:
    """Give every row its series (the hash of its m004 identity) and the id of its run (a measured
    row: the series and its time; an imported row: its series); jobs keep pointing at their rows."""
    updates, moved = [], []
    for row in db.query(f"SELECT rowid AS _rowid, * FROM [{table}]"):
        series = stable_hash([table] + [row.get(k) for k in IDENTITY_M004[table]])
        new_id = stable_hash([series, row.get("created_at")]) if row.get("source") == "measured" else series
        updates.append([series, new_id, row["_rowid"]])
        if new_id != row["id"]:
            moved.append([new_id, row["id"]])
    db.conn.executemany(f"UPDATE [{table}] SET series = ?, id = ? WHERE rowid = ?", updates)
    db.conn.executemany("UPDATE jobs SET result_id = ? WHERE result_id = ?", moved)


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
    db.execute(
        f"UPDATE jobs SET status = 'queued', result_id = NULL WHERE status = 'done' "
        f"AND coalesce(sweep, '') != 'smoke' AND result_id IN (SELECT id FROM [{table}] WHERE {smoke})"
    )
    db.execute(f"UPDATE [{table}] SET low_fidelity = 0 WHERE low_fidelity IS NULL AND source = 'measured'")


def backfill_run_settings(db) -> None:
    """What a measured throughput run asked for, from its job's spec: its later runs, which store
    it, then continue its series."""
    db.execute("UPDATE throughput SET sync_each_step = 0 WHERE sync_each_step IS NULL AND source = 'measured'")
    db.execute(
        "UPDATE throughput SET "
        "requested_batch_size = (SELECT json_extract(spec, '$.batch_size') FROM jobs WHERE key = job_key), "
        "warmup_steps = (SELECT json_extract(spec, '$.warmup_steps') FROM jobs WHERE key = job_key) "
        "WHERE source = 'measured' AND job_key IS NOT NULL"
    )
