"""One throughput spec, one answer: `invoke bench` against an `invoke eval-all` job of the same spec.

    python bench/bench_agreement.py [--rounds 5] [--device cpu|cuda] [--model test_vit] [--batch 32]
                                    [--precision fp32] [--steps 20] [--repeats 5] [--warmup 5]

Each round runs the spec once through each entry point, as a user would (the real command line,
each with a database of its own), alternating which goes first, and reads samples/s back from the
database. Prints a Markdown table per round and the median ratio eval-all / bench (goal: within 3%).
On a CPU, one intra-op thread (OMP_NUM_THREADS=1): a preempted second thread swings timings several-fold.
"""

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--model", default="test_vit")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5)
    return parser.parse_args()


def invoke(args: list[str], cwd: Path, db: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "INVOKE_LEADERBOARD_DB": str(db)}
    done = subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        raise SystemExit(f"invoke {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def samples_per_sec(db: Path) -> float:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT samples_per_sec FROM throughput ORDER BY created_at DESC LIMIT 1").fetchone()[0]


def project_folder(a) -> Path:
    """A folder with our tasks.py and an invoke.yaml whose one-job sweep is the spec `invoke bench` gets."""
    folder = Path(tempfile.mkdtemp(prefix="agreement-"))
    (folder / "tasks.py").write_text((ROOT / "tasks.py").read_text())
    (folder / "invoke.yaml").write_text(
        "leaderboard:\n  sweeps:\n    one:\n"
        f"      models: [{a.model}]\n"
        f"      throughput: {{benches: [infer], compile_modes: [eager], precision: {a.precision}, "
        f"batch_size: {a.batch}, warmup_steps: {a.warmup}, steps: {a.steps}, repeats: {a.repeats}}}\n"
    )
    return folder


def via_bench(a, folder: Path, db: Path) -> float:
    invoke(
        [
            "bench",
            "--model",
            a.model,
            "--precision",
            a.precision,
            "--batch-size",
            str(a.batch),
            "--warmup",
            str(a.warmup),
            "--steps",
            str(a.steps),
            "--repeats",
            str(a.repeats),
            "--device",
            a.device,
        ],
        folder,
        db,
    )
    return samples_per_sec(db)


def via_eval_all(a, folder: Path, db: Path) -> float:
    invoke(["eval-all", "--sweep", "one", "--device", a.device, "--no-site", "--force"], folder, db)
    return samples_per_sec(db)


def main() -> None:
    a = parse_args()
    folder = project_folder(a)
    print(
        f"Spec: {a.model} infer eager {a.precision} batch {a.batch}, {a.warmup} warm-up, "
        f"{a.repeats} x {a.steps} steps, {a.device}\n"
    )
    print(
        "| round | first | invoke bench samples/s | eval-all job samples/s | eval-all / bench |\n|---|---|---|---|---|"
    )
    ratios = []
    for round_ in range(1, a.rounds + 1):
        order = (via_bench, via_eval_all) if round_ % 2 else (via_eval_all, via_bench)
        figures = {run.__name__: run(a, folder, folder / f"{run.__name__}-{round_}.db") for run in order}
        ratio = figures["via_eval_all"] / figures["via_bench"]
        ratios.append(ratio)
        print(
            f"| {round_} | {order[0].__name__[4:]} | {figures['via_bench']:.1f} | "
            f"{figures['via_eval_all']:.1f} | {ratio:.3f} |",
            flush=True,
        )
    print(f"| **median** | | | | **{statistics.median(ratios):.3f}** (min {min(ratios):.3f}, max {max(ratios):.3f}) |")


if __name__ == "__main__":
    main()
