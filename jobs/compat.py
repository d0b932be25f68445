"""Every use of a private timm or torch API, each behind one small function with a version check.

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
        raise LeaderboardError(f"{needed_for} needs {package} >= {wanted}, and {package} "
                               f"{importlib.metadata.version(package)} is installed: pip install '{package}>={wanted}'.")


def limit_image_retries(dataset, retries: int = 1) -> None:
    """Make timm's ImageDataset try an image `retries` times before raising, instead of silently
    loading the next image in its place (which changes the metric).

    Private: ImageDataset._max_retries, the bound of its replace-with-the-next-sample loop.
    Added in timm 1.0.23 (1.0.22 and older recursed through `_consecutive_errors`, where setting
    this does nothing); checked in 1.0.23, 1.0.24, 1.0.25, 1.0.28, 1.0.30 and 1.0.31."""
    require("timm", (1, 0, 23), "Failing on an unreadable image")
    if not hasattr(dataset, "_max_retries"):
        raise RuntimeError(f"timm {importlib.metadata.version('timm')}'s ImageDataset has no _max_retries "
                           "(checked in timm 1.0.23-1.0.31): update jobs/compat.py.")
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
    """Let this job's TORCHINDUCTOR_COMPILE_THREADS decide inductor's compile threads (jobs.executors
    sets it per job): inductor reads the variable when its config module is imported, which the job
    server did before forking, so a job's own value would otherwise be ignored.

    Private: torch._inductor.config.compile_threads and decide_compile_threads(), which reads the
    variable first. Checked in torch 2.14.1; earlier 2.x releases' config has both, alike."""
    import os

    if "TORCHINDUCTOR_COMPILE_THREADS" in os.environ:
        from torch._inductor import config

        config.compile_threads = config.decide_compile_threads()
