"""Identity includes what changes answers: protocol and sampling settings, defaults unchanged."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from runbench.analysis.compare import compare_models
from runbench.analysis.report import parse_group_by, report_from_frame
from runbench.analysis.status import plan_progress
from runbench.config import ModelConfig, builtin_config
from runbench.matrix import WORKFLOW_SUITE_VERSION, build_matrix, model_settings
from runbench.migrate import migrate_store
from runbench.plan import Cell, GenerationSettings
from runbench.records import ADDED_FIELDS, records_to_table, table_to_records
from runbench.runners.context import context_of_request
from runbench.runners.session import RunRequest, dry_run, prepare
from runbench.storage import open_store
from runbench.synthetic import synthetic_records
from tests.conftest import run_cli

CELL = Cell("workflow", "1", "gpt-4o-mini", "optimal", "easy", "simple_task", 0.8)
# the id of instance 3 of CELL before settings were part of identity (tests/runbench/test_plan.py)
GOLDEN_DEFAULT_ID = hashlib.sha256(
    b'{"difficulty":"easy","instance":3,"model":"gpt-4o-mini","prompt_type":"optimal",'
    b'"suite":"workflow","suite_version":"1","task_type":"simple_task","tool_success_rate":"0.80"}'
).hexdigest()[:32]


def test_default_settings_keep_todays_ids_exactly() -> None:
    assert CELL.test_id(3) == GOLDEN_DEFAULT_ID
    explicit = dataclasses.replace(CELL, settings=GenerationSettings(protocol="tags"))
    assert explicit.test_id(3) == GOLDEN_DEFAULT_ID
    assert list(explicit.test_ids([3])) == [GOLDEN_DEFAULT_ID]


def test_the_id_with_settings_is_the_design_formula() -> None:
    settings = GenerationSettings(
        protocol="native", temperature=0.7, top_p=0.95, max_tokens=1024, seed=-7346001
    )
    cell = dataclasses.replace(CELL, settings=settings)
    canonical = (
        '{"difficulty":"easy","instance":3,"max_tokens":1024,"model":"gpt-4o-mini",'
        '"prompt_type":"optimal","protocol":"native","seed":-7346001,"suite":"workflow",'
        '"suite_version":"1","task_type":"simple_task","temperature":"0.7",'
        '"tool_success_rate":"0.80","top_p":"0.95"}'
    )
    golden = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    assert cell.test_id(3) == golden
    assert list(cell.test_ids(range(2, 5)))[1] == golden


@pytest.mark.parametrize(
    "settings",
    [
        GenerationSettings(protocol="native"),
        GenerationSettings(temperature=0.0),
        GenerationSettings(temperature=0.7),
        GenerationSettings(top_p=0.9),
        GenerationSettings(max_tokens=512),
        GenerationSettings(seed=1),
    ],
)
def test_every_setting_that_changes_answers_changes_the_id(settings: GenerationSettings) -> None:
    assert dataclasses.replace(CELL, settings=settings).test_id(3) != GOLDEN_DEFAULT_ID


def test_a_run_with_another_protocol_is_not_already_done(tmp_path: Path) -> None:
    store = ["--store", str(tmp_path), "--storage", "json", "--quiet"]
    plan = ["--model", "sim-average", "--num-instances", "2", "--task-types", "simple_task"]
    assert run_cli("smart-batch", *plan, *store).returncode in (0, 1)
    again = run_cli("smart-batch", *plan, *store, "--protocol", "native", "--json")
    assert again.returncode in (0, 1), again.stderr
    rows = table_to_records(open_store(tmp_path, "json").scan())
    assert {row.protocol for row in rows} == {"tags", "native"}
    assert len({row.test_id for row in rows}) == 4
    tags = [row for row in rows if row.protocol == "tags"]
    assert {row.test_id for row in tags} == set(
        Cell(
            "workflow", WORKFLOW_SUITE_VERSION, "sim-average", "optimal", "easy", "simple_task", 0.8
        ).test_ids(range(2))
    )
    assert all(row.temperature is None and row.seed is None for row in rows)


def test_sampling_settings_from_the_config_enter_the_id_and_the_plan(tmp_path: Path) -> None:
    base = builtin_config().models["sim-average"]
    warm = dataclasses.replace(base, temperature=0.7, seed=42)
    matrix = build_matrix(task_types="simple_task", num_instances=3)
    cold_ids = {c.test_id(0) for c in matrix.cells(["sim-average"])}
    warm_cells = matrix.cells(["sim-average"], {"sim-average": model_settings(warm)})
    assert {c.test_id(0) for c in warm_cells}.isdisjoint(cold_ids)
    assert model_settings(warm, "native") == GenerationSettings("native", 0.7, None, None, 42)


def test_status_and_the_dry_run_count_only_tests_of_the_same_settings(tmp_path: Path) -> None:
    plan = ["--model", "sim-average", "--num-instances", "3", "--task-types", "simple_task"]
    run_cli("smart-batch", *plan, "--store", str(tmp_path), "--storage", "json", "--quiet")
    store = open_store(tmp_path, "json")
    matrix = build_matrix(task_types="simple_task", num_instances=3)
    tags = RunRequest(models=("sim-average",), matrix=matrix)
    native = dataclasses.replace(tags, options=dataclasses.replace(tags.options, protocol="native"))
    context = context_of_request(None, store)
    assert dry_run(tags, context).remaining == len(prepare(tags, context).jobs)
    assert dry_run(native, context).done == 0
    assert len(prepare(native, context).jobs) == 3
    assert plan_progress(store, ["sim-average"], matrix).done == dry_run(tags, context).done
    native_matrix = dataclasses.replace(matrix, protocol="native")
    assert plan_progress(store, ["sim-average"], native_matrix).done == 0


def test_report_and_compare_group_by_settings(tmp_path: Path) -> None:
    records = list(synthetic_records(120, seed=2))
    records = [
        dataclasses.replace(
            record,
            protocol=("tags", "native", None)[index % 3],
            temperature=(None, 0.7)[index % 2],
            max_tokens=(None, 1024)[index % 2],
        )
        for index, record in enumerate(records)
    ]
    store = open_store(tmp_path, "parquet")
    store.append(records)
    by = parse_group_by("protocol,temperature,max_tokens")
    from runbench.analysis.report import load_frame, report_columns

    report = report_from_frame(load_frame(store, None, None, report_columns(by)), by)
    groups = {result.group for result in report.groups}
    assert groups == {
        ("tags", "default", "default"),
        ("tags", "0.70", "1024"),
        ("native", "default", "default"),
        ("native", "0.70", "1024"),
    }
    frame = load_frame(store, None, None, report_columns(("model",)))
    everyone = report_from_frame(frame, ("model",))
    assert sum(r.tests for r in report.groups) == sum(r.tests for r in everyone.groups) > 0
    models = sorted({record.model for record in records})[:2]
    comparison = compare_models(store, models[0], models[1], group_by="protocol")
    assert set(comparison.by_prompt_type) <= {"tags", "native"}


def test_parts_written_before_the_settings_columns_still_read(tmp_path: Path) -> None:
    store = open_store(tmp_path, "parquet")
    records = list(synthetic_records(50, seed=3))
    old = records_to_table(records).drop_columns(list(ADDED_FIELDS))
    pq.write_table(old, store.parts_dir / "part-20250101T000000000000-0123456789ab.parquet")
    store.append([dataclasses.replace(r, protocol="tags") for r in synthetic_records(10, seed=4)])
    assert store.verify().is_clean
    assert store.scan().num_rows == 60
    assert store.scan(["protocol"]).num_rows == 60
    assert store.scan(["protocol"]).column("protocol").null_count == 50
    store.compact()
    assert store.verify().is_clean
    assert store.scan().num_rows == 60
    assert store.scan(["protocol"]).column("protocol").null_count == 50
    back = open_store(tmp_path / "copy", "json")
    assert migrate_store(store, back).verified_rows == 60


def test_settings_are_validated_in_the_config(tmp_path: Path) -> None:
    from runbench.config import load_config
    from runbench.errors import ConfigError

    path = tmp_path / "runbench.toml"
    path.write_text(
        '[providers.s]\nkind = "sim"\n[models.m]\nprovider = "s"\nprofile = "average"\ntop_p = 2\n'
    )
    with pytest.raises(ConfigError, match=r"models\.m\.top_p must be a number from 0 to 1"):
        load_config(path)
    path.write_text(
        '[providers.s]\nkind = "sim"\n[models.m]\nprovider = "s"\nprofile = "average"\n'
        "top_p = 0.9\nseed = 7\n"
    )
    model: ModelConfig = load_config(path).models["m"]
    assert (model.top_p, model.seed) == (0.9, 7)


def test_status_sees_the_ids_a_run_planned_with_the_configs_settings(tmp_path: Path) -> None:
    (tmp_path / "runbench.toml").write_text(
        '[providers.lab]\nkind = "sim"\n'
        '[models.warm-sim]\nprovider = "lab"\nprofile = "oracle"\ntemperature = 0.5\nseed = 3\n'
    )
    plan = ["--model", "warm-sim", "--num-instances", "2", "--task-types", "simple_task"]
    store = ["--store", str(tmp_path / "store"), "--storage", "json"]
    ran = run_cli("smart-batch", *plan, *store, "--quiet", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    rows = table_to_records(open_store(tmp_path / "store", "json").scan())
    assert {(row.temperature, row.seed) for row in rows} == {(0.5, 3)}
    status = run_cli("status", *plan, *store, "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stdout + status.stderr
