"""The sweep's live progress: done/failed/left, the job on each slot and for how long, elapsed, ETA.

The ETA adds up what each job left is expected to cost, by kind of job (kind, bench, compile mode,
device: a compile job costs many eager ones): the mean of this sweep's finished jobs of that kind,
else the median of earlier sweeps' (from the database), else the mean of everything finished so far.
On a terminal the line is redrawn every second; otherwise one line per finished job, with its time.
"""

import statistics
import sys
import threading
import time
from collections import defaultdict

TICK_S = 1.0  # how often the live line is redrawn


def duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def cost_key(kind: str, spec: dict) -> tuple:
    """What decides a job's cost: its kind, bench, compile mode and device (the job's kind of cost),
    then its model."""
    return kind, spec.get("bench"), spec.get("compile_mode"), spec.get("device"), spec.get("model")


def kind_of(key: tuple) -> tuple:
    return key[:-1]


class JobCosts:
    """Seconds a job is expected to take: what the same job (model and kind) took in an earlier sweep
    on this database, else the median of its kind in this sweep so far, else in earlier sweeps. The
    median, as one heavy model (test_maxvit compiles 3x longer than most) skews a mean for every job
    left (bench/bench_eta.py: the CPU first run's ETA within -21%..+41% of the truth after a tenth,
    against -11%..+82% with means); the same model's own past figure, as models differ more than kinds."""

    def __init__(self, past: dict | None = None):
        past = {key: seconds for key, seconds in (past or {}).items() if seconds}
        self.past_jobs = {key: statistics.median(seconds) for key, seconds in past.items()}
        by_kind = defaultdict(list)
        for key, seconds in past.items():
            by_kind[kind_of(key)] += seconds
        self.past_kinds = {kind: statistics.median(seconds) for kind, seconds in by_kind.items()}
        self.seen = defaultdict(list)  # kind → seconds of this sweep's finished jobs

    def add(self, key: tuple, seconds: float) -> None:
        self.seen[kind_of(key)].append(seconds)

    def expected(self, key: tuple) -> float | None:
        if key in self.past_jobs:
            return self.past_jobs[key]
        if self.seen.get(kind_of(key)):
            return statistics.median(self.seen[kind_of(key)])
        if kind_of(key) in self.past_kinds:
            return self.past_kinds[kind_of(key)]
        everything = [s for seconds in self.seen.values() for s in seconds]
        return statistics.median(everything) if everything else None


class LiveLine:
    """A status line redrawn every second on a terminal (subclasses say what it reads: `line`)."""

    def __init__(self, stream):
        self.stream, self.live = stream, stream.isatty()
        self.began = time.monotonic()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        if self.live:
            threading.Thread(target=self.tick, name="progress", daemon=True).start()

    def line(self) -> str:
        raise NotImplementedError

    def tick(self) -> None:
        while not self.stopped.wait(TICK_S):
            self.redraw()

    def redraw(self) -> None:
        if self.live:
            text = "\r\033[K" + self.line()[:200]
            with self.lock:
                self.stream.write(text)
                self.stream.flush()

    def close(self) -> None:
        self.stopped.set()
        if self.live:
            with self.lock:
                self.stream.write("\n")
                self.stream.flush()


