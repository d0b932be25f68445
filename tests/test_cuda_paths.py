"""The CUDA code paths, on a CPU: every torch.cuda call the jobs make, with its arguments checked
the way torch checks them (tests/cuda_fake.py), and whole throughput jobs run on "cuda" with their
tensors on the CPU. The first GPU run of this project failed every job on torch.cuda.set_device("cuda"):
these tests fail on that mistake."""

import pytest
import torch

from cuda_fake import FAKE_NAME, StrictCuda
from jobs import measuring
from jobs.accuracy import run_accuracy
from jobs.environment import current_environment
from jobs.measuring import (
    PeakMemory,
    autocast,
    is_out_of_memory,
    release_memory,
    run_with_backoff,
    select_device,
    synchronizer,
)
from jobs.throughput import run_throughput

TINY = {
    "model": "test_resnet",
    "img_size": 32,
    "batch_size": 4,
    "warmup_steps": 2,
    "steps": 3,
    "repeats": 2,
    "device": "cuda",
}


@pytest.fixture
def cuda(monkeypatch):
    return StrictCuda(device_count=2).install(monkeypatch)


@pytest.fixture
def cuda_on_cpu_tensors(cuda, monkeypatch):
    """CUDA code paths with the model and inputs on the CPU: every decision the job takes for CUDA,
    every torch.cuda call checked, the arithmetic done where it can be."""
    monkeypatch.setattr(measuring, "tensor_device", lambda device: "cpu")
    return cuda


# --- the fake refuses what torch refuses -----------------------------------------------------


def test_torch_itself_refuses_set_device_without_an_index():
    with pytest.raises(ValueError, match="Expected a torch.device with a specified index"):
        torch.cuda.set_device("cuda")  # the real function: it checks before it touches a driver


def test_the_fake_refuses_what_torch_refuses(cuda):
    with pytest.raises(ValueError, match="Expected a torch.device with a specified index"):
        torch.cuda.set_device("cuda")
    with pytest.raises(ValueError, match="Expected a cuda device"):
        torch.cuda.synchronize("cpu")
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        torch.cuda.set_device(2)
    torch.cuda.set_device("cuda:1")
    torch.cuda.synchronize()  # no device: the current one
    assert cuda.calls == [("set_device", 1), ("synchronize", 1)]


# --- each device-specific helper -------------------------------------------------------------


@pytest.mark.parametrize("device, expected", [("cuda", "cuda:0"), ("cuda:1", "cuda:1")])
def test_select_device_gives_set_device_an_index(cuda, device, expected):
    assert select_device(device) == expected
    assert cuda.named("set_device") == [int(expected[-1])]
    assert torch.backends.cudnn.benchmark is True


def test_select_device_refuses_a_gpu_that_is_not_there(cuda):
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        select_device("cuda:2")


def test_select_device_leaves_the_cpu_alone(cuda):
    assert select_device("cpu") == "cpu" and cuda.calls == []


def test_synchronizer_waits_for_the_jobs_gpu(cuda):
    synchronizer("cuda:1")()
    synchronizer("cpu")()
    assert cuda.calls == [("synchronize", 1)]


def test_peak_memory_reads_the_jobs_gpu(cuda):
    memory = PeakMemory("cuda:1")
    assert memory.peak_mb() == pytest.approx(123.0)
    assert cuda.calls == [("reset_peak_memory_stats", 1), ("max_memory_allocated", 1)]


def test_releasing_memory_empties_the_cuda_cache_only_on_cuda(cuda):
    release_memory("cpu")
    assert cuda.calls == []
    release_memory("cuda:0")
    assert cuda.calls == [("empty_cache", None)]


