"""Parsing shared by every importer: bytes to text, cells to numbers and names, and the refusal
that names the spot.

Every imported file is untrusted: any bytes, any size, any encoding. What cannot be read as
timm's tables is refused whole with an ImportRefused naming the file, line and column, never
with another exception, so the other files of an import still go in.
"""

import codecs
import csv
import io
import sys
from dataclasses import dataclass, field

from db.errors import LeaderboardError

MAX_SOURCE_BYTES = 256 * 2**20  # a whole file; timm's largest table is ~2 MB, our full JSON export ~20 MB
MAX_CELL_CHARS = 1000  # one cell; timm's longest `model.tag` is under 100
SHOWN_CHARS = 60  # of a cell quoted in a message
SQLITE_INT = 2**63  # SQLite integers are signed 64-bit
FLOAT_MAX = sys.float_info.max
CSV_FIELD_LIMIT = 2**31 - 1  # the csv module's own limit (128 KB) would stop before ours, without a column


def printable(text: str) -> str:
    """`text` with every unprintable character (control, format, line separator, lone surrogate)
    written as its escape: one line that any terminal or encoder takes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class ImportRefused(LeaderboardError):
    """A file that cannot be imported; the message names file, line and column, on one line."""

    def __init__(self, message: str):
        super().__init__(printable(message))  # file names and cells may hold anything


def shown(value) -> str:
    """A cell quoted for a message: repr'd (escapes included), cut to SHOWN_CHARS."""
    text = repr(value)
    length = len(value) if isinstance(value, str) else len(text)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({length} characters)"


@dataclass
class ParsedFile:
    kind: str  # accuracy | throughput
    rows: list = field(default_factory=list)
    environments: list = field(default_factory=list)


# --- bytes → text ----------------------------------------------------------------------------

UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # what Excel's "Unicode text" starts with


def decode_text(name: str, data: bytes) -> str:
    """UTF-8 text (a leading BOM dropped), or a refusal naming the line of the first bad byte."""
    if data.startswith(UTF16_BOMS):
        raise ImportRefused(f"{name}, line 1: UTF-16 text, not UTF-8: save it as UTF-8 (Excel: CSV UTF-8).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ImportRefused(
            f"{name}, line {line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}): save it as UTF-8."
        ) from None


# --- cells -----------------------------------------------------------------------------------


def plain_text(value: str) -> bool:
    """Printable (no control, format or line-separator characters) and not absurdly long: names
    become page titles, chart labels and file names. The cheap test, before naming the spot."""
    return len(value) <= MAX_CELL_CHARS and value.isprintable()


def check_text(value: str, where: str) -> str:
    """A text cell as it is if it is plain_text; else refused, naming what is wrong with it."""
    if len(value) > MAX_CELL_CHARS:
        raise ImportRefused(f"{where}: {len(value)} characters, at most {MAX_CELL_CHARS}.")
    if not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        raise ImportRefused(
            f"{where}: holds the unprintable character {ascii(bad)} at position {value.index(bad) + 1}: remove it."
        )
    return value


def check_number(value, cast, where: str, written: str | None = None):
    """A parsed or JSON number as `cast`: finite (a page's JSON has no Infinity), whole for integer
    columns, within SQLite's or a float's range; `written` is the cell as the file has it, for the message."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problem = "is not a number"
    elif not -FLOAT_MAX <= value <= FLOAT_MAX:  # NaN fails this too; a JSON integer may have 400 digits
        problem = "is not a finite number" if isinstance(value, float) else "is out of range"
    elif cast is int and value != int(value):
        problem = "is not a whole number"
    elif cast is int and not -SQLITE_INT <= value < SQLITE_INT:
        problem = "is out of range"
    else:
        return cast(value)
    raise ImportRefused(f"{where}: {shown(value if written is None else written)} {problem}.")


def to_number(text: str, cast, where: str):
    """Parse a CSV cell: "" is missing, "1,014.45" and "+10" are numbers, anything else refused."""
    text = (text or "").strip().replace(",", "")
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        raise ImportRefused(f"{where}: {shown(text)} is not a number.") from None
    return check_number(number, cast, where, written=text)


def check_model(value: str, where: str) -> str:
    """A model cell (its text checked as it was read) names an architecture before any `.tag`."""
    if not split_tag(value)[0]:
        raise ImportRefused(
            f"{where}: empty." if not value.strip() else f"{where}: {shown(value)} has no architecture name."
        )
    return value


# --- CSV -------------------------------------------------------------------------------------


def csv_records(name: str, text: str, required=("model",)):
    """Yield (line number, row dict) after checking the header has the required columns, every
    cell is printable text of a sane length, and no row has more cells than the header."""
    csv.field_size_limit(CSV_FIELD_LIMIT)  # long cells are refused below, by line and column
    reader = csv.DictReader(io.StringIO(text), restval="")  # a short row's missing cells are empty
    try:
        header = reader.fieldnames or []
        for column in required:
            if column not in header:
                raise ImportRefused(
                    f"{name}, line 1, column {column!r}: missing (header is {shown(','.join(header))})."
                )
        for record in reader:  # the line a record ends on: exact for every record without a quoted newline
            yield reader.line_num, checked_record(name, reader.line_num, record)
    except csv.Error as e:  # DictReader's line_num lags behind its reader's on an error
        raise ImportRefused(f"{name}, line {reader.reader.line_num}: not CSV ({e}).") from None


def checked_record(name: str, line: int, record: dict) -> dict:
    if None in record:  # DictReader files cells beyond the header under None
        raise ImportRefused(
            f"{name}, line {line}: {len(record) - 1 + len(record[None])} cells, the header has {len(record) - 1}."
        )
    for column, value in record.items():
        if not plain_text(value):
            check_text(value, f"{name}, line {line}, column {column!r}")
    check_model(record.get("model") or "", f"{name}, line {line}, column 'model'")
    return record


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
