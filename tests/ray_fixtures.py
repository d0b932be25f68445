"""A Ray cluster started as the README's recipe starts one, on this machine: for tests/test_ray_cluster.py
and bench/bench_ray.py. Also job doubles that say where they ran, and a driver that sweeps with them.

Each node is a `ray start --block` process (the head, then nodes joining it with --address), with a
folder of its own (Ray's --temp-dir and the node's TMPDIR) and ports found free. Token authentication
is on, as the README sets it up: the head's token is made by `ray get-auth-token --generate` in a home
folder of the cluster's own (never the user's ~/.ray), and the other nodes and the driver get it
through RAY_AUTH_TOKEN. Nodes use loopback addresses 127.0.0.2, .3, ...: Ray rewrites 127.0.0.1 and
localhost to the machine's network address, but keeps the rest of 127/8, which never leaves the
machine. Stopping a node kills every process of its session (`ray start`, GCS, raylet, agents,
workers) whatever state it is in, as a machine that goes away; a node whose starter dies, even by
kill -9, stops itself.
"""

import ctypes
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from job_doubles import ENVIRONMENT, behave

ROOT = Path(__file__).resolve().parent.parent

RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 120.0  # a node's `ray start` on a busy 2-core machine takes 5-20 s
RUN_LOG = "LEADERBOARD_TEST_RUN_LOG"  # where on_node appends a line per job: the nodes share this disk
SLOW_S = 6.0  # slow_on_node's job: long enough to lose its node while it runs
PAIR_WAIT_S = 6.0  # how long a paired job waits for another to run beside it
PR_SET_PDEATHSIG = 1  # Linux prctl: a signal for this process when its parent dies
PORT_FLAGS = (
    "node-manager-port",
    "object-manager-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
    "metrics-export-port",
    "ray-client-server-port",
)


@dataclass
class Node:
    ip: str
    process: subprocess.Popen  # `ray start --block`, leader of the node's session
    folder: Path


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """In a node's `ray start --block`, before it runs: SIGTERM when its starter dies, and on SIGTERM
    `ray start --block` stops every process of its node."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def session_pids(leader: int) -> list[int]:
    """Every process of the session `leader` leads (Ray puts its workers in process groups of their own)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.getsid(int(entry)) == leader:
                pids.append(int(entry))
        except OSError:  # ended meanwhile
            pass
    return pids


