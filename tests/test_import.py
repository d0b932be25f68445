"""Importing timm's CSVs and the reference figures; idempotence; refusals; export round trip."""
import csv
import io
import json

import pytest

from conftest import REFERENCE
from db.export import export_records, write_export
from db.schema import open_db
from db.timm_csv import ImportRefused, device_label, import_file, torch_version


def data_rows(path) -> int:
    with open(path, newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def rows_from(db, table, source_name):
    return list(db[table].rows_where("source like ?", [f"%:{source_name}"]))


def test_every_timm_results_file_imports_with_its_row_count(db, timm_results):
    files = sorted(timm_results.glob("*.csv"))
    assert len(files) == 25
    for path in files:
        kind, stored = import_file(db, str(path))
        assert stored == data_rows(path), path.name
        assert len(rows_from(db, kind, path.name)) == stored
        assert kind == ("accuracy" if path.name.startswith("results-") else "throughput")


def test_reference_files_import_with_their_provenance(db):
    kind, stored = import_file(db, str(REFERENCE / "tiny-test-models-accuracy.csv"))
    assert (kind, stored) == ("accuracy", data_rows(REFERENCE / "tiny-test-models-accuracy.csv"))
    kind, stored = import_file(db, str(REFERENCE / "tiny-test-models-throughput.csv"))
    assert (kind, stored) == ("throughput", 2 * data_rows(REFERENCE / "tiny-test-models-throughput.csv"))

    row = db.execute_returning_dicts(
        "SELECT t.*, e.device, e.torch FROM throughput t JOIN environments e ON e.id = t.environment_id "
        "WHERE model = 'test_vit' AND compile_mode = 'max-autotune' AND bench = 'train'")[0]
    assert row["samples_per_sec"] == 87518.73
    assert (row["device"], row["torch"], row["precision"], row["fast_norm"]) == ("RTX 4090", "2.4.1", "amp", 1)
    assert row["source"] == "reference:tiny-test-models-throughput.csv"

    acc = next(db["accuracy"].rows_where("model = 'test_vit3' AND img_size = 192"))
    assert (acc["tag"], acc["dataset"], acc["top1"], acc["top1_err"]) == ("r160_in1k", "imagenet", 58.116, 41.884)


def test_benchmark_file_name_gives_environment_and_settings(db, timm_results):
    import_file(db, str(timm_results / "benchmark-infer-amp-nhwc-pt240-cu124-rtx4090.csv"))
    import_file(db, str(timm_results / "benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv"))
    rows = db.execute_returning_dicts(
        "SELECT t.*, e.device, e.device_type, e.torch, e.cuda FROM throughput t "
        "JOIN environments e ON e.id = t.environment_id WHERE model = 'test_vit' ORDER BY e.device_type")
    cpu, gpu = rows
    assert (cpu["device_type"], cpu["device"], cpu["cuda"], cpu["compile_mode"], cpu["precision"]) == (
        "cpu", "cpu: Intel Core i7-12700H", None, "default", "fp32")
    assert (gpu["device"], gpu["torch"], gpu["cuda"], gpu["compile_mode"], gpu["channels_last"]) == (
        "RTX 4090", "2.4.0", "12.4", "eager", 1)
    assert (gpu["img_size"], gpu["batch_size"], gpu["samples_per_sec"], gpu["step_time_ms"]) == (
        160, 512, 193591.5, 2.637)


@pytest.mark.parametrize("digits,version", [("113", "1.13"), ("112", "1.12"), ("210", "2.1.0"), ("291", "2.9.1")])
def test_torch_version_from_file_name(digits, version):
    assert torch_version(digits) == version


def test_same_card_spelled_two_ways_is_one_device():
    assert device_label("rtx4090") == device_label("4090") == "RTX 4090"


def test_thousands_separators_are_numbers(db, tmp_path):
    path = tmp_path / "results-imagenet.csv"
    path.write_text('model,img_size,top1,top5,param_count\n'
                    'eva_giant_patch14_336.clip_ft_in1k,336,91.078,98.604,"1,013.01"\n')
    import_file(db, str(path))
    row = next(db["accuracy"].rows)
    assert (row["model"], row["tag"], row["param_count"]) == ("eva_giant_patch14_336", "clip_ft_in1k", 1013.01)


def test_importing_twice_stores_each_row_once(db):
    for _ in range(2):
        import_file(db, str(REFERENCE / "tiny-test-models-throughput.csv"))
        import_file(db, str(REFERENCE / "tiny-test-models-accuracy.csv"))
    assert db["throughput"].count == 78
    assert db["accuracy"].count == 26
    assert db["environments"].count == 1


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("results-imagenet.csv", "arch,top1\nx,1\n", "results-imagenet.csv, line 1, column 'model': missing"),
        ("results-imagenet.csv", "model,img_size,top1\na.b,224,70.1\nc.d,224,seventy\n",
         "results-imagenet.csv, line 3, column 'top1': 'seventy' is not a number"),
        ("benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv",
         "model,infer_img_size,infer_samples_per_sec\nresnet50,224,1000\nresnet18,2x4,5\n",
         "line 3, column 'infer_img_size': '2x4' is not a number"),
        ("my-results.csv", "model,top1\na,1\n", "my-results.csv: unknown file name pattern"),
    ],
)
def test_malformed_files_are_refused_naming_file_line_column_and_store_nothing(db, tmp_path, name, text, message):
    with pytest.raises(ImportRefused, match=message.replace("(", r"\(")):
        import_file(db, write(tmp_path, name, text))
    assert db["accuracy"].count == 0 and db["throughput"].count == 0 and db["environments"].count == 0


