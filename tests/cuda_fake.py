"""A strict stand-in for torch.cuda on a machine without a GPU.

Each torch.cuda function the jobs call is replaced by one that checks its device argument with
torch's own check (torch.cuda._utils._get_device_index, which set_device, synchronize, the memory
statistics and get_device_name all use), refuses an index past the device count as the driver
would, and records the call. So `torch.cuda.set_device("cuda")`, an index past the count or a
CPU device fails here as it fails on a GPU, and tests can read which calls a code path made.
"""

import torch
from torch.cuda._utils import _get_device_index

FAKE_NAME = "Fake GPU (tests/cuda_fake.py)"


class StrictCuda:
    def __init__(self, device_count: int = 1, peak_bytes: int = 123 * 2**20):
        self.count = device_count
        self.current = 0
        self.peak_bytes = peak_bytes
        self.calls = []  # (function name, device index or None)

    def index(self, device, optional: bool) -> int:
        """The device index torch would use for `device`, or torch's own error."""
        unindexed_cuda = isinstance(device, (str, torch.device)) and (
            torch.device(device).type == "cuda" and torch.device(device).index is None
        )
        if optional and (device is None or unindexed_cuda):
            return self.current  # torch asks the driver for its current device here
        index = _get_device_index(device, optional=optional)  # raises for "cuda" when an index is required
        if not 0 <= index < self.count:
            raise RuntimeError(f"CUDA error: invalid device ordinal (device {index}, {self.count} visible)")
        return index

    def record(self, name: str, device=None, optional: bool = True) -> int:
        index = self.index(device, optional)
        self.calls.append((name, index))
        return index

    def named(self, name: str) -> list:
        return [index for call, index in self.calls if call == name]

    # --- the replaced functions --------------------------------------------------------------

    def set_device(self, device) -> None:
        self.current = self.record("set_device", device, optional=False)

    def synchronize(self, device=None) -> None:
        self.record("synchronize", device)

    def reset_peak_memory_stats(self, device=None) -> None:
        self.record("reset_peak_memory_stats", device)

    def max_memory_allocated(self, device=None) -> int:
        self.record("max_memory_allocated", device)
        return self.peak_bytes

    def get_device_name(self, device=None) -> str:
        self.record("get_device_name", device)
        return FAKE_NAME

    def get_device_capability(self, device=None) -> tuple[int, int]:
        self.record("get_device_capability", device)
        return (9, 0)

    def empty_cache(self) -> None:
        self.calls.append(("empty_cache", None))

    def install(self, monkeypatch) -> "StrictCuda":
        for name in (
            "set_device",
            "synchronize",
            "reset_peak_memory_stats",
            "max_memory_allocated",
            "get_device_name",
            "get_device_capability",
            "empty_cache",
        ):
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: self.count)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: self.current)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # autocast asks
        monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)  # restored after
        return self
