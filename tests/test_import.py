"""Importing timm's CSVs and the reference figures; idempotence; refusals; export round trip."""

import csv
import io
import json

import pytest

from checkout import REFERENCE
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
        "WHERE model = 'test_vit' AND compile_mode = 'max-autotune' AND bench = 'train'"
    )[0]
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
        "JOIN environments e ON e.id = t.environment_id WHERE model = 'test_vit' ORDER BY e.device_type"
    )
    cpu, gpu = rows
    assert (cpu["device_type"], cpu["device"], cpu["cuda"], cpu["compile_mode"], cpu["precision"]) == (
        "cpu",
        "cpu: Intel Core i7-12700H",
        None,
        "default",
        "fp32",
    )
    assert (gpu["device"], gpu["torch"], gpu["cuda"], gpu["compile_mode"], gpu["channels_last"]) == (
        "RTX 4090",
        "2.4.0",
        "12.4",
        "eager",
        1,
    )
    assert (gpu["img_size"], gpu["batch_size"], gpu["samples_per_sec"], gpu["step_time_ms"]) == (
        160,
        512,
        193591.5,
        2.637,
    )


@pytest.mark.parametrize("digits,version", [("113", "1.13"), ("112", "1.12"), ("210", "2.1.0"), ("291", "2.9.1")])
def test_torch_version_from_file_name(digits, version):
    assert torch_version(digits) == version


def test_same_card_spelled_two_ways_is_one_device():
    assert device_label("rtx4090") == device_label("4090") == "RTX 4090"


def test_thousands_separators_are_numbers(db, tmp_path):
    path = tmp_path / "results-imagenet.csv"
    path.write_text(
        'model,img_size,top1,top5,param_count\neva_giant_patch14_336.clip_ft_in1k,336,91.078,98.604,"1,013.01"\n'
    )
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
        (
            "results-imagenet.csv",
            "model,img_size,top1\na.b,224,70.1\nc.d,224,seventy\n",
            "results-imagenet.csv, line 3, column 'top1': 'seventy' is not a number",
        ),
        (
            "benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv",
            "model,infer_img_size,infer_samples_per_sec\nresnet50,224,1000\nresnet18,2x4,5\n",
            "line 3, column 'infer_img_size': '2x4' is not a number",
        ),
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


# --- untrusted input: every file is refused with its spot, or imported; never a traceback ----


