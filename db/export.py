"""Export results in timm's column conventions, with provenance columns, losslessly.

A file written here is named `leaderboard-<kind>...` and can be imported back
(`invoke import-results`): the same rows, with the same identities, come back.
"""
import csv
import io
import json

from db.errors import LeaderboardError
from db.kinds import get_kind
from db.parsing import ImportRefused, ParsedFile, csv_records, to_number
from db.queries import latest_run
from db.schema import ENVIRONMENT_COLUMNS
from db.store import environment_id

ENV_FIELDS = [k for k in ENVIRONMENT_COLUMNS if k != "id"]
ENV_PREFIX = "env_"


def export_columns(kind: str) -> list[str]:
    return get_kind(kind).export_columns() + [ENV_PREFIX + f for f in ENV_FIELDS]


RUNS = {  # which runs an export holds → the SQL condition on a row's rowid
    "latest": "r.rowid IN ({latest})",       # the latest run of each series: what the site shows
    "earlier": "r.rowid NOT IN ({latest})",  # the runs a later run followed: the history
    "all": "1",
}


def rows_with_environment(db, kind: str, runs: str = "latest"):
    if runs not in RUNS:
        raise LeaderboardError(f"Unknown runs {runs!r}: use one of {', '.join(RUNS)}.")
    env_select = ", ".join(f"e.{f} AS {ENV_PREFIX}{f}" for f in ENV_FIELDS)
    sql = (f"SELECT r.*, {env_select} FROM {kind} r LEFT JOIN environments e ON e.id = r.environment_id "
           f"WHERE {RUNS[runs].format(latest=latest_run(kind))} ORDER BY r.model, r.created_at, r.rowid")
    return db.query(sql)


def to_export_record(kind: str, row: dict) -> dict:
    """One stored row in its kind's export conventions (timm's), with its environment."""
    return get_kind(kind).to_export(row)


def export_records(db, kind: str, runs: str = "latest") -> list[dict]:
    """Stored rows of `kind` as exported: the latest run of each series, or `runs` ("earlier", "all")."""
    return [to_export_record(kind, row) for row in rows_with_environment(db, kind, runs)]


def without_nulls(records: list[dict]) -> list[dict]:
    """JSON records keep only the fields they have (an absent field imports as null): half the size."""
    return [{k: v for k, v in r.items() if v is not None} for r in records]


def write_export(records: list[dict], kind: str, fmt: str, stream) -> None:
    if fmt == "json":
        json.dump(without_nulls(records), stream, indent=1)
        return
    writer = csv.DictWriter(stream, fieldnames=export_columns(kind), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)


# --- reading an export back ------------------------------------------------------------------

def from_export_record(kind: str, record: dict) -> tuple[dict, dict | None]:
    """(result row, environment or None) from one exported record (CSV cells are strings)."""
    row, env = {}, {}
    for key, value in record.items():
        value = None if value == "" else value
        if key.startswith(ENV_PREFIX):
            env[key[len(ENV_PREFIX):]] = value
        else:
            row[key] = value
    return get_kind(kind).from_export(row), (env if any(v is not None for v in env.values()) else None)


def typed(kind: str, row: dict, where: str) -> dict:
    columns = get_kind(kind).columns
    out = {}
    for key, value in row.items():
        cast = columns.get(key)
        if cast in (int, float) and isinstance(value, str):
            value = to_number(value, cast, f"{where}, column {key!r}")
        out[key] = value
    return out


def parse_export(name: str, text: str, kind: str, fmt: str):
    """Parse a file written by write_export into the importer's ParsedFile."""
    if fmt == "json":
        try:
            records = list(enumerate(json.loads(text), start=1))
        except json.JSONDecodeError as e:
            raise ImportRefused(f"{name}, line {e.lineno}: not valid JSON ({e.msg}).") from None
    else:
        records = list(csv_records(name, text, required=("model", "source")))
    parsed = ParsedFile(kind)
    for line, record in records:
        row, env = from_export_record(kind, record)
        env_typed = {**env, "device_count": int(env["device_count"])} if env and env.get("device_count") else env
        if env_typed:
            parsed.environments.append(env_typed)
        parsed.rows.append({**typed(kind, row, f"{name}, line {line}"),
                            "environment_id": environment_id(env_typed) if env_typed else None})
    return parsed
