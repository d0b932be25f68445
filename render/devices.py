"""Achieved FLOP/s of a throughput result, and how far it is from its device's peak.

Achieved FLOP/s = FLOPs per sample × samples/s, with FLOPs per sample = 2 × GMACs (one multiply
and one add per MAC) for inference, and 3 × that for training: the backward pass costs about two
forward passes (gradients of inputs and of weights), the usual convention of MFU figures; the
optimizer step is not counted.

Peaks are dense (no 2:4 sparsity) figures from NVIDIA's datasheets and architecture whitepapers, for
the unit that precision runs on: fp16/bf16 autocast on tensor cores with FP32 accumulate (what
PyTorch asks cuBLAS and cuDNN for; GeForce cards run it at half their FP16-accumulate rate), fp32
on CUDA cores (cuDNN may run fp32 convolutions as TF32 on tensor cores, so on an A100 or H100 a conv
net can pass "100%" of this peak). A device or precision missing here has no peak and no percentage:
never a guess.
"""

import re
from dataclasses import dataclass

FLOPS_PER_MAC = 2
TRAIN_PASSES = 3  # forward + backward ≈ 3 forwards

# Stored precision labels → the datasheet row they run at. timm's benchmark.py `--amp` (the
# `amp` of its published files and of the reference figures) autocasts to float16 by default.
PRECISION_UNITS = {
    "fp32": "fp32",
    "amp": "fp16",
    "amp_fp16": "fp16",
    "fp16": "fp16",
    "amp_bf16": "bf16",
    "bf16": "bf16",
}


@dataclass(frozen=True)
class Device:
    label: str
    names: str  # regular expression, matched whole against the device name with "NVIDIA " and "GeForce " dropped
    tflops: dict  # datasheet row (fp32, fp16, bf16) → dense TFLOP/s
    source: str  # the document the figures are read from


ADA = "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf"
AMPERE_GA102 = "https://www.nvidia.com/content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf"
A100 = "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"
H100 = "https://www.nvidia.com/en-us/data-center/h100/"  # specifications table (H100 datasheet)
H200 = "https://www.nvidia.com/en-us/data-center/h200/"  # specifications table (H200 datasheet)
L4 = "https://www.nvidia.com/en-us/data-center/l4/"  # specifications table (L4 datasheet)

# Datasheets that print only with-sparsity tensor figures (marked "*") are halved here, as their footnotes say.
DEVICES = (
    Device("RTX 4090", r"RTX 4090", {"fp32": 82.6, "fp16": 165.2, "bf16": 165.2}, ADA),
    Device("RTX 3090", r"RTX 3090", {"fp32": 35.6, "fp16": 71.0, "bf16": 71.0}, AMPERE_GA102),
    Device(
        "A100", r"A100(-SXM4?-(40|80)GB|-PCIE-(40|80)GB| 80GB PCIe)", {"fp32": 19.5, "fp16": 312.0, "bf16": 312.0}, A100
    ),
    Device("H100 SXM", r"H100 80GB HBM3|H100 SXM5? 80GB", {"fp32": 67.0, "fp16": 1979 / 2, "bf16": 1979 / 2}, H100),
    Device("H100 NVL", r"H100 NVL", {"fp32": 60.0, "fp16": 1671 / 2, "bf16": 1671 / 2}, H100),
    Device("H200 SXM", r"H200", {"fp32": 67.0, "fp16": 1979 / 2, "bf16": 1979 / 2}, H200),
    Device("H200 NVL", r"H200 NVL", {"fp32": 60.0, "fp16": 1671 / 2, "bf16": 1671 / 2}, H200),
    Device("L4", r"L4", {"fp32": 30.3, "fp16": 242 / 2, "bf16": 242 / 2}, L4),
)
VENDOR_WORDS = re.compile(r"^(NVIDIA\s+)?(GeForce\s+)?")


def device_of(name: str | None) -> Device | None:
    """The table's entry for a device name as torch reports it ("NVIDIA GeForce RTX 4090") or as
    timm's file names give it ("RTX 4090"); None for CPUs and devices not in the table."""
    bare = VENDOR_WORDS.sub("", (name or "").strip())
    return next((d for d in DEVICES if re.fullmatch(d.names, bare)), None)


def peak_tflops(env: dict | None, precision: str | None) -> float | None:
    """The dense peak of one device of `env` at `precision`; None where either is unknown, and for
    several devices (a result's share of them is not recorded)."""
    if not env or (env.get("device_count") or 1) != 1:
        return None
    device = device_of(env.get("device"))
    unit = PRECISION_UNITS.get(precision or "")
    return device.tflops.get(unit) if device and unit else None


def flops_per_mac(bench: str) -> int:
    """FLOPs counted per forward MAC of one sample: what the index multiplies GMACs × samples/s by."""
    return FLOPS_PER_MAC * (TRAIN_PASSES if bench == "train" else 1)


def achieved_tflops(gmacs: float | None, samples_per_sec: float | None, bench: str) -> float | None:
    """TFLOP/s a result achieves, from forward GMACs per sample (see the module's convention)."""
    if not gmacs or not samples_per_sec:
        return None
    return gmacs * flops_per_mac(bench) * samples_per_sec / 1e3  # GMAC/sample × FLOP/MAC × sample/s = GFLOP/s


def peak_rows() -> list[dict]:
    """The table as the methodology page prints it."""
    return [
        {
            "device": d.label,
            "fp32": d.tflops.get("fp32"),
            "fp16": d.tflops.get("fp16"),
            "bf16": d.tflops.get("bf16"),
            "source": d.source,
        }
        for d in DEVICES
    ]
