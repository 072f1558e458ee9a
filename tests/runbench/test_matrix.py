from __future__ import annotations

import pytest

from runbench.errors import UsageError
from runbench.matrix import (
    build_matrix,
    matrix_filters,
    parse_prompt_types,
    parse_rates,
    phase,
    phases,
)
from runbench.records import TASK_TYPES


def test_prompt_type_groups_expand() -> None:
    assert parse_prompt_types("all") == ("baseline", "optimal", "cot")
    assert len(parse_prompt_types("flawed")) == 7
    assert len(parse_prompt_types("all_with_flawed")) == 10
    assert parse_prompt_types("cot,all") == ("cot", "baseline", "optimal")


def test_the_five_systematic_phases_ship_as_package_data() -> None:
    assert list(phases()) == ["5.1", "5.2", "5.3", "5.4", "5.5"]
    assert phase("5.2").difficulties == ("very_easy", "medium")
    assert phase("5.3").prompt_types == parse_prompt_types("flawed")
    assert phase("5.4").tool_success_rates == (0.9, 0.7, 0.6)
    assert phase("5.5").prompt_types == ("baseline", "cot")
    assert all(p.task_types == TASK_TYPES and p.num_instances == 20 for p in phases().values())


def test_flags_override_a_phase_axis_by_axis() -> None:
    matrix = build_matrix(phase_name="5.4", difficulties="hard", num_instances=5)
    assert (matrix.difficulties, matrix.tool_success_rates, matrix.num_instances) == (
        ("hard",),
        (0.9, 0.7, 0.6),
        5,
    )
    assert matrix_filters(prompt_types="cot") == {"prompt_type": ["cot"]}


@pytest.mark.parametrize("text", ["-0.1", "abc", "", "1.01"])
def test_bad_rates_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_rates(text)
