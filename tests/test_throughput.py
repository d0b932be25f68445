"""Throughput jobs on CPU: specs, every compile mode, both benches, OOM back-off, results, the CLI."""

import csv
import json
import os
import re
import time

import pytest
import timm
import torch
from torch._dynamo.utils import counters

from db.columns import PROVENANCE_COLUMNS, RUN_COLUMNS_M004, THROUGHPUT_COLUMNS
from db.errors import LeaderboardError
from jobs.catalog import count_gmacs
from jobs.measuring import is_out_of_memory
from jobs.throughput import DEFAULTS, describe, run_throughput, validate_throughput_spec
from jobs.throughput_measure import build_model, count_mactivations, make_step

# Tiny jobs: the smallest models at a small size, two steps, two or three repeats.
TINY = {"model": "test_resnet", "img_size": 64, "batch_size": 4, "warmup_steps": 1, "steps": 2, "repeats": 3}
RESULT_COLUMNS = [c for c in THROUGHPUT_COLUMNS if c not in PROVENANCE_COLUMNS and c not in RUN_COLUMNS_M004]


def compiled_graphs() -> int:
    return counters["stats"]["unique_graphs"]


def run_counting_graphs(spec: dict) -> tuple[dict, int]:
    """The job's result and how many graphs torch.compile captured for it."""
    before = compiled_graphs()
    result = run_throughput(spec)
    assert result["status"] == "done", result["error"]
    return result, compiled_graphs() - before


# --- specs -----------------------------------------------------------------------------------


def test_validate_fills_the_defaults_and_drops_the_weight_tag():
    spec = validate_throughput_spec({"model": "test_vit.r160_in1k", "kind": "throughput", "steps": None})
    assert spec["model"] == "test_vit"
    assert (spec["batch_size"], spec["warmup_steps"], spec["steps"], spec["repeats"]) == (
        DEFAULTS.batch_size,
        DEFAULTS.warmup_steps,
        DEFAULTS.steps,
        DEFAULTS.repeats,
    )
    assert (spec["bench"], spec["compile_mode"], spec["precision"]) == ("infer", "eager", "fp32")
    assert spec["img_size"] is None and spec["device"] is None and "kind" not in spec


@pytest.mark.parametrize(
    "bad, named",
    [
        ({"compile_mode": "fast"}, "compile_mode 'fast'"),
        ({"precision": "fp64"}, "precision 'fp64'"),
        ({"bench": "eval"}, "bench 'eval'"),
        ({"img_size": 0}, "img_size 0"),
        ({"img_size": "abc"}, "img_size 'abc'"),
        ({"batch_size": -8}, "batch_size -8"),
        ({"steps": 0}, "steps 0"),
        ({"warmup_steps": -1}, "warmup_steps -1"),
        ({"channels_last": "maybe"}, "channels_last 'maybe'"),
        ({"device": "gpu"}, "device 'gpu'"),
        ({"model": "test_vitt"}, "Unknown model 'test_vitt'"),
        ({"model": "test_vit*"}, "matches 5 models"),
    ],
)
def test_validate_names_a_bad_value_in_one_line(bad, named):
    with pytest.raises(LeaderboardError) as error:
        validate_throughput_spec({**TINY, **bad})
    assert named in str(error.value) and "\n" not in str(error.value)


def test_a_bad_spec_is_a_failed_result_not_an_exception():
    result = run_throughput({**TINY, "precision": "fp64"})
    assert result["status"] == "failed" and result["kind"] == "throughput"
    assert result["error"] == "precision 'fp64' is not one of fp32, amp_bf16, amp_fp16. Try --precision fp32."
    assert result["environment"]["device_type"] == "cpu"
    assert (result["model"], result["precision"], result["batch_size"]) == ("test_resnet", "fp64", 4)
    assert set(RESULT_COLUMNS) <= set(result) and result["samples_per_sec"] is None


# --- eager: fields, units, both benches -------------------------------------------------------


def test_eager_inference_result_fields_and_units():
    result, graphs = run_counting_graphs({**TINY, "img_size": None})
    assert graphs == 0 and result["compile_s"] is None  # eager: nothing compiled, no compile time
    assert set(RESULT_COLUMNS) <= set(result) and result["error"] is None
    assert (result["img_size"], result["batch_size"], result["steps"], result["repeats"]) == (160, 4, 2, 3)
    rates = result["repeat_samples_per_sec"]
    assert len(rates) == 3 and result["samples_per_sec"] == sorted(rates)[1]
    assert result["samples_per_sec_min"] == min(rates) and result["samples_per_sec_max"] == max(rates)
    # samples/s x seconds per step = samples per step
    assert result["samples_per_sec"] * result["step_time_ms"] / 1000 == pytest.approx(4, rel=1e-3)
    model = timm.create_model("test_resnet")
    assert result["gmacs"] == pytest.approx(count_gmacs(model, (3, 160, 160)), abs=1e-4)
    assert result["param_count"] == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6, abs=1e-4)
    assert result["peak_mem_mb"] >= 0 and result["macts"] > 0
    assert result["environment"]["device"].startswith("cpu") and result["device"] == result["environment"]["device"]


