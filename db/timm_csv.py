"""Import timm's published results CSVs (and our own exports) into the database.

Each file is read and checked in full before anything is written, then stored in one
transaction: a malformed file stores nothing. Rows keep their source (the file name) and,
where the file name tells it, their environment. Importing a file again replaces its rows.
"""

import glob
import http.client
import re
import sqlite3
import sys
import urllib.request
from pathlib import Path

from db.errors import storage_cause
from db.export import parse_export
from db.kinds import KINDS
from db.parsing import (
    MAX_SOURCE_BYTES,
    ImportRefused,
    ParsedFile,
    csv_records,
    decode_text,
    pick_numbers,
    printable,
    split_tag,
)
from db.store import environment_id, environment_row, result_row, save_results

# \Z, not $: $ also matches before a final newline, and a file name may end in one.
RESULTS_NAME = re.compile(r"^results-(?P<dataset>[a-z0-9][a-z0-9_-]*)\.csv\Z")
BENCHMARK_NAME = re.compile(
    r"^benchmark-(?P<bench>infer|train)-(?P<precision>[a-z0-9_]+)-(?P<layout>nchw|nhwc)"
    r"-pt(?P<torch>\d+)-(?P<backend>cu\d+|cpu)-(?P<device>[a-z0-9_]+?)(?P<dynamo>-dynamo)?\.csv\Z"
)
REFERENCE_NAME = re.compile(r"^tiny-test-models-(?P<kind>accuracy|throughput)\.csv\Z")

# The reference figures' provenance, from their README: one RTX 4090, PyTorch 2.4.1,
# timm's benchmark.py with --amp and fast-norm, 160 px, random weights.
REFERENCE_ENVIRONMENT = {"device": "RTX 4090", "device_type": "cuda", "device_count": 1, "torch": "2.4.1"}
REFERENCE_THROUGHPUT_SETTINGS = {"precision": "amp", "fast_norm": 1, "channels_last": 0}

NAMED_DEVICES = {"pro6000maxq": "RTX PRO 6000 Max-Q"}


# --- reading ---------------------------------------------------------------------------------


def read_source(source: str) -> tuple[str, str]:
    """(file name, text) of a path or an http(s) URL; unreadable, too large or not UTF-8 is refused."""
    if re.match(r"^https?://", source):
        name = source.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        try:
            with urllib.request.urlopen(source, timeout=60) as response:
                data = response.read(MAX_SOURCE_BYTES + 1)
        # URLError, HTTPError and timeouts are OSErrors; a malformed URL is a ValueError
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise ImportRefused(
                f"{source}: download failed ({e}). Check the URL, or download the file and pass its path."
            ) from None
        return name, decode_text(name, checked_size(name, data))
    path = Path(source)
    try:
        if not path.is_file():
            raise ImportRefused(f"{source}: no such file. Pass a path to a timm results CSV or an http(s) URL.")
        with path.open("rb") as f:
            data = f.read(MAX_SOURCE_BYTES + 1)
    except OSError as e:  # no permission; a name too long for the file system
        raise ImportRefused(f"{source}: cannot be read ({e.strerror}).") from None
    return path.name, decode_text(path.name, checked_size(path.name, data))


def checked_size(name: str, data: bytes) -> bytes:
    if len(data) > MAX_SOURCE_BYTES:
        raise ImportRefused(f"{name}: larger than {MAX_SOURCE_BYTES // 2**20} MB: split it into smaller files.")
    return data


# --- file names → environment and settings ---------------------------------------------------


def torch_version(digits: str) -> str:
    """pt113 → 1.13, pt240 → 2.4.0, pt291 → 2.9.1 (timm's file naming)."""
    major, rest = digits[0], digits[1:]
    return f"1.{rest}" if major == "1" else f"{major}.{rest[:-1]}.{rest[-1]}"


