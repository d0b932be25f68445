"""CSV parsing shared by every importer: numbers, headers, and the refusal that names the spot."""
import csv
import io
from dataclasses import dataclass, field

from db.errors import LeaderboardError


class ImportRefused(LeaderboardError):
    """A file that cannot be imported; the message names file, line and column."""


@dataclass
class ParsedFile:
    kind: str                      # accuracy | throughput
    rows: list = field(default_factory=list)
    environments: list = field(default_factory=list)


def to_number(text: str, cast, where: str):
    """Parse a CSV cell: "" is missing, "1,014.45" and "+10" are numbers, anything else refused."""
    text = (text or "").strip().replace(",", "")
    if text == "":
        return None
    try:
        return cast(float(text)) if cast is int else cast(text)
    except ValueError:
        raise ImportRefused(f"{where}: {text!r} is not a number.") from None


def csv_records(name: str, text: str, required=("model",)):
    """Yield (line number, row dict) after checking the header has the required columns."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    for column in required:
        if column not in header:
            raise ImportRefused(f"{name}, line 1, column {column!r}: missing (header is {','.join(header)}).")
    for line, record in enumerate(reader, start=2):
        if not (record.get("model") or "").strip():
            raise ImportRefused(f"{name}, line {line}, column 'model': empty.")
        yield line, record


def pick_numbers(name: str, line: int, record: dict, columns: dict) -> dict:
    """Numbers from `record`: {row column: (csv column, type)}; absent csv columns are None."""
    return {
        target: to_number(record.get(source), cast, f"{name}, line {line}, column {source!r}")
        for target, (source, cast) in columns.items()
    }


def split_tag(model: str) -> tuple[str, str | None]:
    """`test_vit.r160_in1k` → ("test_vit", "r160_in1k"); `test_vit` → ("test_vit", None)."""
    arch, _, tag = model.strip().partition(".")
    return arch, tag or None
