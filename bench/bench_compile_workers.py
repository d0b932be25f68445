"""Compile workers against one job at a time, job by job: can a figure tell whether other
jobs compiled beside it?

    python bench/bench_compile_workers.py [--models test_vit ...] [--modes eager default ...]
                                          [--bench infer train] [--compile-workers N] [--rounds R]
                                          [--device cpu|cuda]

Each round runs the same default-sweep throughput jobs twice through the local executor, as eval-all
runs them (cold compiler caches, the job server warm): once with --compile-workers 0 and once with N,
the order alternating from round to round. It prints each job's samples/s under both (medians over
rounds), the ratio N / 0, and the noise to judge it by: how far the same job's figure moves between
rounds with 0 workers. Compile workers bias the figures when the median ratio is off 1 by more than
that noise. On a CPU the cores compiling are the device measured, which is why auto is 0 there.
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_job_overhead import planned_jobs, run  # noqa: E402 (the same jobs, run the same way)


def figures(rows: dict) -> dict:
    """job label -> samples/s of each job that finished."""
    out = {}
    for job, result, _ in rows.values():
        if result.get("status") == "done":
            out[job.label] = result["samples_per_sec"]
        else:
            print(f"FAILED {job.label}: {result.get('error')}", file=sys.stderr)
    return out


def measure_rounds(jobs, target, workers: int, rounds: int) -> tuple[dict, dict]:
    """{workers count: {job label: [samples/s per round]}}, and the sweeps' wall seconds."""
    seen, walls = {0: {}, workers: {}}, {0: [], workers: []}
    for round_ in range(rounds):
        order = (0, workers) if round_ % 2 == 0 else (workers, 0)
        for count in order:
            rows, wall = run(jobs, target, count)
            walls[count].append(wall)
            for label, rate in figures(rows).items():
                seen[count].setdefault(label, []).append(rate)
            print(f"round {round_ + 1}, {count} compile workers: {len(rows)} jobs in {wall:.1f} s", flush=True)
    return seen, walls


def spread(values: list) -> float | None:
    """The largest relative departure from the median, e.g. 0.04 for ±4%."""
    if len(values) < 2:
        return None
    middle = statistics.median(values)
    return max(abs(v / middle - 1) for v in values)


def report(seen: dict, walls: dict, workers: int) -> None:
    alone, shared = seen[0], seen[workers]
    print(f"\n{'job':44s}{'alone':>12s}{f'{workers} workers':>12s}{'ratio':>8s}{'alone spread':>14s}")
    ratios, spreads = [], []
    for label in sorted(set(alone) & set(shared)):
        a, s = statistics.median(alone[label]), statistics.median(shared[label])
        ratios.append(s / a)
        spreads.append(spread(alone[label]))
        noise = f"±{spreads[-1]:.1%}" if spreads[-1] is not None else "-"
        print(f"{label[:44]:44s}{a:12.1f}{s:12.1f}{s / a:8.3f}{noise:>14s}")
    if ratios:
        noise = [s for s in spreads if s is not None]
        print(
            f"median ratio ({workers} workers / alone) {statistics.median(ratios):.3f} over {len(ratios)} jobs; "
            f"median spread of a job alone between rounds "
            f"{'±' + format(statistics.median(noise), '.1%') if noise else '-'}"
        )
    print(
        f"sweep wall medians: alone {statistics.median(walls[0]):.1f} s, "
        f"{workers} workers {statistics.median(walls[workers]):.1f} s"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=["test_vit", "test_resnet"])
    parser.add_argument("--modes", nargs="*", default=["eager", "default"])
    parser.add_argument("--bench", nargs="*", default=["infer"])
    parser.add_argument("--compile-workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    if args.compile_workers < 1:
        parser.error("--compile-workers: give the N to compare with 0, at least 1")

    target, jobs = planned_jobs(args)
    print(
        f"{len(jobs)} jobs on {target.device_name}, {args.rounds} rounds, 0 against {args.compile_workers} compile workers"
    )
    seen, walls = measure_rounds(jobs, target, args.compile_workers, args.rounds)
    report(seen, walls, args.compile_workers)


if __name__ == "__main__":
    main()
