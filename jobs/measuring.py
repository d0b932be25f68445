"""Measurement helpers every job uses: the device (selection, clock, peak memory, releasing memory),
autocast, out-of-memory detection and batch back-off, and how a failure is written down.

Every device-specific torch call the jobs make is made here, so that the tests can check each
one's arguments the way torch checks them on a machine without a GPU (tests/cuda_fake.py).
torch is imported inside the functions: importing this module stays cheap.
"""

import gc
import logging
import resource
import sys
import traceback
from contextlib import nullcontext

log = logging.getLogger(__name__)

# Autocast dtype per precision; "amp" is validate.py's --amp: float16 on CUDA, bfloat16 elsewhere.
AUTOCAST_DTYPES = {"amp_bf16": "bfloat16", "amp_fp16": "float16", "amp": None}
# RuntimeError messages of an allocator that ran out: CUDA's, cuBLAS/cuDNN workspaces, the CPU's ENOMEM.
OUT_OF_MEMORY_MESSAGES = (
    "out of memory",
    "can't allocate memory",
    "not enough memory",
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_ALLOC_FAILED",
)


def is_cuda(device: str) -> bool:
    return device.split(":")[0] == "cuda"


def select_device(device: str) -> str:
    """`device` with an explicit index ("cuda" → "cuda:0"), made current: CUDA graph pools and
    inductor kernels follow the current device, and torch.cuda.set_device takes only an index."""
    import torch

    if not is_cuda(device):
        return device
    index = torch.device(device).index
    if index is None:
        index = torch.cuda.current_device()
    torch.cuda.set_device(index)
    torch.backends.cudnn.benchmark = True  # the fastest conv kernels (picked during warm-up), as timm does
    return f"cuda:{index}"


def tensor_device(device: str) -> str:
    """Where a job puts its model and tensors: `device` (tests run CUDA code paths with CPU tensors)."""
    return device


def synchronizer(device: str):
    """A function that returns once the device has finished its queued work."""
    import torch

    if is_cuda(device):
        return lambda: torch.cuda.synchronize(device)
    return lambda: None  # CPU ops have finished when they return


def autocast(precision: str, device: str):
    """The autocast context for `precision` on `device` (a new one per call); fp32: none."""
    import torch

    if precision not in AUTOCAST_DTYPES:
        return nullcontext()
    device_type = device.split(":")[0]
    name = AUTOCAST_DTYPES[precision] or ("float16" if device_type == "cuda" else "bfloat16")
    return torch.autocast(device_type=device_type, dtype=getattr(torch, name))


class PeakMemory:
    """Peak memory from now on: CUDA max allocated, or on CPU how far the process's peak resident
    memory rose above its resident memory now. On Linux the kernel's peak is reset first, so an
    earlier peak (the job server's imports a forked job inherits) hides nothing; elsewhere it can."""

    def __init__(self, device: str):
        import torch

        self.device = device
        self.cuda = is_cuda(device)
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)
            return
        self.start = resident_bytes() if reset_peak_rss() else peak_rss_bytes()

    def peak_mb(self) -> float:
        import torch

        if self.cuda:
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return max(0, peak_rss_bytes() - self.start) / 2**20


def reset_peak_rss() -> bool:
    """Reset the kernel's record of this process's peak resident memory (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def proc_status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return None


def resident_bytes() -> int:
    return proc_status_bytes("VmRSS") or 0


def peak_rss_bytes() -> int:
    """The process's peak resident memory: VmHWM (which reset_peak_rss resets), else getrusage's."""
    peak = proc_status_bytes("VmHWM")
    if peak is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def release_memory(device: str) -> None:
    """Free what a failed attempt left behind before the next one."""
    import torch

    torch.compiler.reset()  # compiled graphs (and CUDA graph pools) hold memory too
    gc.collect()
    if is_cuda(device):
        torch.cuda.empty_cache()


def is_out_of_memory(error: BaseException | None) -> bool:
    """True for torch's OutOfMemoryError, MemoryError or an allocator's out-of-memory RuntimeError,
    also when another error wraps one (a compiler error's __cause__ or __context__)."""
    import torch

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
            return True
        if isinstance(error, RuntimeError) and any(m.lower() in str(error).lower() for m in OUT_OF_MEMORY_MESSAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


def run_with_backoff(attempt, batch_size: int, device: str, what: str):
    """(attempt(batch)'s value, batch, None), or (None, batch, error): after out-of-memory only, the
    attempt runs again at timm's next smaller batch (decay_batch_step: 256, 192, 128, 96, ...)."""
    from timm.utils import decay_batch_step

    while True:
        try:
            return attempt(batch_size), batch_size, None
        except Exception as e:  # the job's failure becomes its result
            error, smaller = e, decay_batch_step(batch_size)
            if not is_out_of_memory(e) or smaller < 1:
                return None, batch_size, error
        log.warning("%s: out of memory at batch %d, retrying at %d", what, batch_size, smaller)
        del error  # its traceback holds the failed attempt's tensors
        release_memory(device)
        batch_size = smaller


def failure(error: BaseException, limit: int = 500) -> dict:
    """What a failed job's result says of its error: one line, the traceback, and whether the user
    can fix it (a LeaderboardError: the line says how) or it is a bug (the traceback matters)."""
    from db.errors import LeaderboardError, one_line

    return {
        "error": one_line(error, limit),
        "traceback": traceback_text(error),
        "user_error": isinstance(error, LeaderboardError),
    }


def traceback_text(error: BaseException) -> str:
    """The error's traceback (its end, when long): where a failed job's error came from."""
    from db.queue import TRACEBACK_CHARS

    return "".join(traceback.format_exception(error))[-TRACEBACK_CHARS:]