@pytest.mark.parametrize(
    "precision, device, device_type, dtype",
    [
        ("amp_bf16", "cuda:0", "cuda", torch.bfloat16),
        ("amp_fp16", "cuda:1", "cuda", torch.float16),
        ("amp", "cuda:0", "cuda", torch.float16),  # validate.py's --amp on CUDA
        ("amp", "cpu", "cpu", torch.bfloat16),  # ... and where float16 autocast is unusual
        ("amp_bf16", "cpu", "cpu", torch.bfloat16),
    ],
)
def test_autocast_device_type_and_dtype(cuda, precision, device, device_type, dtype):
    context = autocast(precision, device)
    assert (context.device, context.fast_dtype) == (device_type, dtype)


def test_fp32_runs_without_autocast():
    assert not isinstance(autocast("fp32", "cuda:0"), torch.autocast)


# --- out of memory on CUDA -------------------------------------------------------------------

CUDA_OOM = [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 139 GiB"),
    RuntimeError("CUDA error: out of memory"),
    RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
]
NOT_OOM = [
    RuntimeError("CUDA error: an illegal memory access was encountered"),
    RuntimeError("CUDA error: device-side assert triggered"),
    ValueError("out of memory"),  # not an allocator's error
]


def wrapped(error: BaseException, how: str) -> BaseException:
    """`error` inside another, as inductor raises it: as the cause, or raised while handling it."""
    try:
        try:
            raise error
        except Exception as inner:
            if how == "cause":
                raise RuntimeError("backend compiler failed") from inner
            raise RuntimeError("backend compiler failed")  # noqa: B904 (the implicit context is this case)
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize("error", CUDA_OOM)
@pytest.mark.parametrize("how", ["plain", "cause", "context"])
def test_cuda_out_of_memory_is_recognised(error, how):
    assert is_out_of_memory(error if how == "plain" else wrapped(error, how))


@pytest.mark.parametrize("error", NOT_OOM)
def test_other_cuda_errors_are_not_out_of_memory(error):
    assert not is_out_of_memory(error) and not is_out_of_memory(wrapped(error, "cause"))


def test_backoff_releases_the_gpu_between_attempts(cuda):
    tried = []

    def attempt(batch_size):
        tried.append((batch_size, len(cuda.named("empty_cache"))))
        if batch_size > 96:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return "figures"

    assert run_with_backoff(attempt, 256, "cuda:0", "test") == ("figures", 96, None)
    assert tried == [(256, 0), (192, 1), (128, 2), (96, 3)]  # the cache emptied before each retry


def test_backoff_stops_at_a_cuda_error_that_is_not_out_of_memory(cuda):
    error = RuntimeError("CUDA error: an illegal memory access was encountered")

    def attempt(batch_size):
        raise error

    assert run_with_backoff(attempt, 256, "cuda:0", "test") == (None, 256, error)
    assert cuda.named("empty_cache") == []


# --- environment facts -----------------------------------------------------------------------


def test_a_cuda_environment_names_the_jobs_gpu_and_the_cuda_it_used(cuda):
    env = current_environment("cuda")
    assert cuda.named("get_device_name") == [0]
    assert (env["device"], env["device_type"], env["device_count"]) == (FAKE_NAME, "cuda", 1)
    assert env["cuda"] == torch.version.cuda == env["build_cuda"]


def test_a_cpu_environment_records_no_cuda_but_keeps_the_builds(cuda):
    env = current_environment("cpu")
    assert env["device_type"] == "cpu" and env["cuda"] is None and env["cudnn"] is None
    assert env["build_cuda"] == torch.version.cuda and cuda.calls == []


# --- whole jobs on "cuda" --------------------------------------------------------------------


def test_a_throughput_job_on_cuda_makes_only_valid_cuda_calls(cuda_on_cpu_tensors):
    cuda = cuda_on_cpu_tensors
    result = run_throughput({**TINY, "precision": "amp_bf16"})
    assert result["status"] == "done", result["error"]
    assert result["environment"]["device"] == FAKE_NAME and result["device"] == FAKE_NAME
    names = [name for name, _ in cuda.calls]
    assert cuda.named("set_device") == [0] and names.index("set_device") < names.index("synchronize")
    # the first call, then each timed repeat: synchronized before and after
    assert len(cuda.named("synchronize")) == 2 + 2 * TINY["repeats"]
    assert set(cuda.named("synchronize")) == {0}
    assert cuda.named("max_memory_allocated") == [0] and result["peak_mem_mb"] == pytest.approx(123.0)