def test_eager_train_step_updates_the_weights_and_inference_does_not():
    spec = validate_throughput_spec({**TINY, "bench": "train"})
    model, img_size = build_model(spec, "cpu")
    assert model.training
    step, context = make_step(model, spec, "cpu", 2, img_size)
    before = [p.detach().clone() for p in model.parameters()]
    with context():
        step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())  # zeroed for the next step
    infer_spec = {**spec, "bench": "infer"}
    model, _ = build_model(infer_spec, "cpu")
    before = [p.detach().clone() for p in model.parameters()]
    step, context = make_step(model, infer_spec, "cpu", 2, img_size)
    with context():
        step()
    assert not model.training and all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_eager_train_with_amp_bf16_channels_last_and_fast_norm():
    result = run_throughput(
        {
            **TINY,
            "model": "test_convnext",
            "bench": "train",
            "precision": "amp_bf16",
            "channels_last": True,
            "fast_norm": True,
        }
    )
    assert result["status"] == "done", result["error"]
    assert (result["bench"], result["precision"], result["channels_last"], result["fast_norm"]) == (
        "train",
        "amp_bf16",
        1,
        1,
    )
    assert not timm.layers.is_fast_norm()  # the global switch is restored after the job


# --- compile modes (each compiles for 10-40 s on this CPU) ------------------------------------


@pytest.mark.slow
def test_default_compile_time_is_stored_apart_from_throughput():
    result, graphs = run_counting_graphs({**TINY, "compile_mode": "default"})
    assert graphs >= 1
    assert result["compile_s"] > 0 and result["compile_s"] == result["first_call_s"]
    assert result["samples_per_sec_min"] > 0 and len(result["repeat_samples_per_sec"]) == 3


@pytest.mark.slow
def test_reduce_overhead_training_runs_on_cpu_labelled_as_cpu():
    result, graphs = run_counting_graphs({**TINY, "compile_mode": "reduce-overhead", "bench": "train", "repeats": 2})
    assert graphs >= 1 and result["compile_s"] > 0
    assert result["environment"]["device_type"] == "cpu" and result["environment"]["device"].startswith("cpu")
    assert result["cudagraph_skips"] is None  # CUDA graphs only exist on CUDA


@pytest.mark.slow
def test_max_autotune_inference():
    result, graphs = run_counting_graphs(
        {**TINY, "compile_mode": "max-autotune", "img_size": 32, "batch_size": 2, "repeats": 2}
    )
    assert graphs >= 1 and result["compile_mode"] == "max-autotune" and result["compile_s"] > 0


# --- out-of-memory back-off -------------------------------------------------------------------


def out_of_memory_above(limit: int, attempts: list, error=torch.OutOfMemoryError):
    """A before_attempt seam that records batch sizes and fails the ones above `limit` like a full GPU."""

    def before_attempt(batch_size):
        attempts.append(batch_size)
        if batch_size > limit:
            raise error(f"CUDA out of memory. Tried to allocate {batch_size} GiB")

    return before_attempt


@pytest.mark.parametrize("error", [torch.OutOfMemoryError, RuntimeError])
def test_out_of_memory_backs_off_through_timms_batch_sizes(error):
    attempts = []
    result = run_throughput({**TINY, "batch_size": 16}, before_attempt=out_of_memory_above(4, attempts, error))
    assert result["status"] == "done", result["error"]
    assert attempts == [16, 12, 8, 6, 4]
    assert result["batch_size"] == 4 and result["requested_batch_size"] == 16
    assert printed(describe(result), "batch_size") == "4 (backed off from 16: out of memory)"
    assert result["samples_per_sec"] * result["step_time_ms"] / 1000 == pytest.approx(4, rel=1e-3)


def test_a_real_cpu_allocation_failure_backs_off_too():
    attempts = []

    def allocate_64_tib_above_4(batch_size):  # the CPU allocator refuses at once (ENOMEM)
        attempts.append(batch_size)
        if batch_size > 4:
            torch.empty(2**46, dtype=torch.uint8)

    result = run_throughput({**TINY, "batch_size": 8}, before_attempt=allocate_64_tib_above_4)
    assert attempts == [8, 6, 4] and result["status"] == "done" and result["batch_size"] == 4


