"""The tables' columns, as each migration added them (db/migrations.py), and the columns of today.

Data only: db/ modules and the kinds take their columns from here, and import nothing back.
"""

# m001's tables; later migrations add columns (below), so an old database upgrades in place.
ENVIRONMENT_COLUMNS_M001 = {
    "id": str,  # hash of every other column: one row per distinct environment
    "device": str,  # e.g. "NVIDIA GeForce RTX 4090" or "cpu: Intel(R) Core(TM) i7"
    "device_type": str,  # cuda | cpu | mps ...
    "device_count": int,
    "torch": str,
    "timm": str,
    "cuda": str,  # CUDA the device used (none on a CPU)
    "cudnn": str,  # cuDNN the device used (none on a CPU)
    "driver": str,
    "python": str,
    "host": str,
    "platform": str,
}

MODEL_COLUMNS = {
    "name": str,  # timm architecture name, no weight tag
    "family": str,  # readable label of the timm module the model is registered in
    "family_module": str,  # that module, e.g. "efficientnet"
    "norm": str,  # primary canonical norm label
    "norms": str,  # JSON list of every canonical norm label found
    "params": int,
    "gmacs": float,  # per sample at the default input size
    "input_size": int,
    "test_input_size": int,
    "fixed_input_size": int,
    "crop_pct": float,
    "interpolation": str,
    "pretrained_tags": str,  # JSON list
    "has_weights": int,  # 1 when any tag has published weights
    "timm_version": str,
    "updated_at": str,
}

JOB_COLUMNS_M001 = {
    "key": str,  # hash of everything that changes the job's result
    "kind": str,  # accuracy | throughput
    "model": str,
    "spec": str,  # JSON of the job spec
    "status": str,  # queued | running | done | failed | skipped
    "attempts": int,
    "sweep": str,
    "created_at": str,
    "started_at": str,
    "finished_at": str,
    "error": str,  # one line
    "exit_code": int,
    "output_tail": str,
    "result_id": str,
}

# Columns shared by both result tables: where a number came from.
PROVENANCE_COLUMNS = {
    "id": str,  # the row's run: its series, plus its time for measured runs (db.store.row_id)
    "source": str,  # "measured", or "<collection>:<file name>" for imports
    "source_url": str,  # the file or URL an import was read from
    "environment_id": str,
    "job_key": str,
    "created_at": str,
}

ACCURACY_COLUMNS_M001 = {
    "model": str,  # architecture
    "tag": str,  # pretrained weight tag, e.g. r160_in1k
    "dataset": str,  # imagenet, imagenet-real, sketch, ...
    "img_size": int,
    "top1": float,  # percent
    "top5": float,
    "top1_err": float,
    "top5_err": float,
    "top1_diff": float,  # against ImageNet-1k, as published for other datasets
    "top5_diff": float,
    "rank_diff": int,
    "param_count": float,  # millions
    "crop_pct": float,
    "interpolation": str,
    "images": int,
    "images_per_sec": float,
    "wall_s": float,
    "batch_size": int,
    "precision": str,
    "weights": str,  # hf-hub id or checkpoint path the weights came from
    **PROVENANCE_COLUMNS,
}

THROUGHPUT_COLUMNS_M001 = {
    "model": str,
    "bench": str,  # infer | train
    "compile_mode": str,  # eager | default | reduce-overhead | max-autotune
    "precision": str,  # fp32 | amp | amp_bf16 | amp_fp16 | bf16 ...
    "channels_last": int,
    "fast_norm": int,
    "img_size": int,
    "batch_size": int,  # the batch actually used
    "samples_per_sec": float,  # median over repeats
    "samples_per_sec_min": float,
    "samples_per_sec_max": float,
    "step_time_ms": float,
    "compile_s": float,  # first call, never part of throughput
    "peak_mem_mb": float,
    "gmacs": float,  # per sample
    "macts": float,  # millions of activations per sample
    "param_count": float,  # millions
    "steps": int,
    "repeats": int,
    **PROVENANCE_COLUMNS,
}


# Added by m003.
ENVIRONMENT_COLUMNS_M003 = {
    "build_cuda": str,  # CUDA the torch build was compiled for, whatever the device used
    "build_cudnn": str,  # cuDNN the torch build ships
}
JOB_COLUMNS_M003 = {"traceback": str}  # where a failed job's error came from
THROUGHPUT_COLUMNS_M003 = {"sync_each_step": int}  # 1: timed as timm's benchmark.py (sync after every step)

# Added by m004: every run is kept, so a row names its series and what its run asked for.
RUN_COLUMNS_M004 = {
    "series": str,  # hash of the row's identity: the runs of one measurement share it (db.store.series_id)
    "low_fidelity": int,  # 1: a smoke/low-fidelity run, never shown as a model's figure beside real runs
}
THROUGHPUT_COLUMNS_M004 = {
    "requested_batch_size": int,  # the batch asked for (batch_size is the one used after any OOM back-off)
    "warmup_steps": int,
    **RUN_COLUMNS_M004,
}

ENVIRONMENT_COLUMNS = {**ENVIRONMENT_COLUMNS_M001, **ENVIRONMENT_COLUMNS_M003}
ACCURACY_COLUMNS = {**ACCURACY_COLUMNS_M001, **RUN_COLUMNS_M004}
THROUGHPUT_COLUMNS = {**THROUGHPUT_COLUMNS_M001, **THROUGHPUT_COLUMNS_M003, **THROUGHPUT_COLUMNS_M004}

# Added by m005: a running job's claim, so sweeps sharing a database never run one job twice.
JOB_COLUMNS_M005 = {
    "owner": str,  # the sweep that claimed the job: "host:pid:token"
    "lease_expires": float,  # unix time its claim lapses unless the owner renews it
}
