"""Planning: which jobs a sweep makes, and keys that change exactly when the result would."""

import pytest

from jobs.sweep import BUILTIN_SWEEPS, Narrowing, Target, UnknownSweep, data_settings, get_sweep, plan_jobs

CPU = Target("cpu", "cpu: Test CPU", 1)
GPU = Target("cuda", "NVIDIA H100 80GB HBM3", 2)


def test_default_sweep_is_the_tiny_test_model_campaign(tmp_path):
    jobs = plan_jobs(BUILTIN_SWEEPS["default"], GPU, data_settings(str(tmp_path)))
    accuracy = [j for j in jobs if j.kind == "accuracy"]
    throughput = [j for j in jobs if j.kind == "throughput"]
    assert len(accuracy) == 13 * 2  # published weights only, at 160 and 192
    assert {j.spec["img_size"] for j in accuracy} == {160, 192}
    assert all(j.model.endswith(".r160_in1k") and j.spec["data_dir"] == str(tmp_path) for j in accuracy)
    assert len(throughput) == 18 * 2 * 4
    assert {j.spec["compile_mode"] for j in throughput} == {"eager", "default", "reduce-overhead", "max-autotune"}
    assert {j.spec["precision"] for j in throughput} == {"amp_bf16"}  # mixed precision on CUDA
    assert {j.spec["batch_size"] for j in throughput} == {256}


def test_cpu_runs_fp32_and_no_dataset_means_no_accuracy_jobs():
    jobs = plan_jobs(BUILTIN_SWEEPS["default"], CPU, data_settings(None))
    assert {j.kind for j in jobs} == {"throughput"}
    assert {j.spec["precision"] for j in jobs} == {"fp32"}
    assert {j.spec["device"] for j in jobs} == {"cpu"}
    assert {(j.spec["batch_size"], j.spec["steps"]) for j in jobs} == {(32, 10)}  # the CPU overrides


def test_a_mode_that_is_another_on_the_cpu_is_not_measured_twice():
    from jobs.kinds.throughput import planned_modes

    config = {"compile_modes": ["eager", "default", "reduce-overhead", "max-autotune"]}
    assert planned_modes(config, CPU, Narrowing()) == (
        ["eager", "default", "max-autotune"],
        {"reduce-overhead": "it is default there (no CUDA graphs without CUDA)"},
    )
    assert planned_modes(config, GPU, Narrowing()) == (config["compile_modes"], {})
    asked_alone = planned_modes(config, CPU, Narrowing(compile_modes=["reduce-overhead"]))
    assert asked_alone == (["reduce-overhead"], {})  # asked for alone, it is measured


def test_the_default_sweep_on_a_cpu_is_eager_against_default_and_says_what_it_leaves_out():
    from jobs.kinds.throughput import planned_modes

    jobs = plan_jobs(BUILTIN_SWEEPS["default"], CPU, None)
    assert len(jobs) == 18 * 2 * 2
    assert {j.spec["compile_mode"] for j in jobs} == {"eager", "default"}
    _, why = planned_modes(BUILTIN_SWEEPS["default"]["throughput"], CPU, Narrowing())
    assert why == {
        "reduce-overhead": "it is default there (no CUDA graphs without CUDA)",
        "max-autotune": "the sweep measures eager, default on a cpu; --compile-mode max-autotune asks for it",
    }
    asked = plan_jobs(BUILTIN_SWEEPS["default"], CPU, None, Narrowing(compile_modes=["default", "max-autotune"]))
    assert {j.spec["compile_mode"] for j in asked} == {"default", "max-autotune"}  # an explicit ask wins
    on_gpu = plan_jobs(BUILTIN_SWEEPS["default"], GPU, None, Narrowing(kinds=["throughput"]))
    assert {j.spec["compile_mode"] for j in on_gpu} == {"eager", "default", "reduce-overhead", "max-autotune"}


def test_keys_are_stable_and_change_with_anything_that_changes_the_result():
    sweep = BUILTIN_SWEEPS["smoke"]
    first = {j.model: j.key for j in plan_jobs(sweep, CPU, None)}
    assert first == {j.model: j.key for j in plan_jobs(sweep, CPU, None)}
    assert len(set(first.values())) == len(first)
    other_cpu = {j.model: j.key for j in plan_jobs(sweep, Target("cpu", "cpu: Other", 1), None)}
    assert not set(first.values()) & set(other_cpu.values())
    bigger = {**sweep, "throughput": {**sweep["throughput"], "batch_size": 4}}
    assert not set(first.values()) & {j.key for j in plan_jobs(bigger, CPU, None)}


def test_library_versions_are_part_of_the_key(monkeypatch):
    import jobs.sweep

    before = {j.key for j in plan_jobs(BUILTIN_SWEEPS["smoke"], CPU, None)}
    monkeypatch.setattr(jobs.sweep, "library_versions", lambda: {"torch": "9.9", "timm": "1.0"})
    assert not before & {j.key for j in plan_jobs(BUILTIN_SWEEPS["smoke"], CPU, None)}


def test_narrowing_by_models_kind_bench_and_compile_mode(tmp_path):
    narrowing = Narrowing(
        models=["test_efficientnet_*"], kinds=["throughput"], benches=["train"], compile_modes=["default"]
    )
    jobs = plan_jobs(BUILTIN_SWEEPS["default"], CPU, data_settings(str(tmp_path)), narrowing)
    assert sorted(j.model for j in jobs) == ["test_efficientnet_evos", "test_efficientnet_gn", "test_efficientnet_ln"]
    assert {(j.kind, j.spec["bench"], j.spec["compile_mode"]) for j in jobs} == {("throughput", "train", "default")}


def test_configured_sweeps_join_the_built_in_ones():
    mine = {"models": ["test_vit"], "throughput": {"benches": ["infer"], "compile_modes": ["eager"]}}
    assert get_sweep("mine", {"mine": mine}) is mine
    assert get_sweep("smoke", {"mine": mine}) is BUILTIN_SWEEPS["smoke"]
    with pytest.raises(UnknownSweep, match="choose one of default, mine, smoke"):
        get_sweep("nope", {"mine": mine})


def test_planning_catalogues_large_models_without_allocating_them(monkeypatch):
    """A sweep naming a large model catalogues it on the meta device: a CPU build could run the
    planning process out of memory and end the whole sweep."""
    import jobs.catalog
    from jobs.sweep import plan_as_dicts

    built_on = {}
    real = jobs.catalog.model_facts
    monkeypatch.setattr(
        jobs.catalog, "model_facts", lambda name, device="cpu": built_on.setdefault(name, device) and real(name, device)
    )
    sweep = {
        "models": ["test_vit", "vit_giant_patch14_224"],
        "throughput": {"benches": ["infer"], "compile_modes": ["eager"]},
    }
    result = plan_as_dicts(sweep, Target("cpu", "cpu: x", 1), None, Narrowing(), catalogued=set())
    assert result["status"] == "done", result
    assert built_on == {"test_vit": "cpu", "vit_giant_patch14_224": "meta"}
    giant = next(m for m in result["models"] if m["name"] == "vit_giant_patch14_224")
    assert giant["params"] > 1e9