def test_url_that_cannot_be_reached_is_refused_cleanly(db):
    with pytest.raises(ImportRefused, match="download failed"):
        import_file(db, "http://127.0.0.1:9/results-imagenet.csv")


def test_url_is_read_like_a_file(db):
    """An http URL goes through the same parser: serve a real reference file on loopback."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(REFERENCE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/tiny-test-models-accuracy.csv"
        assert import_file(db, url) == ("accuracy", 26)
        assert next(db["accuracy"].rows)["source_url"] == url
    finally:
        server.shutdown()


def all_rows(db, table):
    return {r["id"]: r for r in db[table].rows}


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("kind", ["accuracy", "throughput"])
def test_export_then_import_gives_back_the_same_rows(db, tmp_path, timm_results, kind, fmt):
    import_file(db, str(REFERENCE / f"tiny-test-models-{kind}.csv"))
    sample = "results-imagenet-real.csv" if kind == "accuracy" else "benchmark-infer-amp-nhwc-pt240-cu124-rtx4090.csv"
    import_file(db, str(timm_results / sample))
    out = tmp_path / f"leaderboard-{kind}.{fmt}"
    with open(out, "w", newline="") as stream:
        write_export(export_records(db, kind), kind, fmt, stream)

    fresh = open_db(tmp_path / "fresh.db")
    assert import_file(fresh, str(out)) == (kind, db[kind].count)
    assert all_rows(fresh, kind) == all_rows(db, kind)
    assert all_rows(fresh, "environments") == all_rows(db, "environments")


def test_export_uses_timm_column_names(db):
    import_file(db, str(REFERENCE / "tiny-test-models-accuracy.csv"))
    import_file(db, str(REFERENCE / "tiny-test-models-throughput.csv"))
    acc = io.StringIO()
    write_export(export_records(db, "accuracy"), "accuracy", "csv", acc)
    header = acc.getvalue().splitlines()[0].split(",")
    assert header[:6] == ["model", "img_size", "top1", "top1_err", "top5", "top5_err"]
    assert "test_vit.r160_in1k" in acc.getvalue()
    records = export_records(db, "throughput")
    infer = next(r for r in records if r["bench"] == "infer")
    assert {"infer_samples_per_sec", "infer_img_size", "env_device"} <= set(infer)
    assert json.loads(json.dumps(records))  # JSON-serialisable as exported