def write_bytes(tmp_path, name, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def refusal(db, source) -> str:
    """The one-line message import_file refuses `source` with; nothing stored."""
    with pytest.raises(ImportRefused) as refused:
        import_file(db, source)
    assert db["accuracy"].count == 0 and db["throughput"].count == 0
    message = str(refused.value)
    assert "\n" not in message and message.isprintable()
    return message


GOOD_RESULTS = b"model,img_size,top1,top5\ntest_vit.r160_in1k,160,50.1,75.2\n"


def test_a_non_utf8_file_is_refused_with_its_line_and_the_next_files_still_import(db, tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "results-imagenet-a.csv").write_bytes(GOOD_RESULTS + "caf\u00e9_net,160,1,2\n".encode("latin-1"))
    (folder / "results-imagenet-b.csv").write_bytes(GOOD_RESULTS)
    from db.timm_csv import expand_sources, import_files

    assert import_files(db, expand_sources([str(folder)])) == 1
    assert "results-imagenet-a.csv, line 3: not UTF-8 text (byte 0xe9 at offset" in capsys.readouterr().err
    assert [r["source"] for r in db["accuracy"].rows] == ["timm:results-imagenet-b.csv"]


@pytest.mark.parametrize(
    "data,message",
    [
        (GOOD_RESULTS.decode().encode("utf-16"), "line 1: UTF-16 text, not UTF-8: save it as UTF-8"),
        (b"model,top1\nok,1\n\xff\xfe,2\n", "line 3: not UTF-8 text (byte 0xff at offset 16)"),
    ],
)
def test_other_encodings_are_refused_naming_the_fix(db, tmp_path, data, message):
    assert message in refusal(db, write_bytes(tmp_path, "results-imagenet.csv", data))


def test_a_utf8_file_with_a_byte_order_mark_imports(db, tmp_path):
    assert import_file(db, write_bytes(tmp_path, "results-imagenet.csv", b"\xef\xbb\xbf" + GOOD_RESULTS)) == (
        "accuracy",
        1,
    )


def test_a_200_kb_cell_is_refused_with_its_line_and_column(db, tmp_path):
    data = GOOD_RESULTS + b"x" * 200_000 + b",160,1,2\n"
    message = refusal(db, write_bytes(tmp_path, "results-imagenet.csv", data))
    assert message == "results-imagenet.csv, line 3, column 'model': 200000 characters, at most 1000."


@pytest.mark.parametrize(
    "cell,message",
    [
        ("test\x00vit", "column 'model': holds the unprintable character '\\x00' at position 5"),
        ("test\u202evit", "column 'model': holds the unprintable character '\\u202e' at position 5"),
        (".r160_in1k", "column 'model': '.r160_in1k' has no architecture name"),
    ],
)
def test_a_model_name_with_control_characters_or_no_architecture_is_refused(db, tmp_path, cell, message):
    data = f"model,img_size,top1\n{cell},160,50.1\n".encode()
    assert f"results-imagenet.csv, line 2, {message}" in refusal(
        db, write_bytes(tmp_path, "results-imagenet.csv", data)
    )


@pytest.mark.parametrize(
    "cell,message",
    [
        ("inf", "'inf' is not a finite number"),
        ("nan", "'nan' is not a finite number"),
        ("1e30", "'1e30' is out of range"),
        ("160.5", "'160.5' is not a whole number"),
        ("9" * 400, "is not a finite number"),
    ],
)
def test_numbers_sqlite_or_a_chart_cannot_hold_are_refused(db, tmp_path, cell, message):
    data = f"model,img_size,top1\ntest_vit,{cell},50.1\n".encode()
    assert message in refusal(db, write_bytes(tmp_path, "results-imagenet.csv", data))


def test_rows_longer_than_the_header_and_broken_quoting_are_refused(db, tmp_path):
    longer = b"model,img_size,top1\ntest_vit,160,50.1,extra\n"
    assert "line 2: 4 cells, the header has 3" in refusal(db, write_bytes(tmp_path, "results-imagenet.csv", longer))
    stray_return = b"model,img_size,top1\ntest\rvit,160,50.1\n"
    assert "line 2: not CSV (new-line character seen" in refusal(
        db, write_bytes(tmp_path, "results-imagenet.csv", stray_return)
    )


JSON_RECORD = {
    "model": "test_vit.r160_in1k",
    "img_size": 160,
    "top1": 50.1,
    "source": "measured",
    "created_at": "2026-01-01T00:00:00+00:00",
    "env_device": "cpu",
    "env_device_count": 1,
}


@pytest.mark.parametrize(
    "records,message",
    [
        ({"model": "test_vit"}, "line 1: expected a list of records, found an object"),
        ([JSON_RECORD, None], "record 2: expected an object, found null"),
        ([JSON_RECORD, [1, 2]], "record 2: expected an object, found a list"),
        ([{**JSON_RECORD, "model": 123}], "record 1, column 'model': not text"),
        ([{**JSON_RECORD, "model": None}], "record 1, column 'model': empty"),
        ([{**JSON_RECORD, "top1": [50.1]}], "record 1, column 'top1': expected text, a number or null, found a list"),
        (
            [{**JSON_RECORD, "top1": {"v": 1}}],
            "record 1, column 'top1': expected text, a number or null, found an object",
        ),
        ([{**JSON_RECORD, "top1": True}], "record 1, column 'top1': expected text, a number or null, found true/false"),
        ([{**JSON_RECORD, "top1": "high"}], "record 1, column 'top1': 'high' is not a number"),
        ([{**JSON_RECORD, "dataset": 5}], "record 1, column 'dataset': expected text, found a number (5)"),
        ([{**JSON_RECORD, "env_device_count": "two"}], "record 1, column 'env_device_count': 'two' is not a number"),
        ([{**JSON_RECORD, "env_device": ["cpu"]}], "record 1, column 'env_device': expected text, a number or null"),
        (
            [{**JSON_RECORD, "dataset": "x\u0000y"}],
            "record 1, column 'dataset': holds the unprintable character '\\x00'",
        ),
        (
            [{**JSON_RECORD, "dataset": "\udcff"}],
            "record 1, column 'dataset': holds the unprintable character '\\udcff'",
        ),
    ],
)
def test_json_exports_with_wrong_types_are_refused_naming_record_and_column(db, tmp_path, records, message):
    source = write(tmp_path, "leaderboard-accuracy.json", json.dumps(records))
    assert f"leaderboard-accuracy.json, {message}" in refusal(db, source)


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "line 1, column 1: not valid JSON (Expecting value)"),
        ("[" * 100_000, "not valid JSON (RecursionError"),
        ("[" + "1" * 5000 + "]", "not valid JSON (ValueError: Exceeds the limit"),
        ('[{"model": "a", "top1": Infinity}]', "record 1, column 'top1': inf is not a finite number"),
        (
            '[{"model": "a", "top1": 1' + "0" * 400 + "}]",
            "record 1, column 'top1': 1000000000",
        ),  # ... (401 characters) is out of range
    ],
)
def test_json_that_python_reads_badly_is_refused(db, tmp_path, text, message):
    assert message in refusal(db, write(tmp_path, "leaderboard-accuracy.json", text))


def test_a_throughput_export_without_its_bench_column_is_refused(db, tmp_path):
    source = write(tmp_path, "leaderboard-throughput.csv", "model,source,infer_samples_per_sec\ntest_vit,measured,10\n")
    assert "leaderboard-throughput.csv, line 2, column 'bench': missing" in refusal(db, source)