def test_sync_each_step_synchronizes_after_every_timed_step(cuda_on_cpu_tensors):
    result = run_throughput({**TINY, "sync_each_step": True})
    assert result["status"] == "done" and result["sync_each_step"] == 1
    per_repeat = 2 + TINY["steps"]
    assert len(cuda_on_cpu_tensors.named("synchronize")) == 2 + TINY["repeats"] * per_repeat


@pytest.mark.parametrize("mode", ["reduce-overhead", "max-autotune"])  # both record CUDA graphs
def test_cuda_graph_modes_on_cuda_mark_every_step_and_count_skips(cuda_on_cpu_tensors, monkeypatch, mode):
    marks = []
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(1))
    monkeypatch.setattr(torch, "compile", lambda model, mode=None: model)  # the marking, not the compiler
    result = run_throughput({**TINY, "compile_mode": mode, "bench": "train"})
    assert result["status"] == "done", result["error"]
    assert len(marks) == 1 + TINY["warmup_steps"] + TINY["steps"] * TINY["repeats"]
    assert result["cudagraph_skips"] == 0  # counted on CUDA (None on a CPU)


def test_out_of_memory_on_cuda_backs_off_and_records_the_batch_used(cuda_on_cpu_tensors):
    def out_of_memory_above_2(batch_size):
        if batch_size > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    result = run_throughput({**TINY, "batch_size": 4}, before_attempt=out_of_memory_above_2)
    assert result["status"] == "done", result["error"]
    assert (result["batch_size"], result["requested_batch_size"]) == (2, 4)
    assert len(cuda_on_cpu_tensors.named("empty_cache")) == 2  # after 4 and 3 ran out


def test_a_failed_cuda_job_keeps_its_traceback(cuda_on_cpu_tensors):
    result = run_throughput({**TINY, "device": "cuda:5"})
    assert result["status"] == "failed" and "not available here" in result["error"]
    assert "Traceback (most recent call last)" in result["traceback"] and "spec_checks.py" in result["traceback"]


def test_measuring_module_makes_every_torch_cuda_call_of_the_jobs():
    """New device-specific calls belong in jobs/measuring.py (or environment facts), where these
    tests check them; anywhere else they would reach a GPU unchecked."""
    from pathlib import Path

    jobs = Path(measuring.__file__).parent
    allowed = {"measuring.py", "environment.py", "spec_checks.py"}
    offenders = [p.name for p in jobs.glob("*.py") if p.name not in allowed and "torch.cuda." in p.read_text()]
    assert offenders == []


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory):
    """A generated image folder labelled with a seeded test_vit's own predictions, and its checkpoint."""
    from imagenet_fixtures import make_labelled_dataset, save_checkpoint

    root = tmp_path_factory.mktemp("cuda-accuracy")
    checkpoint = save_checkpoint("test_vit.r160_in1k", root / "test_vit.r160_in1k.safetensors", seed=1)
    folder, class_map = make_labelled_dataset(root, "test_vit.r160_in1k", checkpoint, 8, seed=2)
    return checkpoint, folder, class_map


def test_an_accuracy_job_on_cuda_makes_only_valid_cuda_calls(cuda_on_cpu_tensors, labelled_folder):
    checkpoint, folder, class_map = labelled_folder
    result = run_accuracy(
        {
            "model": "test_vit.r160_in1k",
            "weights": str(checkpoint),
            "data_dir": str(folder),
            "class_map": str(class_map),
            "img_size": 160,
            "batch_size": 4,
            "workers": 0,
            "precision": "amp",
            "device": "cuda",
        }
    )
    assert result["status"] == "done", result["error"]
    assert result["top1"] == 100.0 and result["environment"]["device"] == FAKE_NAME
    assert cuda_on_cpu_tensors.named("set_device") == [0]
