"""Foundation figures: importing all of timm's published CSVs, and `invoke catalog`.

    python bench/bench_foundation.py [--timm-results ../shared/timm-results] [--repeats 5]

Import: wall time of importing every CSV into an EMPTY database (fresh file each repeat), median
of the repeats, plus the database size. Catalogue: wall time of `invoke catalog` over all
`test_*` models, as a user runs it (a fresh process, so it includes importing torch and timm).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jobs  # noqa: E402,F401 (registers the result kinds)
from db.schema import open_db  # noqa: E402
from db.timm_csv import import_file  # noqa: E402


def time_import(files: list[Path]) -> tuple[float, int, int]:
    """Seconds to import `files` into a new database; its size in bytes; rows stored."""
    with tempfile.TemporaryDirectory() as tmp:
        db_file = Path(tmp) / "bench.db"
        start = time.perf_counter()
        db = open_db(db_file)
        rows = sum(import_file(db, str(f))[1] for f in files)
        seconds = time.perf_counter() - start
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return seconds, db_file.stat().st_size, rows


def time_catalog(db_file: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "invoke", "catalog", "--db", str(db_file)], cwd=ROOT, check=True, capture_output=True
    )
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timm-results", type=Path, default=ROOT.parent / "shared" / "timm-results")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    files = sorted(args.timm_results.glob("*.csv"))
    runs = [time_import(files) for _ in range(args.repeats)]
    seconds = [r[0] for r in runs]
    print(
        f"import {len(files)} files, {runs[0][2]} rows into an empty database: "
        f"median {statistics.median(seconds):.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f}) "
        f"over {args.repeats} runs; database {runs[0][1] / 1e6:.1f} MB"
    )
    with tempfile.TemporaryDirectory() as tmp:
        catalog_seconds = [time_catalog(Path(tmp) / "c.db") for _ in range(3)]
    print(
        f"invoke catalog (all test_* models, fresh process): median {statistics.median(catalog_seconds):.2f} s "
        f"(min {min(catalog_seconds):.2f}, max {max(catalog_seconds):.2f}) over 3 runs"
    )


if __name__ == "__main__":
    main()