def device_label(token: str) -> str:
    """rtx4090 and 4090 are the same card; i7_12700h is a CPU."""
    if token in NAMED_DEVICES:
        return NAMED_DEVICES[token]
    if m := re.fullmatch(r"(?:rtx)?(\d{4})", token):
        return f"RTX {m.group(1)}"
    if m := re.fullmatch(r"(i\d)_(\w+)", token):
        return f"cpu: Intel Core {m.group(1)}-{m.group(2).upper()}"
    return token


def benchmark_environment(m: re.Match) -> dict:
    backend = m["backend"]
    cuda = None if backend == "cpu" else f"{backend[2:-1]}.{backend[-1]}"
    return {
        "device": device_label(m["device"]),
        "device_type": "cpu" if backend == "cpu" else "cuda",
        "device_count": 1,
        "torch": torch_version(m["torch"]),
        "cuda": cuda,
    }


# --- parsers, one per file family ------------------------------------------------------------

ACCURACY_NUMBERS = {
    "img_size": ("img_size", int),
    "top1": ("top1", float),
    "top5": ("top5", float),
    "top1_err": ("top1_err", float),
    "top5_err": ("top5_err", float),
    "top1_diff": ("top1_diff", float),
    "top5_diff": ("top5_diff", float),
    "rank_diff": ("rank_diff", int),
    "param_count": ("param_count", float),
    "crop_pct": ("crop_pct", float),
}


def accuracy_row(name: str, line: int, record: dict, dataset: str, source: str) -> dict:
    row = pick_numbers(name, line, record, ACCURACY_NUMBERS)
    for metric in ("top1", "top5"):  # the error is defined by the accuracy; fill it where absent
        if row[f"{metric}_err"] is None and row[metric] is not None:
            row[f"{metric}_err"] = round(100 - row[metric], 3)
    model, tag = split_tag(record["model"])
    return {
        **row,
        "model": model,
        "tag": tag,
        "dataset": dataset,
        "source": source,
        "interpolation": record.get("interpolation") or None,
    }


def parse_results(name: str, text: str, dataset: str, source: str) -> ParsedFile:
    parsed = ParsedFile("accuracy")
    for line, record in csv_records(name, text, required=("model", "top1")):
        parsed.rows.append(accuracy_row(name, line, record, dataset, source))
    return parsed


def benchmark_numbers(bench: str) -> dict:
    return {
        "img_size": (f"{bench}_img_size", int),
        "samples_per_sec": (f"{bench}_samples_per_sec", float),
        "step_time_ms": (f"{bench}_step_time", float),
        "batch_size": (f"{bench}_batch_size", int),
        "gmacs": (f"{bench}_gmacs", float),
        "macts": (f"{bench}_macts", float),
        "param_count": ("param_count", float),
    }


def parse_benchmark(name: str, text: str, m: re.Match, source: str) -> ParsedFile:
    env = benchmark_environment(m)
    settings = {
        "bench": m["bench"],
        "precision": m["precision"],
        "channels_last": int(m["layout"] == "nhwc"),
        "compile_mode": "default" if m["dynamo"] else "eager",
        "fast_norm": None,
        "source": source,
        "environment_id": environment_id(env),
    }
    parsed = ParsedFile("throughput", environments=[env])
    numbers = benchmark_numbers(m["bench"])
    for line, record in csv_records(name, text, required=("model", f"{m['bench']}_samples_per_sec")):
        row = pick_numbers(name, line, record, numbers)
        parsed.rows.append({**row, **settings, "model": split_tag(record["model"])[0]})
    return parsed


def parse_reference_throughput(name: str, text: str, source: str) -> ParsedFile:
    env_id = environment_id(REFERENCE_ENVIRONMENT)
    parsed = ParsedFile("throughput", environments=[REFERENCE_ENVIRONMENT])
    required = ("model", "compile_mode", "img_size", "infer_samples_per_sec", "train_samples_per_sec")
    for line, record in csv_records(name, text, required=required):
        for bench in ("infer", "train"):
            row = pick_numbers(
                name,
                line,
                record,
                {"img_size": ("img_size", int), "samples_per_sec": (f"{bench}_samples_per_sec", float)},
            )
            parsed.rows.append(
                {
                    **row,
                    **REFERENCE_THROUGHPUT_SETTINGS,
                    "bench": bench,
                    "model": record["model"].strip(),
                    "compile_mode": record["compile_mode"].strip(),
                    "source": source,
                    "environment_id": env_id,
                }
            )
    return parsed