class RayCluster:
    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="lbray-"))  # short: Ray's socket paths live under it
        self.home = self.folder / "home"
        self.home.mkdir()
        self.token, self.address, self.nodes = None, None, []
        self.run_log = self.folder / "runs.jsonl"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RAY_")},
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
            RUN_LOG: str(self.run_log),
        }
        self.env.pop("CUDA_VISIBLE_DEVICES", None)  # the nodes' GPUs are the ones they declare

    def driver_env(self) -> dict:
        """The environment of a driver that joins this cluster as the README says."""
        return {**self.env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def start_head(self, cpus: int, gpus: int = 0) -> str:
        """`ray get-auth-token --generate` (into the cluster's home), then `ray start --head`: the address."""
        head_env = {**self.env, "HOME": str(self.home), "RAY_AUTH_MODE": "token"}
        self.token = subprocess.run(
            [RAY, "get-auth-token", "--generate"], env=head_env, capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()
        port = free_port("127.0.0.2")
        self.address = f"127.0.0.2:{port}"
        self.start_node(
            ["--head", f"--port={port}", "--include-dashboard=false", f"--dashboard-port={free_port('127.0.0.2')}"],
            cpus,
            gpus,
            head_env,
        )
        return self.address

    def add_node(self, cpus: int, gpus: int = 0) -> Node:
        """`ray start --address=HEAD` with the head's token in RAY_AUTH_TOKEN."""
        return self.start_node([f"--address={self.address}"], cpus, gpus, self.driver_env())

    def start_node(self, args: list, cpus: int, gpus: int, env: dict) -> Node:
        ip = f"127.0.0.{len(self.nodes) + 2}"
        folder = self.folder / f"n{len(self.nodes) + 1}"
        (folder / "tmp").mkdir(parents=True)
        ports = [f"--{flag}={free_port(ip)}" for flag in PORT_FLAGS]
        command = [
            RAY,
            "start",
            "--block",
            f"--node-ip-address={ip}",
            f"--temp-dir={folder}",
            "--disable-usage-stats",
            f"--num-cpus={cpus}",
            f"--num-gpus={gpus}",
            *ports,
            *args,
        ]
        log = open(folder / "ray-start.log", "w")
        process = subprocess.Popen(
            command,
            env={**env, "TMPDIR": str(folder / "tmp")},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        node = Node(ip, process, folder)
        self.nodes.append(node)
        self.wait_started(node)
        return node

    def wait_started(self, node: Node) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        log = node.folder / "ray-start.log"
        while "Ray runtime started" not in log.read_text():
            if node.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`ray start` of node {node.ip} failed:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def signal_node(self, node: Node, sig: int) -> None:
        """`sig` to every process of the node: SIGSTOP freezes it as a machine cut off the network would be."""
        for pid in session_pids(node.process.pid):
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def stop_node(self, node: Node) -> None:
        self.signal_node(node, signal.SIGKILL)
        node.process.wait(timeout=30)

    def stop(self) -> None:
        """Every node's processes killed, whatever happened; the folder removed."""
        try:
            for node in reversed(self.nodes):
                self.stop_node(node)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def remote_addresses(self) -> set[str]:
        """The addresses the cluster's processes have TCP connections to (listening sockets aside)."""
        inodes = set()
        for node in self.nodes:
            for pid in session_pids(node.process.pid):
                try:
                    links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
                except OSError:
                    continue
                inodes |= {link[8:-1] for link in links if link.startswith("socket:[")}
        return {
            address
            for table in ("tcp", "tcp6")
            for address, inode in tcp_peers(f"/proc/net/{table}")
            if inode in inodes
        }

    def runs(self) -> list[dict]:
        """What on_node logged: one dict per job that ran."""
        if not self.run_log.exists():
            return []
        return [json.loads(line) for line in self.run_log.read_text().splitlines()]


def tcp_peers(table: str):
    """(remote address, socket inode) of each non-listening socket in a /proc/net/tcp* table."""
    with open(table) as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # 0A: LISTEN
                yield str(hex_address(fields[2].split(":")[0])), fields[9]


def hex_address(text: str):
    """/proc/net's hex address (32-bit words in host order) as an IP address; IPv4-mapped IPv6 as IPv4."""
    data = b"".join(int(text[i : i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(text), 8))
    address = ipaddress.ip_address(data)
    return getattr(address, "ipv4_mapped", None) or address


# --- job doubles on a node, and drivers ---------------------------------------------------------


def log_run(**fields) -> None:
    with open(os.environ[RUN_LOG], "a") as log:
        log.write(json.dumps(fields) + "\n")


def on_node(spec: dict) -> dict:
    """job_doubles.behave writing into its compiler cache, as a compiling job does, then logging where and
    when it ran. Its environment's host names its node: a real job's names the machine it ran on, and
    two nodes on one machine share a hostname."""
    import ray

    from db.kinds import get_kind

    began = time.time()
    result = behave({**spec, "behaviour": "compile_cache"})
    node = ray.util.get_node_ip_address()
    where = {k: result.pop(k) for k in get_kind("throughput").unknown_fields(result)}  # pid, CUDA_VISIBLE_DEVICES, ...
    log_run(event="ran", model=spec["model"], node=node, began=began, ended=time.time(), **where)
    return {**result, "environment": {**ENVIRONMENT, "host": f"ray node {node}"}}


def slow_on_node(spec: dict) -> dict:
    """on_node after spec["seconds"] (else SLOW_S), logging its start: long enough to lose its node meanwhile.
    With spec["pair"], it first waits (PAIR_WAIT_S at most) until another job runs beside it on its node."""
    import ray

    node = ray.util.get_node_ip_address()
    log_run(event="started", model=spec["model"], node=node, began=time.time())
    deadline = time.monotonic() + PAIR_WAIT_S
    while spec.get("pair") and len(running_on(node)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(spec.get("seconds", SLOW_S))
    return on_node(spec)


def running_on(node: str) -> set:
    """The models started on `node` that have not ended, from the run log."""
    with open(os.environ[RUN_LOG]) as log:
        runs = [json.loads(line) for line in log]
    started = {run["model"] for run in runs if run["node"] == node and run["event"] == "started"}
    return started - {run["model"] for run in runs if run["event"] == "ran"}


def sweep(db_path: str, address: str, function: str, *models: str) -> int:
    """`invoke eval-all --sweep smoke --models M... --executor ray --ray-address A --device cpu`, with its
    job function replaced by `function`: the CLI's output and exit status."""
    from db.schema import open_db
    from jobs.campaign import Options, run_campaign
    from jobs.executors.ray_cluster import RayExecutor
    from jobs.sweep import BUILTIN_SWEEPS, Narrowing

    options = Options(
        sweep_name="smoke",
        sweep=BUILTIN_SWEEPS["smoke"],
        narrowing=Narrowing(list(models)),
        data=None,
        executor="ray",
        ray_address=address,
        device="cpu",
        timeout_s=120.0,
    )

    def make(options, target):
        return RayExecutor(
            target.device_type, options.timeout_s, options.ray_address, job_functions={"throughput": function}
        )

    summary = run_campaign(open_db(db_path), options, make=make)
    print(summary.text() if summary else "Nothing to run.")
    return 1 if summary and summary.failed else 0


def run_jobs(address: str, device_type: str, count: str, seconds: str, pair: str = "") -> int:
    """`count` jobs of slow_on_node (`seconds` each, paired if `pair` is "pair") on `device_type` through
    RayExecutor.run, without a database: the executor's capacity and each job's result, as JSON."""
    from jobs.executors.ray_cluster import RayExecutor
    from jobs.sweep import Job

    executor = RayExecutor(device_type, 120.0, address, job_functions={"throughput": "ray_fixtures:slow_on_node"})
    spec = {"device": device_type, "seconds": float(seconds), "pair": pair == "pair"}
    planned = [Job(f"k{i}", "throughput", f"m{i}", {**spec, "model": f"m{i}"}) for i in range(int(count))]
    results = {}
    with executor:
        executor.run(planned, lambda job, slot: None, lambda job, slot, result: results.update({job.model: result}))
    print(json.dumps({"capacity": executor.capacity, "results": results}))
    return 0


def main(command: str, *args: str) -> int:
    """A driver's exit status; what the user can fix is one line, as on the command line."""
    from db.errors import LeaderboardError

    try:
        return {"sweep": sweep, "jobs": run_jobs}[command](*args)
    except LeaderboardError as e:
        print(e, file=sys.stderr)
        return 1


if __name__ == "__main__":  # PYTHONPATH as RayCluster.env sets it: python tests/ray_fixtures.py sweep|jobs ARGS...
    sys.exit(main(*sys.argv[1:]))
