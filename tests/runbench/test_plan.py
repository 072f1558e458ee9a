from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from runbench.plan import Cell, plan_tests, remaining_tests

CELL = Cell("workflow", "1", "gpt-4o-mini", "optimal", "easy", "simple_task", 0.8)


def test_test_id_is_the_design_formula() -> None:
    canonical = (
        '{"difficulty":"easy","instance":3,"model":"gpt-4o-mini","prompt_type":"optimal",'
        '"suite":"workflow","suite_version":"1","task_type":"simple_task","tool_success_rate":"0.80"}'
    )
    assert CELL.test_id(3) == hashlib.sha256(canonical.encode()).hexdigest()[:32]


def test_rate_is_identified_by_two_decimals() -> None:
    assert Cell("workflow", "1", "m", "cot", "easy", "simple_task", 0.8).test_id(0) == Cell(
        "workflow", "1", "m", "cot", "easy", "simple_task", 0.800001
    ).test_id(0)


@given(
    model=st.text(min_size=1, max_size=20),
    rate=st.floats(0, 1),
    instances=st.lists(st.integers(0, 10**7), max_size=20),
)
def test_fast_test_ids_equal_the_reference_formula(
    model: str, rate: float, instances: list[int]
) -> None:
    cell = Cell("workflow", "1", model, "flawed_tool_misuse", "hard", "api_integration", rate)
    assert list(cell.test_ids(instances)) == [cell.test_id(i) for i in instances]
    reference = json.dumps(
        cell.identity(5), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert cell.test_id(5) == hashlib.sha256(reference.encode()).hexdigest()[:32]


def test_remaining_is_planned_minus_done_in_plan_order() -> None:
    cells = [CELL, Cell("workflow", "1", "gpt-4o-mini", "cot", "easy", "simple_task", 0.8)]
    planned = list(plan_tests(cells, 5))
    done = {planned[0].test_id, planned[7].test_id, "f" * 32}
    remaining = remaining_tests(planned, done)
    assert [t.test_id for t in remaining] == [t.test_id for t in planned if t.test_id not in done]
    assert len(remaining) == 8


def test_same_instance_is_the_same_test_for_every_process() -> None:
    assert [t.test_id for t in plan_tests([CELL], 3)] == [CELL.test_id(i) for i in range(3)]
