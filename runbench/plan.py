"""Test identity: cells, planned tests, the exact ``test_id`` formula, and what remains to run.

Resume is exact because identity is content-addressed (``test_id``): a test is the same test in
every process, on every machine, in every phase that plans it, so "what remains" is a set
difference — never a comparison of counts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

TEST_ID_HEX_DIGITS = 32
DEFAULT_PROTOCOL = "tags"


def canonical_json(payload: dict[str, object]) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def format_rate(tool_success_rate: float) -> str:
    """The tool success rate as identity sees it: two decimals."""
    return f"{tool_success_rate:.2f}"


def format_setting(value: float) -> str:
    """A float setting as identity sees it: up to six significant digits ("0.7", "1")."""
    return format(float(value), ".6g")


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """What a run sends that changes a model's answers, so it belongs to a test's identity.

    Two runs of one plan with another protocol or temperature are different experiments: their
    tests must not count as each other's. A setting at its default (the protocol ``tags``,
    everything else unset, i.e. the provider's own default) is left out of the identity, so
    the ids of tests planned before settings were part of it stay what they were.
    """

    protocol: str = DEFAULT_PROTOCOL
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None

    def identity(self) -> dict[str, object]:
        """The settings that differ from their defaults, as they enter the canonical JSON."""
        items: dict[str, object] = {}
        if self.protocol != DEFAULT_PROTOCOL:
            items["protocol"] = self.protocol
        if self.temperature is not None:
            items["temperature"] = format_setting(self.temperature)
        if self.top_p is not None:
            items["top_p"] = format_setting(self.top_p)
        if self.max_tokens is not None:
            items["max_tokens"] = self.max_tokens
        if self.seed is not None:
            items["seed"] = self.seed
        return items

    def columns(self) -> dict[str, object]:
        """The record columns that say which settings a row was produced with."""
        return {
            "protocol": self.protocol,
            "temperature": None if self.temperature is None else float(self.temperature),
            "top_p": None if self.top_p is None else float(self.top_p),
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }


DEFAULT_SETTINGS = GenerationSettings()
SETTINGS_COLUMNS = ("protocol", "temperature", "top_p", "max_tokens", "seed")


def settings_mask(table: Any, settings: GenerationSettings) -> Any:
    """Which rows of an Arrow table (with ``SETTINGS_COLUMNS``) were produced with these settings.

    A null column (a row older than the column) reads as the default, as its test id does.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pa.array([True] * table.num_rows, type=pa.bool_())
    for name, value in settings.columns().items():
        column = table.column(name)
        if name == "protocol":
            column = pc.fill_null(column, DEFAULT_PROTOCOL)
        if value is None:
            matches = pc.is_null(column)
        else:
            matches = pc.fill_null(pc.equal(column, pa.scalar(value, column.type)), False)
        mask = pc.and_(mask, matches)
    return mask


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell of the experiment matrix; instances 0..N-1 of it are its planned tests."""

    suite: str
    suite_version: str
    model: str
    prompt_type: str
    difficulty: str
    task_type: str
    tool_success_rate: float
    settings: GenerationSettings = DEFAULT_SETTINGS

    def identity(self, instance: int) -> dict[str, object]:
        """The payload hashed into the test_id of ``instance`` of this cell."""
        return {
            "suite": self.suite,
            "suite_version": self.suite_version,
            "model": self.model,
            "prompt_type": self.prompt_type,
            "difficulty": self.difficulty,
            "task_type": self.task_type,
            "tool_success_rate": format_rate(self.tool_success_rate),
            "instance": instance,
            **self.settings.identity(),
        }

    def test_id(self, instance: int) -> str:
        """The test_id of one instance: the reference implementation of the id formula."""
        digest = hashlib.sha256(canonical_json(self.identity(instance)).encode("utf-8"))
        return digest.hexdigest()[:TEST_ID_HEX_DIGITS]

    def test_ids(self, instances: Iterable[int]) -> Iterator[str]:
        """test_ids of many instances, equal to ``test_id`` but without a JSON dump per test.

        The canonical JSON of a cell differs between instances only in the instance number, so
        the text around it is computed once; planning a million tests then takes about a second.
        """
        marker = -7_346_001
        # the key's quotes cannot occur unescaped inside any string value, nor the key twice
        needle = f'"instance":{marker}'
        prefix, found, suffix = canonical_json(self.identity(marker)).partition(needle)
        assert found, "the instance key is always in the identity"
        prefix += '"instance":'
        prefix_bytes, suffix_bytes = prefix.encode("utf-8"), suffix.encode("utf-8")
        sha256 = hashlib.sha256
        for instance in instances:
            payload = prefix_bytes + str(instance).encode("ascii") + suffix_bytes
            yield sha256(payload).hexdigest()[:TEST_ID_HEX_DIGITS]


@dataclass(frozen=True, slots=True)
class PlannedTest:
    """One test a plan asks for."""

    cell: Cell
    instance: int
    test_id: str


def plan_tests(cells: Iterable[Cell], num_instances: int) -> Iterator[PlannedTest]:
    """Instances 0..num_instances-1 of every cell, in cell order."""
    if num_instances < 0:
        raise ValueError("num_instances must be ≥ 0")
    for cell in cells:
        ids = cell.test_ids(range(num_instances))
        for instance, test_id in enumerate(ids):
            yield PlannedTest(cell=cell, instance=instance, test_id=test_id)


def remaining_tests(planned: Iterable[PlannedTest], done_ids: Collection[str]) -> list[PlannedTest]:
    """The planned tests whose id is not done, in plan order: planned minus done, exactly."""
    done = done_ids if isinstance(done_ids, set | frozenset) else set(done_ids)
    return [test for test in planned if test.test_id not in done]
