"""Export results in timm's column conventions, with provenance columns, losslessly.

A file written here is named `leaderboard-<kind>...` and can be imported back
(`invoke import-results`): the same rows, with the same identities, come back.
"""

import csv
import json
from pathlib import Path

from db.columns import ENVIRONMENT_COLUMNS
from db.errors import LeaderboardError, not_one_of
from db.kinds import get_kind
from db.parsing import (
    ImportRefused,
    ParsedFile,
    check_model,
    check_number,
    check_text,
    csv_records,
    plain_text,
    shown,
    to_number,
)
from db.queries import latest_run
from db.store import environment_id, measured_row

ENV_FIELDS = [k for k in ENVIRONMENT_COLUMNS if k != "id"]
ENV_PREFIX = "env_"
# The export format's version, in every record: raised when a change would make an older version read a
# file wrongly; a file of a later version is refused on import rather than misread.
SCHEMA_VERSION = 1
VERSION_COLUMN = "schema_version"


def export_columns(kind: str) -> list[str]:
    return get_kind(kind).export_columns() + [ENV_PREFIX + f for f in ENV_FIELDS] + [VERSION_COLUMN]


RUNS = {  # which runs an export holds → the SQL condition on a row's rowid
    "latest": "r.rowid IN ({latest})",  # the latest run of each series: what the site shows
    "earlier": "r.rowid NOT IN ({latest})",  # the runs a later run followed: the history
    "all": "1",
}


def rows_with_environment(db, kind: str, runs: str = "latest"):
    if runs not in RUNS:
        raise LeaderboardError(not_one_of("runs", runs, RUNS))
    env_select = ", ".join(f"e.{f} AS {ENV_PREFIX}{f}" for f in ENV_FIELDS)
    sql = (
        f"SELECT r.*, {env_select} FROM {kind} r LEFT JOIN environments e ON e.id = r.environment_id "
        f"WHERE {RUNS[runs].format(latest=latest_run(kind))} ORDER BY r.model, r.created_at, r.rowid"
    )
    return db.query(sql)


def to_export_record(kind: str, row: dict) -> dict:
    """One stored row in its kind's export conventions (timm's), with its environment and the format's version."""
    return {**get_kind(kind).to_export(row), VERSION_COLUMN: SCHEMA_VERSION}


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


def write_unstored(kind: str, runs: list[tuple[dict, str | None]], folders) -> Path | None:
    """Measured results (result dict, job key) the database could not keep, as an export that `invoke
    import-results` reads back, written into the first of `folders` that takes it (None: none did)."""
    rows = [measured_row(kind, result, job_key) for result, job_key in runs]
    records = [to_export_record(kind, {**row, **{ENV_PREFIX + k: env.get(k) for k in ENV_FIELDS}}) for row, env in rows]
    for folder in folders:
        path = Path(folder) / f"leaderboard-{kind}-unstored-{rows[0][0]['id']}.json"
        try:
            with open(path, "w") as stream:
                write_export(records, kind, "json", stream)
            return path
        except OSError:  # full or read-only too: the next folder
            path.unlink(missing_ok=True)
    return None


# --- reading an export back ------------------------------------------------------------------

ENVIRONMENT_TYPES = {k: t for k, t in ENVIRONMENT_COLUMNS.items() if k != "id"}  # env_<column> → its type


JSON_TYPES = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}


def json_type(value) -> str:
    return JSON_TYPES.get(type(value), "a number")


def json_records(name: str, text: str):
    """Yield (record number, record) of a JSON export: a list of objects whose values are text,
    numbers or null; anything else is refused, naming the record and column."""
    try:
        records = json.loads(text)
    except json.JSONDecodeError as e:
        raise ImportRefused(f"{name}, line {e.lineno}, column {e.colno}: not valid JSON ({e.msg}).") from None
    except (ValueError, RecursionError) as e:  # a number of thousands of digits; lists nested thousands deep
        raise ImportRefused(f"{name}: not valid JSON ({type(e).__name__}: {e}).") from None
    if not isinstance(records, list):
        raise ImportRefused(f"{name}, line 1: expected a list of records, found {json_type(records)}.")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise ImportRefused(f"{name}, record {number}: expected an object, found {json_type(record)}.")
        for key, value in record.items():
            if isinstance(value, (dict, list, bool)):
                raise ImportRefused(
                    f"{name}, record {number}, column {key!r}: expected text, a number or null, "
                    f"found {json_type(value)}."
                )
            if isinstance(value, str) and not plain_text(value):
                check_text(value, f"{name}, record {number}, column {key!r}")
        yield number, record