class Progress(LiveLine):
    """One live status line on a terminal; one line per finished job otherwise (logs, CI)."""

    def __init__(self, jobs: list, stream=sys.stderr, slots: int = 1, past_costs: dict | None = None):
        self.total, self.slots = len(jobs), max(1, slots)
        self.waiting = {job.key: cost_key(job.kind, job.spec) for job in jobs}  # not started yet
        self.costs = JobCosts(past_costs)
        self.done = self.failed = self.elsewhere = 0
        self.current = {}  # slot name → (job label, cost key, started at)
        self.waits = {}  # slot name → who holds its device, while it waits for it
        self.first_start = None  # when the first job started
        self.busy_s = 0.0  # the finished jobs' seconds, added up
        super().__init__(stream)

    def started(self, job, slot: str) -> None:
        with self.lock:
            key = self.waiting.pop(job.key, cost_key(job.kind, job.spec))
            self.current[slot] = (job.label, key, time.monotonic())
            self.first_start = self.first_start or self.current[slot][2]
        self.redraw()

    def taken_elsewhere(self, job) -> None:
        """Another sweep on this database claimed `job` first: it leaves this sweep's count."""
        with self.lock:
            self.waiting.pop(job.key, None)
            self.total -= 1
            self.elsewhere += 1
        if not self.live:
            print(f"[-] taken by another sweep: {job.label}", file=self.stream, flush=True)
        self.redraw()

    def device_wait(self, slot: str, holder: str | None) -> None:
        """Slot `slot` waits for its device, held by `holder` (None: no longer waits)."""
        with self.lock:
            if holder is None:
                self.waits.pop(slot, None)
            else:
                self.waits[slot] = holder
        if holder is not None:
            print(("\r\033[K" if self.live else "") + f"[~] {slot} waits for its device, held by {holder}",
                  file=self.stream, flush=True)  # fmt: skip
        self.redraw()

    def lost_to_another_sweep(self, job, slot: str) -> None:
        """This sweep's claim on `job` lapsed while it ran (the sweep was frozen, say) and another sweep
        took the job over: this run's result is not stored, and the job leaves this sweep's count."""
        with self.lock:
            self.current.pop(slot, None)
            self.total -= 1
            self.elsewhere += 1
        print(
            ("\r\033[K" if self.live else "")  # above the live line, which the redraw below puts back
            + f"[-] not stored: {job.label}: another sweep took it over while it ran here (this sweep's claim "
            "lapsed); its run is the one kept",
            file=self.stream,
            flush=True,
        )
        self.redraw()

    def finished(self, job, slot: str, status: str, error: str | None) -> None:
        with self.lock:
            label, key, began = self.current.pop(slot, (job.label, cost_key(job.kind, job.spec), time.monotonic()))
            seconds = time.monotonic() - began
            self.costs.add(key, seconds)
            self.busy_s += seconds
            self.done += status != "failed"
            self.failed += status == "failed"
        if not self.live:
            detail = f": {error}" if status != "done" and error else ""
            print(
                f"[{self.done + self.failed}/{self.total}] {status} {label} in {seconds:.1f} s{detail}",
                file=self.stream,
                flush=True,
            )
        self.redraw()

    def eta(self) -> float | None:
        """Seconds until the last job ends: what the waiting jobs and the rest of the running ones cost,
        over how many jobs have run at once so far; None until a cost is known."""
        now = time.monotonic()
        left = [self.costs.expected(key) for key in self.waiting.values()]
        left += [max(0.0, (self.costs.expected(key) or 0.0) - (now - began)) for _, key, began in self.current.values()]
        if any(cost is None for cost in left):
            return None
        return sum(left) / self.concurrency(now)

    def concurrency(self, now: float) -> float:
        """Jobs running at once, on average since the first started: the slots, or more where compile
        workers overlap jobs (a job's seconds then include its wait for a turn on the device)."""
        running = sum(now - began for _, _, began in self.current.values())
        wall = now - self.first_start if self.first_start is not None else 0.0
        return (self.busy_s + running) / wall if self.busy_s and wall > 0 else float(self.slots)

    def line(self) -> str:
        now = time.monotonic()
        with self.lock:
            finished = self.done + self.failed
            eta = self.eta()
            slots = "  ".join(
                f"{slot}: {label} ({duration(now - began)})" for slot, (label, _, began) in sorted(self.current.items())
            )
            waits = "  ".join(f"{slot} waits for {holder}" for slot, holder in sorted(self.waits.items()))
        return (
            f"{self.done} done, {self.failed} failed, {self.total - finished} left | "
            f"elapsed {duration(now - self.began)} ETA {duration(eta) if eta is not None else '?'} | {slots or waits}"
        )


class CountProgress(LiveLine):
    """Progress of a long count of items (`invoke catalog --imported`): a live line on a terminal,
    redrawn every second; otherwise a line at every tenth of the way (logs, CI)."""

    def __init__(self, what: str, stream=sys.stderr):
        self.what = what
        self.done = self.total = self.failed = 0
        self.reported_tenth = 0
        super().__init__(stream)

    def update(self, done: int, total: int, failed: int) -> None:
        self.done, self.total, self.failed = done, total, failed
        tenth = 10 * done // total if total else 10
        if not self.live and tenth > self.reported_tenth:
            self.reported_tenth = tenth
            print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        elapsed = time.monotonic() - self.began
        left = elapsed / self.done * (self.total - self.done) if self.done else None
        return (
            f"{self.what} {self.done}/{self.total or '?'} ({self.failed} failed) | elapsed {duration(elapsed)} "
            f"ETA {duration(left) if left is not None else '?'}"
        )

    def close(self) -> None:
        self.redraw()  # the final count
        super().close()