def export_name(name: str):
    """The kind and format of one of our exports, `leaderboard-<kind>....csv|json` (any registered kind)."""
    kinds = "|".join(map(re.escape, KINDS))
    return re.match(rf"^leaderboard-(?P<kind>{kinds}).*\.(?P<fmt>csv|json)\Z", name, re.DOTALL)


def parse_file(name: str, text: str) -> ParsedFile:
    """Recognise the file by its name and parse it; unknown names are refused."""
    if m := RESULTS_NAME.match(name):
        return parse_results(name, text, m["dataset"], f"timm:{name}")
    if m := BENCHMARK_NAME.match(name):
        return parse_benchmark(name, text, m, f"timm:{name}")
    if m := REFERENCE_NAME.match(name):
        source = f"reference:{name}"
        if m["kind"] == "accuracy":
            return parse_results(name, text, "imagenet", source)
        return parse_reference_throughput(name, text, source)
    if m := export_name(name):
        return parse_export(name, text, m["kind"], m["fmt"])
    raise ImportRefused(
        f"{name}: unknown file name pattern. Expected results-<dataset>.csv, "
        "benchmark-{infer|train}-<precision>-<nchw|nhwc>-pt<ver>-<cuXXX|cpu>-<device>[-dynamo].csv, "
        f"tiny-test-models-{{accuracy|throughput}}.csv or leaderboard-{{{'|'.join(KINDS)}}}*.csv|json."
    )


# --- storing ---------------------------------------------------------------------------------


def expand_source(source: str) -> list[str]:
    """A folder to its CSVs and JSON exports, a quoted glob to its matches; a file or URL as it is."""
    if Path(source).is_dir():
        return sorted(str(p) for p in [*Path(source).glob("*.csv"), *Path(source).glob("leaderboard-*.json")])
    if any(ch in source for ch in "*?[") and not source.startswith(("http://", "https://")):
        return sorted(glob.glob(source)) or [source]
    return [source]


def expand_sources(sources: list[str]) -> list[str]:
    expanded = []
    for s in sources:
        try:
            expanded += expand_source(s)
        except (OSError, ValueError):  # a name too long, or with a NUL: read_source refuses it, in one line
            expanded.append(s)
    return expanded


def import_files(db, sources: list[str]) -> int:
    """Import each source on its own (a refused one stores nothing and stops none of the others);
    print a line per source; return how many were refused."""
    refused = 0
    for s in sources:
        try:
            kind, rows = import_file(db, s)
            print(f"{printable(s)}: {rows} {kind} rows")  # a path may hold bytes stdout cannot encode
        except ImportRefused as e:
            refused += 1
            print(f"refused: {e}", file=sys.stderr)
        except sqlite3.DatabaseError as e:  # the file is fine; the database could not take it (rolled back)
            refused += 1
            cause = storage_cause(e)
            print(f"not stored: {printable(s)}: the database could not take it ({cause}); free space or repair "
                  "the database, then import it again", file=sys.stderr)  # fmt: skip
    return refused


def import_file(db, source: str) -> tuple[str, int]:
    """Import one path or URL; return (kind, rows stored). Nothing is stored if it is refused."""
    name, text = read_source(source)
    parsed = parse_file(name, text)
    # printable: a path from a folder may hold undecodable bytes, which SQLite cannot store
    rows = [{**result_row(parsed.kind, r), "source_url": r.get("source_url") or printable(source)} for r in parsed.rows]
    with db.atomic():
        for env in parsed.environments:
            db["environments"].insert(environment_row(env), pk="id", ignore=True)
        save_results(db, parsed.kind, rows)
    return parsed.kind, len(rows)
