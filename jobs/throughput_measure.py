"""The mechanics of one throughput measurement at one batch size: model, steps, timing, memory.

jobs.throughput decides what to measure (spec, defaults, out-of-memory back-off, the result);
this module measures it. Timed regions hold only the steps themselves: the first call (which
includes compilation) is timed on its own, and CUDA work is synchronized before every clock read.
"""

import gc
import time
from contextlib import ExitStack, contextmanager, nullcontext

import timm
import torch
import torch.nn.functional as F

from jobs import measuring
from jobs.catalog import count_gmacs
from jobs.compat import apply_compile_threads, cudagraph_skips, torch_dispatch_mode
from jobs.executors.device_turn import device_turn, on_measuring_cores, waited_s
from jobs.measuring import PeakMemory, autocast, is_cuda, select_device, synchronizer

# Ops whose output elements count as activations: convolutions, matrix products, attention
# (timm's benchmark.py convention: fvcore's count of conv/matmul/linear/einsum outputs).
ACTIVATION_OPS = {
    "convolution",
    "_convolution",
    "conv1d",
    "conv2d",
    "conv3d",
    "mm",
    "addmm",
    "bmm",
    "baddbmm",
    "matmul",
    "linear",
    "einsum",
    "scaled_dot_product_attention",
}


def measure(spec: dict, device: str, batch_size: int) -> dict:
    """Compile, warm up and time `spec` at `batch_size` on `device`; figures, not yet rounded, and
    where the job's seconds went (`phases_s`)."""
    phases = Phases()
    with phases("device"):
        apply_compile_threads()  # the executor's share of the cores for this job's compiles
        torch.compiler.reset()  # a fresh compile per attempt: no cached graph from an earlier job
        device = select_device(device)
        skips_before = cudagraph_skips()
        memory = PeakMemory(device)
    with fast_norm(spec["fast_norm"]), ExitStack() as turn:
        with phases("build"):
            model, img_size = build_model(spec, device)
            step, context = make_step(model, spec, device, batch_size, img_size)
        first_call_s, durations = run_timed(
            step,
            context,
            synchronizer(device),
            spec,
            phases,
            TurnTaker(turn, phases, first_call_on_device(spec, device)),
        )
        peak_mem_mb = memory.peak_mb()
        del step
        input_size, place = (3, img_size, img_size), measuring.tensor_device(device)
        with phases("count"):  # still in the turn: a forward pass on the device
            counted = {
                "gmacs": count_gmacs(model, input_size, place),
                "macts": count_mactivations(model, input_size, place),
            }
        return {
            "img_size": img_size,
            "first_call_s": first_call_s,
            "durations_s": durations,
            "peak_mem_mb": peak_mem_mb,
            **counted,
            "param_count": sum(p.numel() for p in model.parameters()) / 1e6,
            "cudagraph_skips": cudagraph_skips() - skips_before if uses_cuda_graphs(spec, device) else None,
            "phases_s": phases.seconds,
        }


def first_call_on_device(spec: dict, device: str) -> bool:
    """Whether the first call's own work is the device's, so it runs in the job's turn: max-autotune
    on a GPU benchmarks candidate kernels there (a shared GPU would time them wrongly and disturb
    another job's timed steps). Other first calls are compilation (CPU work) and one step."""
    return spec["compile_mode"] == "max-autotune" and is_cuda(device)


class TurnTaker:
    """Takes the job's turn on its device once (jobs.executors.device_turn), held until `stack` closes; the wait
    is the job's `device_wait` phase."""

    def __init__(self, stack: ExitStack, phases, before_first_call: bool = False):
        self.stack, self.phases, self.before_first_call, self.taken = stack, phases, before_first_call, False

    def take(self) -> None:
        if not self.taken:
            waited_before = waited_s()
            self.stack.enter_context(device_turn())
            self.phases.seconds["device_wait"] = waited_s() - waited_before
            self.taken = True


class Phases:
    """Seconds spent in each named part of a job: `with phases("build"): ...` (summed when repeated)."""

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


@contextmanager
def fast_norm(enabled: bool):
    """timm's fast-norm switch for the models built inside; restored afterwards (it is global)."""
    previous = timm.layers.is_fast_norm()
    timm.layers.set_fast_norm(enabled)
    try:
        yield
    finally:
        timm.layers.set_fast_norm(previous)


