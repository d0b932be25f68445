"""Writing results and environments: the one place rows get their identity."""
import hashlib
import json
from datetime import datetime, timezone

from db.schema import ACCURACY_COLUMNS, ENVIRONMENT_COLUMNS, THROUGHPUT_COLUMNS

RESULT_TABLES = {"accuracy": ACCURACY_COLUMNS, "throughput": THROUGHPUT_COLUMNS}

# What makes two rows "the same result": storing it again replaces, never duplicates.
IDENTITY = {
    "accuracy": ("model", "tag", "dataset", "img_size", "precision", "weights",
                 "source", "environment_id"),
    "throughput": ("model", "bench", "compile_mode", "precision", "channels_last",
                   "fast_norm", "img_size", "source", "environment_id"),
}


# Settings that joined a kind's identity after rows were stored: they count only when set, so a
# row stored before them keeps its identity (and a re-import still replaces it).
LATER_IDENTITY = {
    "accuracy": (),
    "throughput": ("sync_each_step",),
}


def stable_hash(value) -> str:
    """A short, stable hash of any JSON-serialisable value."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def environment_id(env: dict) -> str:
    known = {k: env.get(k) for k in ENVIRONMENT_COLUMNS if k != "id"}
    return stable_hash(known)


def environment_row(env: dict) -> dict:
    row = {k: env.get(k) for k in ENVIRONMENT_COLUMNS if k != "id"}
    row["id"] = environment_id(env)
    return row


def save_environment(db, env: dict) -> str:
    """Store `env` (once per distinct environment) and return its id."""
    row = environment_row(env)
    db["environments"].insert(row, pk="id", ignore=True)
    return row["id"]


def row_id(kind: str, row: dict) -> str:
    later = {k: row[k] for k in LATER_IDENTITY[kind] if row.get(k)}
    return stable_hash([kind] + [row.get(k) for k in IDENTITY[kind]] + ([later] if later else []))


def result_row(kind: str, result: dict, environment_id_: str | None = None) -> dict:
    """Keep the table's columns of `result`, then give the row its identity."""
    columns = RESULT_TABLES[kind]
    row = {k: result.get(k) for k in columns}
    if environment_id_ is not None:
        row["environment_id"] = environment_id_
    row["created_at"] = row["created_at"] or now_iso()
    row["id"] = row_id(kind, row)
    return row


def save_results(db, kind: str, rows: list[dict]) -> int:
    """Insert-or-replace prepared rows (from result_row) into the table for `kind`."""
    # executemany, not insert_all: sqlite-utils' per-cell type checks cost ~4x the insert itself
    columns = ["id", *(c for c in RESULT_TABLES[kind] if c != "id")]
    sql = (f"INSERT OR REPLACE INTO [{kind}] ({', '.join(f'[{c}]' for c in columns)}) "
           f"VALUES ({', '.join('?' for _ in columns)})")
    db.conn.executemany(sql, [[row[c] for c in columns] for row in rows])
    return len(rows)


def save_measured(db, kind: str, result: dict, job_key: str | None = None) -> dict:
    """Store one measured result dict (with its "environment") and return the stored row."""
    env_id = save_environment(db, result["environment"])
    row = result_row(kind, {**result, "source": "measured", "job_key": job_key}, env_id)
    with db.atomic():
        save_results(db, kind, [row])
    return row