def test_timms_decay_steps_from_1024():
    attempts = []
    result = run_throughput({**TINY, "batch_size": 1024}, before_attempt=out_of_memory_above(0, attempts))
    assert attempts == [1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32, 24, 16, 12, 8, 6, 4, 3, 2, 1]
    assert result["status"] == "failed" and result["batch_size"] == 1
    assert result["error"].startswith("OutOfMemoryError: CUDA out of memory")


def test_other_errors_fail_the_job_without_retrying():
    attempts = []
    result = run_throughput(
        {**TINY, "batch_size": 16}, before_attempt=lambda batch_size: attempts.append(batch_size) or 1 / 0
    )
    assert attempts == [16]
    assert result["status"] == "failed" and result["error"] == "ZeroDivisionError: division by zero"
    assert result["batch_size"] == 16 and result["samples_per_sec"] is None


def test_a_real_model_error_is_reported_with_its_type_and_not_retried():
    attempts = []
    result = run_throughput(
        {**TINY, "model": "test_vit", "img_size": 8, "batch_size": 16}, before_attempt=attempts.append
    )
    assert attempts == [16]
    assert result["status"] == "failed" and result["error"].startswith("AssertionError: Input height (8)")
    assert result["img_size"] == 8 and result["environment"]["device_type"] == "cpu"


def test_out_of_memory_is_recognised_through_a_compiler_error():
    try:
        try:
            raise torch.OutOfMemoryError("CUDA out of memory")
        except torch.OutOfMemoryError as oom:
            raise RuntimeError("backend compiler failed") from oom
    except RuntimeError as wrapped:
        assert is_out_of_memory(wrapped)
    assert not is_out_of_memory(ValueError("out of memory"))  # not a device error
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


# --- activations, against timm's published benchmark figures ----------------------------------


def test_activation_counts_match_timms_published_infer_macts(timm_results):
    with open(timm_results / "benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv") as f:
        published = {(r["model"], int(r["infer_img_size"])): float(r["infer_macts"]) for r in csv.DictReader(f)}
    for name in ("resnet18", "vit_tiny_patch16_224"):  # convolutions; linear layers and attention
        model = timm.create_model(name)
        assert count_mactivations(model, (3, 224, 224)) == pytest.approx(published[(name, 224)], abs=0.01)


# --- the command line -------------------------------------------------------------------------


def printed(stdout: str, field: str) -> str:
    return re.search(rf"^{field}\s+(.+)$", stdout, re.M).group(1).strip()


def test_invoke_bench_prints_and_stores_the_result_with_its_environment(run_invoke, db):
    result = run_invoke(
        "bench",
        "--model",
        "test_vit",
        "--bench",
        "train",
        "--img-size",
        "64",
        "--batch-size",
        "4",
        "--steps",
        "2",
        "--repeats",
        "2",
        "--warmup",
        "1",
    )
    assert result.returncode == 0, result.stderr
    rows = list(db["throughput"].rows)
    assert len(rows) == 1
    row = rows[0]
    assert (row["model"], row["bench"], row["compile_mode"], row["img_size"], row["batch_size"]) == (
        "test_vit",
        "train",
        "eager",
        64,
        4,
    )
    assert row["source"] == "measured" and (row["steps"], row["repeats"]) == (2, 2)
    assert printed(result.stdout, "samples_per_sec").startswith(f"{row['samples_per_sec']} (min")
    assert float(printed(result.stdout, "step_time_ms")) == row["step_time_ms"]
    env = db["environments"].get(row["environment_id"])
    assert env["device_type"] == "cpu" and env["device"] == printed(result.stdout, "device")
    assert (env["torch"], env["timm"]) == (torch.__version__, timm.__version__)


@pytest.mark.parametrize(
    "flags, message",
    [
        (  # the same words and exit code as eval-all's
            ["--compile-mode", "fast"],
            "--compile-mode 'fast' is not one of eager, default, reduce-overhead, max-autotune. Try --compile-mode eager.",
        ),
        (["--precision", "fp64"], "--precision 'fp64' is not one of fp32, amp_bf16, amp_fp16. Try --precision fp32."),
        (["--img-size", "0"], "Bad img_size '0': it must be a whole number >= 1."),
        (["--batch-size", "-2"], "Bad batch_size '-2': it must be a whole number >= 1."),
    ],
)
def test_invoke_bench_bad_flag_is_one_line_before_any_work(run_invoke, db_path, flags, message):
    result = run_invoke("bench", "--model", "test_resnet", *flags)
    assert result.returncode == (2 if "is not one of" in message else 1) and result.stderr.strip() == message
    assert "Traceback" not in result.stderr + result.stdout
    assert not db_path.exists()  # rejected before the database was even opened


