"""How the GPU check (bench/gpu_check.py) runs things: subprocesses with timeouts that end by its hard
stop, progress with timestamps, a log, the project's command line, and reads of its database."""

import json
import os
import re
import resource
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Ran:
    """A finished subprocess."""

    command: list
    returncode: int | None  # None: killed at its timeout
    seconds: float
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def problem(self, what: str) -> str:
        ending = "timed out" if self.returncode is None else f"exit {self.returncode}"
        lines = [line for line in self.output.strip().splitlines() if line.strip()]
        return f"{what}: {ending} after {self.seconds:.0f} s: {lines[-1][:300] if lines else 'no output'}"

    def tagged_json(self) -> dict | None:
        """The JSON a snippet printed after `GPU_CHECK `."""
        found = re.findall(r"^GPU_CHECK (.*)$", self.output, re.MULTILINE)
        return json.loads(found[-1]) if found else None


class Runner:
    """Where the check writes, its clock and budget, and how it runs the project on `device`."""

    def __init__(self, out: str, device: str, stop_s: float):
        self.device, self.stop_s = device, stop_s  # every command ends by stop_s after the start
        self.out = Path(out).resolve()
        self.db = self.out / "leaderboard.db"
        self.started = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        if ROOT in self.out.parents:
            (self.out / ".gitignore").write_text("*\n")  # output, never committed
        self.log = open(self.out / "gpu-check.log", "a")
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }

    # --- time and progress ---------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left_s(self) -> float:
        """Seconds until the hard stop."""
        return self.stop_s - self.elapsed()

    def timeout(self, cap_s: float) -> float:
        """`cap_s`, or less so that every subprocess ends by the hard stop."""
        return max(1.0, min(cap_s, self.left_s()))

    def say(self, message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')} +{self.elapsed():4.0f}s] {message}"
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    # --- subprocesses --------------------------------------------------------------------------
    def run(self, command: list, cap_s: float, memory_cap_mb: int | None = None, env: dict | None = None) -> Ran:
        """Run `command` in the repository, output logged, killed with its process group at its timeout."""
        command = [str(c) for c in command]
        timeout = self.timeout(cap_s)
        self.log.write(f"\n$ {shlex.join(command)}   (timeout {timeout:.0f} s)\n")
        self.log.flush()
        start = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=address_space_limit(memory_cap_mb),
        )
        try:
            output, _ = process.communicate(timeout=timeout)
            returncode = process.returncode
        except subprocess.TimeoutExpired:
            kill_group(process)
            output, returncode = process.communicate()[0], None
        except BaseException:  # Ctrl-C or SIGTERM of the check: its own session would outlive it
            kill_group(process)
            raise
        ran = Ran(command, returncode, time.monotonic() - start, output or "")
        self.log.write(ran.output + f"[exit {returncode} after {ran.seconds:.1f} s]\n")
        self.log.flush()
        return ran

    def invoke(
        self,
        task: str,
        *flags,
        cap_s: float = 300,
        memory_cap_mb=None,
        env: dict | None = None,
        config: Path | None = None,
    ) -> Ran:
        """`python3 -m invoke TASK FLAGS --db OUT/leaderboard.db`: the command line users run. Its jobs
        end before the check's deadline (leaderboard.job_timeout; eval-all's --timeout flag reached the
        executor as an unconverted string when this was written)."""
        self.say(f"invoke {task} {shlex.join(str(f) for f in flags)}")
        job_timeout = {"INVOKE_LEADERBOARD_JOB_TIMEOUT": str(int(max(60, self.timeout(cap_s))))}
        config_flags = ["-f", config] if config else []  # Invoke's runtime config file
        return self.run(
            [sys.executable, "-m", "invoke", *config_flags, task, *flags, "--db", self.db],
            cap_s,
            memory_cap_mb,
            {**job_timeout, **(env or {})},
        )

    def eval_all(self, *flags, cap_s: float, config: Path | None = None) -> Ran:
        return self.invoke("eval-all", *flags, "--device", self.device, "--no-site", cap_s=cap_s, config=config)

    def python(self, code: str, *args, cap_s: float = 300) -> Ran:
        return self.run([sys.executable, "-c", code, *args], cap_s)

    def has_flag(self, task: str, flag: str) -> bool:
        return flag in self.run([sys.executable, "-m", "invoke", "--help", task], 60).output

    def gpu_clocks(self) -> str | None:
        """SM clock, its maximum, temperature and power now (None without nvidia-smi)."""
        return nvidia_smi("clocks.sm,clocks.max.sm,temperature.gpu,power.draw")

    # --- the database --------------------------------------------------------------------------
    def query(self, sql: str, *params) -> list[dict]:
        if not self.db.exists():
            return []
        with closing(sqlite3.connect(self.db, timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            try:
                return [dict(row) for row in conn.execute(sql, params)]
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):  # a database the project has not set up yet
                    return []
                raise

    def last_rowid(self, table: str) -> int:
        rows = self.query(f"SELECT max(rowid) AS n FROM [{table}]")
        return (rows[0]["n"] or 0) if rows else 0

    def rows_since(self, table: str, rowid: int) -> list[dict]:
        """Rows `table` gained after `rowid`, with their environment's device."""
        return self.query(
            f"SELECT r.*, e.device AS env_device, e.device_type AS env_device_type FROM [{table}] r "
            "LEFT JOIN environments e ON e.id = r.environment_id WHERE r.rowid > ? ORDER BY r.rowid",
            rowid,
        )

    def sweep_jobs(self, sweep: str | None = None) -> list[dict]:
        """This device's throughput jobs (of `sweep`), each with its spec, result and device."""
        rows = self.query(
            "SELECT j.key, j.sweep, j.model, j.status, j.error, j.spec, t.samples_per_sec, "
            "t.samples_per_sec_min, t.samples_per_sec_max, t.compile_s, t.batch_size, "
            "e.device, e.device_type FROM jobs j LEFT JOIN throughput t ON t.id = j.result_id "
            "LEFT JOIN environments e ON e.id = t.environment_id WHERE j.kind = 'throughput'"
        )
        jobs = [{**row, "spec": json.loads(row["spec"])} for row in rows if sweep in (None, row["sweep"])]
        return [job for job in jobs if job["spec"].get("device") == self.device]

    def close(self) -> None:
        """Fold the WAL into the database file, so OUT holds one file per thing."""
        if self.db.exists():
            with closing(sqlite3.connect(self.db, timeout=30)) as conn:
                conn.execute("PRAGMA journal_mode=DELETE")
        self.log.close()


def as_flags(flags: dict) -> list:
    """{"batch-size": 256, "fast-norm": True} -> ["--batch-size", 256, "--fast-norm"]."""
    out = []
    for name, value in flags.items():
        if value is True:
            out.append(f"--{name}")
        elif value not in (None, False):
            out += [f"--{name}", value]
    return out


def address_space_limit(memory_cap_mb: int | None):
    if memory_cap_mb is None:
        return None
    limit = memory_cap_mb * 2**20
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def kill_group(process) -> None:
    """End a timed-out command with everything it started (compile workers, job processes)."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
            process.wait(wait_s)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def nvidia_smi(fields: str) -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
