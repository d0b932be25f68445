"""The GPU check's report: its JSON summary (bench/gpu_check.py) as Markdown tables to paste into
bench/RESULTS.md. Pure formatting: every figure comes from the summary or the reference CSV."""

STEP_TITLES = {  # the run order: the evidence that matters first
    "modes": "1. Compile modes x inference/training of test_vit (eval-all)",
    "smoke": "2. Smoke sweep on the device (eval-all --sweep smoke)",
    "agreement": "3. One spec, one answer: invoke bench, eval-all job, in-process",
    "compare": "4. timm's benchmark.py beside ours",
    "variants": "5. fp16, channels-last, fast-norm (invoke bench)",
    "accuracy": "6. Accuracy on the device vs the CPU (invoke evaluate)",
    "oom": "7. Out-of-memory back-off (invoke bench)",
    "workers": "8. Compile workers against one job at a time (eval-all --compile-workers 0)",
    "modes_more": "9. Compile modes x inference/training of the other models (eval-all)",
    "overhead": "10. Where a job's seconds go, without and with compile workers",
    "compare_more": "11. timm's benchmark.py beside ours: the other modes and models",
    "slots": "12. Local executor: each eval-all job's device",
    "campaign": "13. The whole default sweep, timed (the goal: at most 10 minutes on one GPU)",
}
MODES_STEPS = ("modes", "modes_more")


def render_report(summary: dict, reference_rows: list) -> str:
    steps = summary["steps"]
    environment = steps.get("environment", {}).get("data", {})
    parts = ["# GPU check report", verdict(summary), machine_table(environment), steps_table(steps)]
    reference = {(r["model"], r["compile_mode"]): r for r in reference_rows}
    sections = {
        "smoke": smoke_text,
        "modes": lambda d: modes_table(d, reference),
        "modes_more": lambda d: modes_table(d, reference),
        "variants": lambda d: variants_table(d, steps),
        "accuracy": accuracy_text,
        "oom": oom_text,
        "slots": slots_text,
        "compare": lambda d: compare_table(d, steps),
        "compare_more": lambda d: compare_table(d, steps),
        "workers": workers_text,
        "agreement": agreement_text,
        "overhead": overhead_text,
        "campaign": campaign_text,
    }
    for name, title in STEP_TITLES.items():
        if name in steps:
            parts.append(section(title, steps[name], sections[name]))
    return "\n\n".join(parts) + "\n"


def outcome(steps: dict) -> tuple:
    """("PASSED" | "INCOMPLETE" | "FAILED", failed steps, steps not run for the time, stopped at the hard
    stop or killed running)."""
    failed = [name for name, r in steps.items() if r["status"] == "failed"]
    not_run = [name for name, r in steps.items() if r["status"] in ("not run", "running", "stopped")]
    return "FAILED" if failed else "INCOMPLETE" if not_run else "PASSED", failed, not_run


def verdict(summary: dict) -> str:
    word, failed, not_run = outcome(summary["steps"])
    passed = sum(r["status"] == "passed" for r in summary["steps"].values())
    env = summary["steps"].get("environment", {}).get("data", {})
    return (
        f"**{word}**: {passed} of {len(summary['steps'])} steps passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + (f"; not run: {', '.join(not_run)}" if not_run else "")
        + f". {env.get('plan', '?')} plan on `{env.get('device', '?')}`, {summary['elapsed_s']:.0f} s "
        f"(limit {summary['limit_s']:.0f} s, hard stop at {summary['stop_s']:.0f} s). "
        f"`python3 bench/gpu_check.py {' '.join(summary['argv'])}`"
    )