def from_export_record(kind: str, record: dict, where: str) -> tuple[dict, dict | None]:
    """(result row, environment or None) from one exported record (CSV cells are strings),
    typed as their columns; `where` ("file, line 3") names the record in a refusal."""
    check_version(record.pop(VERSION_COLUMN, None), where)
    check_columns(kind, record, where)
    row, env = {}, {}
    for key, value in record.items():
        value = None if value == "" else value
        if key.startswith(ENV_PREFIX):
            env[key[len(ENV_PREFIX) :]] = value
        else:
            row[key] = value
    model = row.get("model")
    if not isinstance(model, str):  # the kind splits its tag off: it must be text
        raise ImportRefused(f"{where}, column 'model': {'empty' if model is None else 'not text'}.")
    check_model(model, f"{where}, column 'model'")
    try:
        row = get_kind(kind).from_export(row)
    except KeyError as e:  # a column the kind reads the others by (throughput's `bench`)
        raise ImportRefused(f"{where}, column {e.args[0]!r}: missing.") from None
    env = typed(ENVIRONMENT_TYPES, env, where, ENV_PREFIX)
    row = typed(get_kind(kind).columns, row, where)
    check_required(kind, row, where)
    return row, (env if any(v is not None for v in env.values()) else None)


def check_version(version, where: str) -> None:
    """No version: a file from before versions (1). A later one is refused rather than misread."""
    if version in (None, ""):
        return
    number = to_number(version, int, f"{where}, column {VERSION_COLUMN!r}") if isinstance(version, str) else version
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise ImportRefused(f"{where}, column {VERSION_COLUMN!r}: {shown(version)} is not a format version.")
    if number > SCHEMA_VERSION:
        raise ImportRefused(
            f"{where}: written in export format {number}; this version reads format {SCHEMA_VERSION} and "
            "older. Import it with the version that wrote it, or upgrade."
        )


def check_columns(kind: str, record: dict, where: str) -> None:
    """Every column is one the kind stores (or an environment's): a column that would be dropped is named."""
    known = set(export_columns(kind))
    unknown = [key for key in record if key not in known]
    if unknown:
        raise ImportRefused(
            f"{where}: {', '.join(map(repr, unknown[:5]))}{' and more' if len(unknown) > 5 else ''} "
            f"{'is not a column' if len(unknown) == 1 else 'are not columns'} of {kind} exports, and would be "
            "lost: remove them, or import with the version that wrote the file."
        )


def check_required(kind: str, row: dict, where: str) -> None:
    """Where a figure came from, and the figure itself: a record without them is not a result."""
    headline = get_kind(kind).headline
    for column in ("source", headline) if headline else ("source",):
        if row.get(column) is None:
            raise ImportRefused(f"{where}, column {column!r}: missing or empty; every {kind} record needs it.")


def typed(columns: dict, row: dict, where: str, prefix: str = "") -> dict:
    """`row` with each value as its column's type (`columns`: name → type): numbers parsed from CSV
    text or checked as JSON numbers, text kept as text; keys with no column pass (they are not stored)."""
    out = {}
    for key, value in row.items():
        cast = columns.get(key)
        if value is None or cast is None or (cast is str and isinstance(value, str)):
            out[key] = value  # text was checked as it was read (csv_records, json_records)
        else:
            out[key] = typed_value(value, cast, f"{where}, column {prefix + key!r}")
    return out


def typed_value(value, cast, where: str):
    """A number column's value as `cast`; any other column holds text (its text checked as it was read)."""
    if cast in (int, float):
        return to_number(value, cast, where) if isinstance(value, str) else check_number(value, cast, where)
    raise ImportRefused(f"{where}: expected text, found {json_type(value)} ({shown(value)}).")


def parse_export(name: str, text: str, kind: str, fmt: str):
    """Parse a file written by write_export into the importer's ParsedFile."""
    if fmt == "json":
        records, unit = json_records(name, text), "record"
    else:
        records, unit = csv_records(name, text, required=("model", "source")), "line"
    parsed = ParsedFile(kind)
    for number, record in records:
        row, env = from_export_record(kind, record, f"{name}, {unit} {number}")
        if env:
            parsed.environments.append(env)
        parsed.rows.append({**row, "environment_id": environment_id(env) if env else None})
    return parsed
