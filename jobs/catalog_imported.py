"""`invoke catalog --imported`: catalogue every architecture that has stored results (timm's
published tables hold ~1,300), on all cores.

The models are built on the meta device in chunks, each chunk in a fresh process forked from a
job server that has imported torch and timm once (jobs/executors/local.py), one chunk per core at a
time; this process never imports torch. Entries are saved as each chunk ends, so an interrupted
run keeps what it did. A chunk whose process dies (a model that segfaults, a timeout) is run again
one model at a time, so only the culprit is reported failed.
"""

from db.catalog import save_catalog, uncatalogued_results
from jobs.executors.local import PLAN_PRELOAD, LocalExecutor, Slot, available_cores

CHUNK_MODELS = 16  # models per process: a fork costs far less than 16 models' builds
CHUNK_TIMEOUT_S = 600.0  # a chunk of the largest models takes well under a minute
CATALOG_CHUNK = "jobs.catalog:catalog_chunk"


def chunks(names: list[str], size: int) -> list[tuple[list[str]]]:
    return [(names[start : start + size],) for start in range(0, len(names), size)]


class ImportedCatalogue:
    """What the run has done so far: the report `invoke catalog --imported` prints."""

    def __init__(self, db, total: int, on_progress=None):
        self.db, self.total, self.on_progress = db, total, on_progress or (lambda done, total, failed: None)
        self.report = {"catalogued": 0, "unknown": [], "failed": {}}

    @property
    def done(self) -> int:
        return self.report["catalogued"] + len(self.report["unknown"]) + len(self.report["failed"])

    def chunk_ended(self, args: tuple, result: dict) -> list:
        """Save a chunk's entries; a chunk that died runs again model by model (returned to call)."""
        (names,) = args
        if result.get("status") == "done":
            save_catalog(self.db, result["entries"])
            self.report["catalogued"] += len(result["entries"])
            self.report["unknown"] += result["unknown"]
            self.report["failed"].update(result["failed"])
        elif len(names) > 1:
            return [([name],) for name in names]
        else:
            self.report["failed"][names[0]] = result.get("error") or "failed"
        self.on_progress(self.done, self.total, len(self.report["failed"]))
        return []


def catalog_imported(db, workers: int | None = None, on_progress=None) -> dict:
    """Catalogue every uncatalogued architecture with results: {"catalogued": n, "unknown": [names
    the installed timm lacks], "failed": {name: why}}. on_progress(done, total, failed) after each chunk."""
    names = uncatalogued_results(db)
    run = ImportedCatalogue(db, len(names), on_progress)
    run.on_progress(0, run.total, 0)
    if names:
        todo = chunks(names, CHUNK_MODELS)
        with LocalExecutor(
            [Slot("catalog", {"CUDA_VISIBLE_DEVICES": ""})], CHUNK_TIMEOUT_S, preload=PLAN_PRELOAD
        ) as runner:
            runner.call_many(CATALOG_CHUNK, todo, min(workers or available_cores(), len(todo)), run.chunk_ended)
    run.report["unknown"].sort()
    return run.report