def table(headers: list, rows: list) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join("-" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def rate(value) -> str | None:
    """samples/s: whole numbers with thousands separators."""
    return None if value is None else f"{float(value):,.0f}"


def ratio(numerator, denominator) -> str | None:
    return f"{numerator / denominator:.2f}" if numerator and denominator else None


def seconds(value) -> str | None:
    return None if value is None else f"{float(value):.1f}"


def machine_table(env: dict) -> str:
    rows = [
        ("GPU (name, driver, memory, max SM clock, power limit)", env.get("gpu") or "none (nvidia-smi found none)"),
        ("CPU", f"{env.get('cpu')}, {env.get('cpu_count')} cores"),
        ("Python", env.get("python")),
        ("torch (CUDA build, cuDNN)", f"{env.get('torch')} (CUDA {env.get('torch_cuda')}, cuDNN {env.get('cudnn')})"),
        ("timm", f"{env.get('timm')} from {env.get('timm_from')}"),
        (
            "triton / invoke / sqlite-utils / jinja2 / plotly",
            " / ".join(str(env.get(k)) for k in ("triton", "invoke", "sqlite-utils", "jinja2", "plotly")),
        ),
        ("platform", env.get("platform")),
        ("GPU clocks at the start (SM MHz, max, °C, W)", env.get("clocks")),
        ("CUDA_VISIBLE_DEVICES", env.get("cuda_visible_devices")),
        ("project commit", env.get("commit")),
        ("notes", "; ".join(env.get("notes") or []) or None),
        ("throughput spec (the default sweep's on this device)", timing_text(env.get("timing"))),
    ]
    return "## Machine\n\n" + table(["", ""], rows)


def timing_text(timing: dict | None) -> str | None:
    if not timing:
        return None
    return (
        f"{timing['precision']}, batch {timing['batch_size']}, {timing['warmup_steps']} warm-up steps, "
        f"{timing['repeats']} repeats x {timing['steps']} steps"
    )


def steps_table(steps: dict) -> str:
    rows = [
        (name, r["status"], seconds(r["seconds"]), seconds(r.get("estimate_s")), "; ".join(r["problems"]) or None)
        for name, r in steps.items()
    ]
    return "## Steps (in the order they ran)\n\n" + table(["step", "status", "wall s", "estimate s", "problems"], rows)


def section(title: str, record: dict, body) -> str:
    head = f"## {title}\n\n{record['status']} in {record['seconds']:.0f} s."
    if record["status"] in ("not run", "running"):
        return head + f" {record['data'].get('reason', '')}"
    problems = "".join(f"\n- {p}" for p in record["problems"])
    try:
        text = body(record["data"]) if record["data"] else ""
    except (KeyError, TypeError) as e:  # a failed step's partial data
        text = f"(no figures: {type(e).__name__} {e})"
    return "\n\n".join(filter(None, [head + problems, text]))


def smoke_text(data: dict) -> str:
    return f"{data['done']} of {data['jobs']} smoke jobs done."


def modes_table(data: dict, reference: dict) -> str:
    by_spec = {(r["model"], r["mode"], r["bench"]): r for r in data["rows"]}
    rows = []
    for model, mode in sorted({(r["model"], r["mode"]) for r in data["rows"]}, key=mode_order):
        infer, train = by_spec.get((model, mode, "infer"), {}), by_spec.get((model, mode, "train"), {})
        ref = reference.get((model, mode), {})
        rows.append(
            (
                model,
                mode,
                rate(infer.get("samples_per_sec")),
                seconds(infer.get("compile_s")),
                rate(train.get("samples_per_sec")),
                seconds(train.get("compile_s")),
                rate(ref.get("infer_samples_per_sec")),
                rate(ref.get("train_samples_per_sec")),
            )
        )
    devices = sorted({r["device"] for r in data["rows"] if r.get("device")})
    note = (
        f"Measured on {', '.join(devices) or '?'}; samples/s are medians over repeats, compile s the first call. "
        "RTX 4090: the seed's reference figures (timm benchmark.py, PyTorch 2.4.1, AMP, fast-norm; "
        "db/reference/tiny-test-models-throughput.csv)."
    )
    headers = [
        "model",
        "mode",
        "infer samples/s",
        "infer compile s",
        "train samples/s",
        "train compile s",
        "RTX 4090 infer",
        "RTX 4090 train",
    ]
    return table(headers, rows) + "\n\n" + note


def mode_order(key):
    modes = ["eager", "default", "reduce-overhead", "max-autotune"]
    return key[0], modes.index(key[1]) if key[1] in modes else len(modes)


def step_row(steps: dict, model: str, bench: str, mode: str) -> dict:
    """The eval-all figure of steps modes and modes_more for one spec."""
    rows = [row for name in MODES_STEPS for row in steps.get(name, {}).get("data", {}).get("rows", [])]
    return next((r for r in rows if (r["model"], r["bench"], r["mode"]) == (model, bench, mode)), {})


def variants_table(data: dict, steps: dict) -> str:
    rows = []
    for r in data["rows"]:
        baseline = step_row(steps, r["model"], "infer", "eager").get("samples_per_sec")
        rows.append(
            (
                r["variant"],
                r["model"],
                " ".join(map(str, r["flags"])),
                rate(r.get("samples_per_sec")),
                r.get("batch_size"),
                rate(baseline),
                ratio(r.get("samples_per_sec"), baseline),
            )
        )
    headers = ["variant", "model", "flags", "samples/s", "batch", "eval-all: eager infer", "ratio"]
    return table(headers, rows) + "\n\nInference, eager, the default sweep's batch and steps."


def accuracy_text(data: dict) -> str:
    on, cpu = data["device"], data["cpu"]
    same = "equal" if on.get("top1") == cpu.get("top1") else "DIFFERENT"
    return (
        f"{data['model']} on {on.get('images')} generated images labelled with its own CPU predictions: "
        f"top-1 {on.get('top1')} (top-5 {on.get('top5')}) on {on.get('env_device')}, "
        f"top-1 {cpu.get('top1')} (top-5 {cpu.get('top5')}) on {cpu.get('env_device')}: {same}. "
        f"TF32 {data.get('tf32')}; tolerance {data.get('tolerance')}."
    )


def workers_text(data: dict) -> str:
    rows = [
        (r["model"], r["bench"], r["mode"], rate(r["shared"]), rate(r["alone"]), ratio(r["alone"], r["shared"]))
        for r in data["rows"]
    ]
    judged = f"tolerance {data['tolerance']:.0%}" if data["tolerance"] is not None else "not judged in the quick plan"
    return (
        table(
            [
                "model",
                "bench",
                "mode",
                f"with compile workers ({data['compile_workers']})",
                "alone (--compile-workers 0)",
                "alone / with",
            ],
            rows,
        )
        + f"\n\nMedian alone / with: {data['median_ratio']} ({judged})."
    )


def oom_text(data: dict) -> str:
    logged = ", ".join(f"{a} → {b}" for a, b in data["backoffs"])
    return (
        f"{data['model']} training, {data['precision']}, eager, 1 step: requested batch {data['batch_size']}, "
        f"used **{data['used']}** (stored in throughput.batch_size){'; back-offs: ' + logged if logged else ''}; "
        f"{data['seconds']} s."
    )


def slots_text(data: dict) -> str:
    counts = {}
    for r in data["rows"]:
        counts[r["device"]] = counts.get(r["device"], 0) + 1
    summary = table(["device (environments table)", "jobs"], sorted(counts.items()))
    rows = [(r["job"], r["sweep"], r["device"]) for r in data["rows"]]
    return (
        summary
        + "\n\n<details><summary>every job</summary>\n\n"
        + table(["job", "sweep", "device"], rows)
        + "\n\n</details>"
    )


def compare_table(data: dict, steps: dict) -> str:
    rows = []
    for r in data["rows"]:
        ours = step_row(steps, r["model"], r["bench"], r["mode"]).get("samples_per_sec")
        row = [r["model"], r["bench"], r["mode"], rate(r["benchmark_py"]), rate(ours), ratio(ours, r["benchmark_py"])]
        if data["sync"]:
            row += [rate(r.get("sync_each_step")), ratio(r.get("sync_each_step"), r["benchmark_py"])]
        rows.append(row)
    headers = ["model", "bench", "mode", "benchmark.py", "ours (eval-all)", "ours / benchmark.py"]
    headers += ["invoke bench --sync-each-step", "sync / benchmark.py"] if data["sync"] else []
    notes = "".join(f"\n- {n}" for n in data["notes"])
    return (
        table(headers, rows) + "\n\nSame model, precision, batch, 160 px, warm-up; benchmark.py times "
        "steps x repeats steps in one loop, synchronising after each (its train step adds weight decay and "
        f"label smoothing). Script: `{data['benchmark_py']}`." + notes
    )


def agreement_text(data: dict) -> str:
    rows = [
        (m["round"], m["entry"], rate(m["samples_per_sec"]), m["clocks_before"], m["clocks_after"])
        for m in data["measurements"]
    ]
    headers = ["round", "entry point", "samples/s", "GPU before (SM MHz, max, °C, W)", "GPU after"]
    medians = ", ".join(f"{entry} {rate(value)}" for entry, value in data["medians"].items())
    ratios = ", ".join(f"{entry} / eval-all job = {value:.3f}" for entry, value in data["ratios"].items())
    spec = ", ".join(f"{k}={v}" for k, v in data["spec"].items())
    judged = f"tolerance {data['tolerance']:.0%}" if data["tolerance"] is not None else "not judged in the quick plan"
    return (
        f"Spec: {spec}. Rounds alternate the entry points; GPU clocks from nvidia-smi.\n\n"
        + table(headers, rows)
        + f"\n\nMedians: {medians}. Ratios: {ratios} ({judged})."
    )


def overhead_text(data: dict) -> str:
    """bench/bench_job_overhead.py's tables, as it printed them."""
    return "\n\n".join(f"{name}:\n\n```\n{output.strip()}\n```" for name, output in data["runs"].items())


def campaign_text(data: dict) -> str:
    calls = f" over {data['calls']} calls" if data["calls"] > 1 else ""
    return (
        f"{data['done']} of {data['jobs']} jobs done in {data['wall_s']:.0f} s ({data['wall_s'] / 60:.1f} min){calls}; "
        f"their cold compiles (compile_s) add up to {data['compile_s']:.0f} s."
    )
