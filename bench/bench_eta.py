"""How far the progress line's ETA was from the truth over a finished sweep, replayed from its log.

    invoke eval-all ... 2> sweep.log          # off a terminal: one line per finished job
    python bench/bench_eta.py sweep.log [--device cpu] [--slots 1]

Replays the per-job lines ("[3/72] done throughput test_vit infer default in 14.9 s") through the
same cost model the live line uses (jobs.progress.JobCosts: each kind of job's median so far, by bench
and compile mode; no earlier sweeps, as on a first run) and compares, after each finished job, the ETA it gives with the time the rest of
the sweep then took. The goal: within ±25% once a tenth of the sweep is done. One slot: the
jobs ran one after another in the order of the log.
"""

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs.progress import JobCosts, cost_key  # noqa: E402

LINE = re.compile(r"\[\d+/\d+\] (?:done|failed) (\S+) (\S+) (\S+) (\S+) in ([\d.]+) s")


def finished_jobs(log: Path, device: str) -> list[tuple[tuple, float]]:
    """(cost key, seconds) of each finished job, in the order they ended."""
    jobs = []
    for line in log.read_text().splitlines():
        match = LINE.match(line)
        if match:
            kind, model, bench, mode, seconds = match.groups()
            spec = {"model": model, "bench": bench, "compile_mode": mode, "device": device}
            jobs.append((cost_key(kind, spec), float(seconds)))
    return jobs


def eta_errors(jobs: list[tuple[tuple, float]], slots: int) -> list[tuple[int, float, float]]:
    """After each finished job: (jobs done, ETA, actual seconds left); the ETA as the live line gives it."""
    costs, rows = JobCosts(), []
    for done, (key, seconds) in enumerate(jobs, 1):
        costs.add(key, seconds)
        left = jobs[done:]
        if left:
            rows.append((done, sum(costs.expected(k) for k, _ in left) / slots, sum(s for _, s in left) / slots))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--slots", type=int, default=1)
    args = parser.parse_args()
    jobs = finished_jobs(args.log, args.device)
    if not jobs:
        raise SystemExit(f"{args.log}: no finished-job lines (run eval-all off a terminal: `2> sweep.log`).")
    rows = eta_errors(jobs, args.slots)
    tenth = max(1, len(jobs) // 10)
    later = [(done, eta, left) for done, eta, left in rows if done >= tenth]
    errors = [100 * (eta - left) / left for _, eta, left in later]
    print(
        f"{len(jobs)} jobs, {sum(s for _, s in jobs) / 60:.1f} min of job time; ETA vs actual time left "
        f"after each job from job {tenth} on (a tenth): error {min(errors):+.0f}% to {max(errors):+.0f}%, "
        f"{sum(abs(e) <= 25 for e in errors)} of {len(errors)} within ±25%"
    )
    for done, eta, left in later[:: max(1, len(later) // 8)]:
        print(
            f"  after {done:3d}: ETA {eta / 60:5.1f} min, actual {left / 60:5.1f} min ({100 * (eta - left) / left:+.0f}%)"
        )


if __name__ == "__main__":
    main()