def test_invoke_bench_help_states_the_code_defaults(run_invoke):
    help_text = " ".join(run_invoke("--help", "bench").stdout.split())
    for flag, value in (
        ("batch-size", DEFAULTS.batch_size),
        ("steps", DEFAULTS.steps),
        ("warmup", DEFAULTS.warmup_steps),
        ("repeats", DEFAULTS.repeats),
    ):
        assert re.search(rf"--{flag}=\S+ (?:(?! --).)*\(default {value}\)", help_text), flag


def test_describe_shows_a_failure_and_its_error():
    text = describe(run_throughput({**TINY, "bench": "eval"}))
    assert printed(text, "status") == "failed"
    assert printed(text, "error") == "bench 'eval' is not one of infer, train. Try --bench infer."


def test_cpu_peak_memory_is_not_hidden_by_an_earlier_larger_peak():
    """A forked job inherits its server's peak (torch's imports): the job's own peak must still show."""
    from jobs.measuring import PeakMemory, reset_peak_rss

    if not reset_peak_rss():
        pytest.skip("this kernel does not let a process reset its peak resident memory")
    earlier = torch.ones(96 * 2**20, dtype=torch.uint8) + 1
    del earlier
    memory = PeakMemory("cpu")
    job = torch.ones(32 * 2**20, dtype=torch.uint8) + 1
    # the job's own ~64 MiB (two 32 MiB tensors) plus allocator slack, far below the earlier ~192 MiB
    assert 30 <= memory.peak_mb() <= 96 and job.numel() == 32 * 2**20


def test_invoke_bench_shows_where_a_job_error_came_from(run_invoke, db):
    """A bug or a model error is more than one line: its traceback is printed (a user error is not)."""
    result = run_invoke(
        "bench",
        "--model",
        "test_vit",
        "--img-size",
        "8",
        "--batch-size",
        "2",
        "--steps",
        "1",
        "--repeats",
        "1",
        "--warmup",
        "0",
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "throughput_measure.py" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Throughput job failed: AssertionError: Input height (8)")
    assert db["throughput"].count == 0


def test_max_autotune_on_a_gpu_autotunes_in_its_turn_and_the_turn_holds_on_for_counting(tmp_path, monkeypatch):
    """max-autotune's first call benchmarks kernels on the GPU: it runs in the job's turn; other first
    calls (compilation) before it. Either way the turn holds on after the timed steps (counting)."""
    import fcntl
    from contextlib import ExitStack, nullcontext

    from jobs.throughput_measure import Phases, TurnTaker, first_call_on_device, run_timed

    lock = tmp_path / "turn.lock"
    monkeypatch.setenv("LEADERBOARD_DEVICE_TURN", str(lock))

    def turn_held() -> bool:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    assert first_call_on_device({"compile_mode": "max-autotune"}, "cuda")
    assert not first_call_on_device({"compile_mode": "max-autotune"}, "cpu")
    assert not first_call_on_device({"compile_mode": "reduce-overhead"}, "cuda")
    timing = {"warmup_steps": 1, "steps": 2, "repeats": 1, "sync_each_step": False}
    for in_turn in (True, False):
        held_at_each_call = []
        with ExitStack() as stack:
            phases = Phases()
            run_timed(
                lambda calls=held_at_each_call: calls.append(turn_held()),
                nullcontext,
                lambda: None,
                timing,
                phases,
                TurnTaker(stack, phases, before_first_call=in_turn),
            )
            assert turn_held()
        assert held_at_each_call == [in_turn, True, True, True] and not turn_held()


def test_a_job_times_its_steps_only_in_its_turn_and_says_where_its_seconds_went(tmp_path, monkeypatch):
    """With compile workers (jobs/executors/device_turn.py) the first call runs at once; warm-up and timed steps
    wait for the device's turn lock, here held by another 'job' for 1.5 s."""
    import fcntl
    import threading

    lock, wait_file = tmp_path / "turn-cpu.lock", tmp_path / "device-wait.json"
    monkeypatch.setenv("LEADERBOARD_DEVICE_TURN", str(lock))
    monkeypatch.setenv("LEADERBOARD_DEVICE_WAIT", str(wait_file))
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)

    def other_job_ends_its_turn():  # a second after this job has started waiting (its first call made)
        while not (wait_file.exists() and json.loads(wait_file.read_text())["since"]):
            time.sleep(0.05)
        time.sleep(1.0)
        os.close(holder)

    threading.Thread(target=other_job_ends_its_turn, daemon=True).start()
    result = run_throughput(TINY)
    assert result["status"] == "done"
    phases = result["phases_s"]
    assert set(phases) == {"environment", "device", "build", "first_call", "device_wait", "warmup", "timed", "count"}
    assert 0.9 < phases["device_wait"] < 30
    assert json.loads(wait_file.read_text()) == {
        "waited_s": pytest.approx(phases["device_wait"], abs=0.01),
        "since": None,
    }
