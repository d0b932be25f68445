"""Every use of a private timm, torch or Ray API, each behind one small function with a version check.

A private name can change in any release without notice. Each function here names the versions
it was checked against; tests/test_compat.py checks each behaviour, so an upgrade that changes
one fails there, in one place, rather than somewhere in a sweep. Public APIs stay where they
are used (e.g. torch.compiler.reset, not torch._dynamo.reset). torch and timm are imported
inside the functions: importing this module stays cheap.
"""

import importlib.metadata
import re
from functools import lru_cache

from db.errors import LeaderboardError


@lru_cache(maxsize=None)
def installed(package: str) -> tuple[int, ...]:
    """The installed version as numbers: `2.14.1+cu130` → (2, 14, 1)."""
    return tuple(int(part) for part in re.findall(r"\d+", importlib.metadata.version(package).split("+")[0])[:3])


def require(package: str, minimum: tuple[int, ...], needed_for: str) -> None:
    if installed(package) < minimum:
        wanted = ".".join(map(str, minimum))
        raise LeaderboardError(
            f"{needed_for} needs {package} >= {wanted}, and {package} "
            f"{importlib.metadata.version(package)} is installed: pip install '{package}>={wanted}'."
        )


def limit_image_retries(dataset, retries: int = 1) -> None:
    """Make timm's ImageDataset try an image `retries` times before raising, instead of silently
    loading the next image in its place (which changes the metric).

    Private: ImageDataset._max_retries, the bound of its replace-with-the-next-sample loop.
    Added in timm 1.0.23 (1.0.22 and older recursed through `_consecutive_errors`, where setting
    this does nothing); checked in 1.0.23, 1.0.24, 1.0.25, 1.0.28, 1.0.30 and 1.0.31."""
    require("timm", (1, 0, 23), "Failing on an unreadable image")
    if not hasattr(dataset, "_max_retries"):
        raise RuntimeError(
            f"timm {importlib.metadata.version('timm')}'s ImageDataset has no _max_retries "
            "(checked in timm 1.0.23-1.0.31): update jobs/compat.py."
        )
    dataset._max_retries = retries


def torch_dispatch_mode() -> type:
    """The base class of a mode that sees every aten op (counting activations, as FlopCounterMode
    counts FLOPs).

    Private module: torch.utils._python_dispatch.TorchDispatchMode (the public FlopCounterMode
    derives from it; torch's docs on __torch_dispatch__ modes import it from there). Checked in
    torch 2.4.0 and 2.14.1."""
    require("torch", (2, 4), "Counting activations")
    from torch.utils._python_dispatch import TorchDispatchMode

    return TorchDispatchMode


def cudagraph_skips() -> int:
    """How often inductor has declined CUDA graphs for a graph so far in this process.

    Private: torch._dynamo.utils.counters["inductor"]["cudagraph_skips"], which inductor bumps
    beside its "skipping cudagraphs due to ..." log line. Checked in torch 2.4.0 (in
    torch/_inductor/cudagraph_utils.py) and 2.14.1 (cudagraph_utils.py and output_code.py)."""
    require("torch", (2, 4), "Counting CUDA graph skips")
    from torch._dynamo.utils import counters

    return int(counters["inductor"].get("cudagraph_skips", 0))


def apply_compile_threads() -> None:
    """Let this job's TORCHINDUCTOR_COMPILE_THREADS and TORCHINDUCTOR_WORKER_START decide inductor's
    compile pool (jobs.executors sets them per job): inductor reads the variables when its config
    module is imported, which the job server did before forking, so a job's own values would
    otherwise be ignored.

    Private: torch._inductor.config.compile_threads, decide_compile_threads() (reads the variable
    first), worker_start_method and decide_worker_start_method() (checks the value). Checked in torch
    2.14.1; releases without decide_worker_start_method take the variable as it is."""
    import os

    if "TORCHINDUCTOR_COMPILE_THREADS" not in os.environ and "TORCHINDUCTOR_WORKER_START" not in os.environ:
        return  # nothing to apply: an eager job need not import inductor
    from torch._inductor import config

    if "TORCHINDUCTOR_COMPILE_THREADS" in os.environ:
        config.compile_threads = config.decide_compile_threads()
    if "TORCHINDUCTOR_WORKER_START" in os.environ:
        decide = getattr(config, "decide_worker_start_method", None)
        config.worker_start_method = decide() if decide else os.environ["TORCHINDUCTOR_WORKER_START"]


def probe_cpu_vector_isa() -> None:
    """Find which vector instruction sets inductor's C++ kernels can use here, once, in the job
    server: the answer is cached in memory, so the CPU jobs forked from it skip the 3 test builds
    (~7-10 s a compiled job on a 2-core machine, bench/RESULTS.md), which their empty per-job caches
    would otherwise redo. The probe's builds land in inductor's usual cache, which keeps them.

    Private: torch._inductor.cpu_vec_isa.valid_vec_isa_list (functools.cache). Checked in torch 2.14.1."""
    import logging

    from torch._inductor.cpu_vec_isa import valid_vec_isa_list

    # The probe imports torch.utils.cpp_extension, whose import warns on the sweep's terminal when a
    # CUDA build of torch finds no CUDA toolkit: nothing a CPU sweep needs.
    cpp_extension_log = logging.getLogger("torch.utils.cpp_extension")
    level = cpp_extension_log.level
    cpp_extension_log.setLevel(logging.ERROR)
    try:
        valid_vec_isa_list()
    finally:
        cpp_extension_log.setLevel(level)


def op_schema(op):
    """The schema of a dispatched ATen op (`func` in __torch_dispatch__): whether it mutates an input
    (`is_mutable`) and each return's `alias_info` (set when it returns a view).

    Private: OpOverload._schema, the op's torch._C.FunctionSchema. Checked in torch 2.11 and 2.14."""
    return op._schema


def reload_ray_config() -> None:
    """Make Ray read its settings from the environment again (it reads them once, on import), after
    this process set RAY_AUTH_MODE.

    Private: ray._raylet.Config.initialize. Checked in Ray 2.60."""
    from ray._raylet import Config

    Config.initialize("")


# Asks the head's GCS for the cluster's id, as ray.init does first; run in a process of its own (Ray logs
# each refusal to stderr from C++, and aborts the process on some token misconfigurations), so it is code
# for `python -c ADDRESS`. Exits RAY_TOKEN_REFUSED when the head refuses this machine's token.
# Private: ray._raylet.GcsClient. Checked in Ray 2.60.
RAY_TOKEN_REFUSED = 3
RAY_GCS_PROBE = f"""
import sys
from ray._raylet import GcsClient
from ray.exceptions import AuthenticationError
try:
    GcsClient(address=sys.argv[1])
except AuthenticationError:
    sys.exit({RAY_TOKEN_REFUSED})
"""