def test_file_names_with_a_newline_or_undecodable_bytes_are_refused_or_imported_cleanly(db, tmp_path, capsys):
    from db.timm_csv import import_files

    newline = write_bytes(tmp_path, "results-imagenet.csv\n", GOOD_RESULTS)
    assert "unknown file name pattern" in refusal(db, newline)
    folder = tmp_path / "caf\udce9"  # a folder whose name is not UTF-8 (os.fsdecode's surrogate escape)
    folder.mkdir()
    good = write_bytes(folder, "results-imagenet.csv", GOOD_RESULTS)
    assert import_files(db, [good, str(folder / "results-\udcff.csv")]) == 1
    out, err = capsys.readouterr()
    assert "caf\\udce9" in out and "1 accuracy rows" in out and "refused: " in err
    assert "caf\\udce9" in next(db["accuracy"].rows)["source_url"]


def test_sources_no_file_system_takes_are_refused_in_one_line(db, tmp_path, capsys):
    from db.timm_csv import expand_sources, import_files

    good = write_bytes(tmp_path, "results-imagenet.csv", GOOD_RESULTS)
    assert import_files(db, expand_sources([str(tmp_path / ("x" * 300)), str(tmp_path / "a\x00*.csv"), good])) == 2
    err = capsys.readouterr().err.splitlines()
    assert "cannot be read (File name too long)" in err[0] and "a\\x00*.csv: no such file" in err[1]
    assert db["accuracy"].count == 1


def test_an_unreadable_file_is_refused(db, tmp_path, monkeypatch):
    import errno
    import pathlib

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    source = write_bytes(tmp_path, "results-imagenet.csv", GOOD_RESULTS)
    monkeypatch.setattr(pathlib.Path, "open", denied)  # chmod 000 does not stop root, who runs CI
    monkeypatch.setattr(pathlib.Path, "read_text", denied)
    assert "cannot be read (Permission denied)" in refusal(db, source)


def test_a_file_the_database_cannot_take_is_named_and_the_next_files_still_import(db, tmp_path, capsys, monkeypatch):
    """SQLite says the disk is full while one file is stored (patched at that boundary): that file is
    rolled back and named in one line, and the next file is stored."""
    import sqlite3

    import db.timm_csv as timm_csv

    (tmp_path / "results-imagenet-a.csv").write_bytes(GOOD_RESULTS)
    (tmp_path / "results-imagenet-b.csv").write_bytes(GOOD_RESULTS)
    real = timm_csv.save_results

    def full_for_the_first(database, kind, rows):
        if rows[0]["source"].endswith("-a.csv"):
            raise sqlite3.OperationalError("database or disk is full")
        return real(database, kind, rows)

    monkeypatch.setattr(timm_csv, "save_results", full_for_the_first)
    assert timm_csv.import_files(db, timm_csv.expand_sources([str(tmp_path)])) == 1
    assert (
        f"not stored: {tmp_path / 'results-imagenet-a.csv'}: the database could not take it (its disk is full); "
        "free space or repair the database, then import it again"
    ) in capsys.readouterr().err
    assert [r["source"] for r in db["accuracy"].rows] == ["timm:results-imagenet-b.csv"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.pop("source"), "record 1, column 'source': missing or empty; every accuracy record needs it."),
        (lambda r: r.update(top1=None), "record 1, column 'top1': missing or empty; every accuracy record needs it."),
        (
            lambda r: r.update(top1_extra=1, speed=2),
            "record 1: 'top1_extra', 'speed' are not columns of accuracy "
            "exports, and would be lost: remove them, or import with the "
            "version that wrote the file.",
        ),
        (
            lambda r: r.update(schema_version=99),
            "record 1: written in export format 99; this version reads format 1 "
            "and older. Import it with the version that wrote it, or upgrade.",
        ),
        (lambda r: r.update(schema_version="x"), "record 1, column 'schema_version': 'x' is not a number"),
    ],
)
def test_an_export_missing_what_a_result_needs_or_holding_what_it_cannot_keep_is_refused(db, tmp_path, change, message):
    record = {**JSON_RECORD, "source": "measured", "schema_version": 1}
    change(record)
    assert f"leaderboard-accuracy.json, {message}" in refusal(
        db, write(tmp_path, "leaderboard-accuracy.json", json.dumps([record]))
    )


def test_exports_carry_their_format_version_and_a_folder_of_json_exports_imports(db, tmp_path, capsys):
    from db.export import SCHEMA_VERSION
    from db.timm_csv import expand_sources, import_files

    import_file(db, str(REFERENCE / "tiny-test-models-throughput.csv"))
    records = export_records(db, "throughput")
    assert {r["schema_version"] for r in records} == {SCHEMA_VERSION}
    folder = tmp_path / "exports"
    folder.mkdir()
    with open(folder / "leaderboard-throughput.json", "w") as stream:
        write_export(records, "throughput", "json", stream)
    copy = open_db(tmp_path / "copy.db")
    assert import_files(copy, expand_sources([str(folder)])) == 0
    assert copy["throughput"].count == db["throughput"].count
