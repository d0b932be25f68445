"""Writing results and environments: the one place rows get their identity."""
import hashlib
import json
from datetime import datetime, timezone

from db.kinds import get_kind
from db.schema import ENVIRONMENT_COLUMNS, ENVIRONMENT_COLUMNS_M003


def stable_hash(value) -> str:
    """A short, stable hash of any JSON-serialisable value."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def environment_id(env: dict) -> str:
    known = {k: env.get(k) for k in ENVIRONMENT_COLUMNS if k != "id"}
    for later in ENVIRONMENT_COLUMNS_M003:  # unset, they leave the id of an older environment as it was
        if known[later] is None:
            del known[later]
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


def rekey_environment(db, old_id: str, env: dict, tables) -> None:
    """Store the changed contents `env` of environment `old_id` under their own id, and move the
    environment's rows of `tables` with it: a row's id hashes its environment's id, and the jobs
    that made those rows point at them."""
    new = environment_row(env)
    db["environments"].insert(new, pk="id", replace=True)
    if new["id"] == old_id:
        return
    for kind in tables:
        for row in list(db.query(f"SELECT * FROM [{kind}] WHERE environment_id = ?", [old_id])):
            moved = {**row, "environment_id": new["id"]}
            moved["id"] = row_id(kind, moved)
            db.execute(f"DELETE FROM [{kind}] WHERE id = ?", [row["id"]])
            save_results(db, kind, [moved])
            db.execute("UPDATE jobs SET result_id = ? WHERE result_id = ?", [moved["id"], row["id"]])
    db["environments"].delete(old_id)


def row_id(kind: str, row: dict) -> str:
    """The hash of what makes `row` its result: storing the same result again replaces it. Identity
    columns added later count only when set, so rows stored before them keep their ids."""
    definition = get_kind(kind)
    later = {k: row[k] for k in definition.later_identity if row.get(k)}
    return stable_hash([kind] + [row.get(k) for k in definition.identity] + ([later] if later else []))


def result_row(kind: str, result: dict, environment_id_: str | None = None) -> dict:
    """Keep the table's columns of `result`, then give the row its identity."""
    row = {k: result.get(k) for k in get_kind(kind).columns}
    if environment_id_ is not None:
        row["environment_id"] = environment_id_
    row["created_at"] = row["created_at"] or now_iso()
    row["id"] = row_id(kind, row)
    return row


def save_results(db, kind: str, rows: list[dict]) -> int:
    """Insert-or-replace prepared rows (from result_row) into the table for `kind`."""
    # executemany, not insert_all: sqlite-utils' per-cell type checks cost ~4x the insert itself
    columns = ["id", *(c for c in get_kind(kind).columns if c != "id")]
    sql = (f"INSERT OR REPLACE INTO [{kind}] ({', '.join(f'[{c}]' for c in columns)}) "
           f"VALUES ({', '.join('?' for _ in columns)})")
    db.conn.executemany(sql, [[row[c] for c in columns] for row in rows])
    return len(rows)


def save_measured(db, kind: str, result: dict, job_key: str | None = None) -> dict:
    """Store one measured result dict (with its "environment") and return the stored row."""
    unknown = get_kind(kind).unknown_fields(result)
    if unknown:  # a figure with no column would be lost without a word: a bug in the job or the kind
        raise ValueError(f"{kind} result fields with no column: {', '.join(unknown)}. Add them to the "
                         f"table (a migration) or to the kind's extras in db/kinds.py.")
    env_id = save_environment(db, result["environment"])
    row = result_row(kind, {**result, "source": "measured", "job_key": job_key}, env_id)
    with db.atomic():
        save_results(db, kind, [row])
    return row