def build_model(spec: dict, device: str):
    """The model with random weights, on `device`, in train() or eval(); and its input size."""
    torch.manual_seed(0)
    cfg = timm.get_pretrained_cfg(spec["model"])
    default_size = cfg.input_size[-1] if cfg else 224
    img_size = spec["img_size"] or default_size
    # Fixed-size models (ViT, MaxViT...) are built for the size; the others take any input.
    kwargs = {"img_size": img_size} if cfg and cfg.fixed_input_size and img_size != default_size else {}
    model = timm.create_model(spec["model"], pretrained=False, **kwargs).to(measuring.tensor_device(device))
    if spec["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    model.train(spec["bench"] == "train")
    return model, img_size


def compiled(model, spec: dict):
    mode = spec["compile_mode"]
    return model if mode == "eager" else torch.compile(model, mode=mode)


CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")  # torch.compile's modes that record CUDA graphs


def uses_cuda_graphs(spec: dict, device: str) -> bool:
    return spec["compile_mode"] in CUDA_GRAPH_MODES and is_cuda(device)


def cuda_graph_step_marker(spec: dict, device: str):
    """With CUDA graphs, each step must tell the graph trees a new iteration begins, so the
    previous step's outputs (in graph-owned memory the replay overwrites) are released."""
    if uses_cuda_graphs(spec, device):
        return torch.compiler.cudagraph_mark_step_begin
    return lambda: None


def make_step(model, spec: dict, device: str, batch_size: int, img_size: int):
    """One benchmark step closed over fixed inputs on the device, and the context steps run in."""
    place = measuring.tensor_device(device)
    x = torch.randn(batch_size, 3, img_size, img_size, device=place)
    if spec["channels_last"]:
        x = x.contiguous(memory_format=torch.channels_last)
    forward, mark_step = compiled(model, spec), cuda_graph_step_marker(spec, device)
    if spec["bench"] == "infer":

        def infer_step():
            mark_step()
            with autocast(spec["precision"], device):  # entered per step, as a caller would (and benchmark.py)
                forward(x)

        return infer_step, torch.inference_mode
    target = torch.randint(0, model.num_classes, (batch_size,), device=place)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def train_step():
        mark_step()
        with autocast(spec["precision"], device):  # the loss too; backward and the update outside it
            loss = F.cross_entropy(forward(x), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return train_step, nullcontext


def run_timed(step, context, sync, spec: dict, phases=None, turn: TurnTaker | None = None) -> tuple[float, list[float]]:
    """Seconds of the first call (compilation included), then of each timed repeat of steps. The
    first call runs before the job's turn on the device (jobs.executors.device_turn), unless `turn` says it
    works on the device: it may compile while another job measures; warm-up and timed steps run in
    the turn, which `turn` holds on for what follows (counting)."""
    phases = phases or Phases()
    with context(), ExitStack() as own:
        turn = turn or TurnTaker(own, phases)
        if turn.before_first_call:
            turn.take()
        with phases("first_call"):
            sync()
            start = time.perf_counter()
            step()
            sync()
            first_call_s = time.perf_counter() - start
        turn.take()
        turn.stack.enter_context(on_measuring_cores())  # no other job's compile shares them
        with phases("warmup"):
            for _ in range(spec["warmup_steps"]):
                step()
        with phases("timed"), collector_paused():  # a collector pause belongs to no timed step
            return first_call_s, [
                timed_steps(step, sync, spec["steps"], spec["sync_each_step"]) for _ in range(spec["repeats"])
            ]


@contextmanager
def collector_paused():
    """Pause the cyclic garbage collector; cheaper than a full gc.collect() over torch's objects."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def timed_steps(step, sync, steps: int, sync_each_step: bool = False) -> float:
    """Seconds of `steps` steps. With `sync_each_step` the device finishes each step before the next
    is queued (timm benchmark.py's timing); otherwise steps queue freely, as in a training loop."""
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
        if sync_each_step:
            sync()
    sync()
    return time.perf_counter() - start


class ActivationCounter(torch_dispatch_mode()):
    """Counts the output elements of the ops in ACTIVATION_OPS."""

    def __init__(self):
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name in ACTIVATION_OPS or name.startswith("_scaled_dot_product"):
            first = out[0] if isinstance(out, (tuple, list)) else out
            self.elements += first.numel()
        if "scaled_dot_product" in name:  # fused attention: its score matrix, as an unfused q @ k.T
            query, key = args[0], args[1]
            self.elements += query.shape[:-1].numel() * key.shape[-2]
        return out


def count_mactivations(model, input_size, device="cpu") -> float:
    """Activations (in millions) of one forward pass of one sample."""
    x = torch.randn(1, *input_size, device=device)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), ActivationCounter() as counter:
        model(x)
    model.train(was_training)
    return counter.elements / 1e6
