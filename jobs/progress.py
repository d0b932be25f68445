"""The sweep's live progress: done/failed/remaining, the job on each slot, elapsed and ETA."""
import sys
import time


def duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """One rewritten status line on a terminal; one line per finished job otherwise (logs, CI)."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.stream = total, stream
        self.done = self.failed = self.elsewhere = 0
        self.current = {}   # slot name → job label
        self.began = time.monotonic()
        self.live = stream.isatty()

    def started(self, job, slot: str) -> None:
        self.current[slot] = job.label
        self.redraw()

    def taken_elsewhere(self, job) -> None:
        """Another sweep on this database claimed `job` first: it leaves this sweep's count."""
        self.total -= 1
        self.elsewhere += 1
        if not self.live:
            print(f"[-] taken by another sweep: {job.label}", file=self.stream, flush=True)
        self.redraw()

    def finished(self, job, slot: str, status: str, error: str | None) -> None:
        self.current.pop(slot, None)
        self.done += status != "failed"
        self.failed += status == "failed"
        if not self.live:
            detail = f": {error}" if status != "done" and error else ""
            print(f"[{self.done + self.failed}/{self.total}] {status} {job.label}{detail}", file=self.stream, flush=True)
        self.redraw()

    def line(self) -> str:
        elapsed = time.monotonic() - self.began
        finished = self.done + self.failed
        eta = duration(elapsed / finished * (self.total - finished)) if finished else "?"
        slots = "  ".join(f"{slot}: {label}" for slot, label in sorted(self.current.items()))
        return (f"{self.done} done, {self.failed} failed, {self.total - finished} left | "
                f"elapsed {duration(elapsed)} ETA {eta} | {slots}")

    def redraw(self) -> None:
        if self.live:
            self.stream.write("\r\033[K" + self.line()[:200])
            self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
