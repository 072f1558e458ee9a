"""Seeded fuzzing: random byte flips, truncations and insertions in every kind of store file.

After the damage, ``verify``, ``scan``, ``stored_tests``, ``compact``, the run files and a fresh
``append`` must all work (no exception at all: none of these damages is a usage error), and every
row whose bytes the damage did not touch must still be read, before and after compaction.
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from runbench.analysis.summary import refresh_summary
from runbench.records import Record, encode_records
from runbench.storage import Store, open_store, stored_tests
from runbench.storage.base import key_strings
from runbench.synthetic import synthetic_records
from tests.fakes.damage import complete_lines, orphan_segment, random_damage

SEEDS = range(24)


def _key(record: Record) -> str:
    return f"{record.test_id}|{record.attempt}|{record.run_id}"


def _keys(store: Store) -> set[str]:
    return set(key_strings(store.scan(["test_id", "attempt", "run_id"])).to_pylist())


def _line_keys(records: list[Record]) -> dict[bytes, str]:
    return {encode_records([record]).rstrip(b"\n"): _key(record) for record in records}


def _run_files(store: Store, records: list[Record]) -> list[Path]:
    store.write_manifest({"run_id": "run-1", "started_at": "2026-11-29T00:00:00+00:00"})
    transcript = store.write_transcript("run-1", f"{records[0].test_id}-1", {"messages": []})
    store.claim([records[0].test_id], "holder", lease_s=3600)  # a live lease: this process
    return [
        store.path / "runs" / "run-1.json",
        store.root / transcript,
        next((store.path / "claims").glob("lease-*.json")),
    ]


def _exercise(store_root: Path, storage_format: str, expected: set[str], new: list[Record]) -> None:
    """Everything a user would run after the damage, with the survivors checked at each step."""
    store = open_store(store_root, storage_format)
    store.verify()
    assert expected <= _keys(store), "an untouched row went missing before compact"
    stored_tests(store)
    store.manifests()
    store.claim([record.test_id for record in new[:3]], "fuzzer", lease_s=60)
    store.release("fuzzer")
    store.compact()
    after = open_store(store_root, storage_format)
    assert expected <= _keys(after), "an untouched row went missing in compact"
    leftover = [
        d for d in after.verify().damage if d.kind not in ("unreadable_part", "schema_mismatch")
    ]
    assert not leftover, f"compact left line damage behind: {leftover}"
    after.append(new)
    after.close()
    final = open_store(store_root, storage_format)
    assert expected | {_key(record) for record in new} <= _keys(final)
    assert not list(store_root.rglob(".tmp-*")), "a temporary was left behind"


@pytest.mark.parametrize("seed", SEEDS)
def test_json_store_survives_random_damage_to_any_file(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    records = list(synthetic_records(90, seed=seed))
    store = open_store(tmp_path, "json")
    for start in range(0, 60, 20):
        store.append(records[start : start + 20])
    refresh_summary(store)
    records_path = tmp_path / "json" / "records.jsonl"
    files = [records_path, tmp_path / "json" / "summary.json", *_run_files(store, records)]
    store.close()

    damaged = rng.sample(files, rng.randint(1, 3))
    notes = [random_damage(path, rng) for path in damaged]
    if rng.random() < 0.5:
        notes.append(random_damage(records_path, rng))
    by_line = _line_keys(records[:60])
    expected = {by_line[line] for line in complete_lines(records_path) if line in by_line}

    try:
        _exercise(tmp_path, "json", expected, records[60:90])
    except AssertionError as error:
        raise AssertionError(f"{error} after {notes}") from error


@pytest.mark.parametrize("seed", SEEDS)
def test_parquet_store_survives_random_damage_to_any_file(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    records = list(synthetic_records(120, seed=seed))
    for start in (0, 30):
        writer = open_store(tmp_path, "parquet")
        writer.append(records[start : start + 30])
        writer.close()
    segment = orphan_segment(tmp_path, records[60:90])
    parts = sorted((tmp_path / "parquet" / "parts").glob("part-*.parquet"))
    part_bytes = {path: path.read_bytes() for path in parts}
    files = [*parts, segment, *_run_files(open_store(tmp_path, "parquet"), records)]

    damaged = rng.sample(files, rng.randint(1, 3))
    notes = [random_damage(path, rng) for path in damaged]
    if rng.random() < 0.5:
        notes.append(random_damage(segment, rng))
    expected: set[str] = set()
    for path, data in part_bytes.items():
        if path.read_bytes() == data:
            table = pq.read_table(path, columns=["test_id", "attempt", "run_id"])
            expected |= set(key_strings(table).to_pylist())
    by_line = _line_keys(records[60:90])
    expected |= {by_line[line] for line in complete_lines(segment) if line in by_line}

    try:
        _exercise(tmp_path, "parquet", expected, records[90:120])
    except AssertionError as error:
        raise AssertionError(f"{error} after {notes}") from error
