from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from runbench.analysis.cost import (
    ASSUMED_REQUESTS_PER_TEST,
    ModelPrice,
    estimate,
    prices_of_config,
)
from runbench.analysis.render import report_rows
from runbench.analysis.report import build_report
from runbench.config import load_config
from runbench.errors import ConfigError
from runbench.storage import open_store
from tests.analysis.conftest import make_record


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = open_store(tmp_path, "json")
    opened.append(
        [
            make_record("a", "full_success", instance=0, prompt_tokens=1000, completion_tokens=100),
            make_record("a", "failure", instance=1, prompt_tokens=3000, completion_tokens=300),
            # an error and a superseded attempt were paid for too
            make_record("a", "error", instance=2, prompt_tokens=500, completion_tokens=0),
            make_record(
                "a",
                "full_success",
                instance=1,
                attempt=2,
                prompt_tokens=2000,
                completion_tokens=200,
            ),
            make_record("b", "full_success", instance=0, prompt_tokens=10, completion_tokens=1),
            make_record("c", "full_success", instance=0),  # tokens not recorded
        ]
    )
    return opened


def test_tokens_per_group_count_every_paid_attempt(store) -> None:  # type: ignore[no-untyped-def]
    groups = {g.group[0]: g for g in build_report(store, ("model",)).groups}
    assert (groups["a"].prompt_tokens, groups["a"].completion_tokens) == (6500, 600)
    assert (groups["b"].prompt_tokens, groups["b"].completion_tokens) == (10, 1)
    assert groups["c"].prompt_tokens is None  # unknown, not zero
    assert groups["a"].cost_usd is None  # no prices given


def test_prices_give_cost_and_an_unpriced_model_gives_none(store) -> None:  # type: ignore[no-untyped-def]
    from runbench.analysis.report import load_frame, report_columns, report_from_frame

    prices = {"a": ModelPrice(prompt_per_mtok=2.0, completion_per_mtok=10.0)}
    frame = load_frame(store, None, None, report_columns(("model", "prompt_type")))
    groups = {g.group[0]: g for g in report_from_frame(frame, ("model",), prices).groups}
    assert groups["a"].cost_usd == pytest.approx((6500 * 2.0 + 600 * 10.0) / 1e6)
    assert groups["b"].cost_usd is None
    together = report_from_frame(frame, ("prompt_type",), prices).groups[0]
    assert together.cost_usd is None  # b and c have no price: a partial sum would mislead
    row = report_rows(report_from_frame(frame, ("model",), prices))[0]
    assert row["prompt_tokens"] == 6500 and row["cost_usd"] == pytest.approx(0.019)


def test_prices_come_from_runbench_toml(tmp_path: Path) -> None:
    config = tmp_path / "runbench.toml"
    config.write_text(
        "[models.priced]\nprovider = 'sim'\nprofile = 'strong'\n"
        "price_prompt_per_mtok = 0.15\nprice_completion_per_mtok = 0.6\n"
        "[models.half]\nprovider = 'sim'\nprofile = 'weak'\nprice_prompt_per_mtok = 1\n"
    )
    prices = prices_of_config(load_config(config))
    assert prices == {"priced": ModelPrice(0.15, 0.6)}
    config.write_text(
        "[models.bad]\nprovider = 'sim'\nprofile = 'weak'\nprice_prompt_per_mtok = -1\n"
    )
    with pytest.raises(ConfigError, match="price_prompt_per_mtok"):
        load_config(config)


def test_estimate_uses_stored_tests_of_the_same_cells(store) -> None:  # type: ignore[no-untyped-def]
    from runbench.analysis.cost import ESTIMATE_COLUMNS

    stored = store.scan(ESTIMATE_COLUMNS).to_pandas()
    stored["turns"] = [4, 6, 1, 5, 2, 3]
    prices = {"a": ModelPrice(1.0, 1.0), "new": ModelPrice(1.0, 1.0)}
    result = estimate({"a": 10, "new": 2}, stored, prices)
    by_model = {m.model: m for m in result.models}
    # a: judged rows only (not the error): 3 rows, turns 4, 6, 5; 2000 / 200 tokens on average
    assert by_model["a"].requests == pytest.approx(10 * 5)
    assert by_model["a"].prompt_tokens == pytest.approx(10 * 2000)
    assert by_model["a"].basis.startswith("stored tests of these cells (n=3)")
    # a model with no history borrows the other models' rows of the cells
    assert by_model["new"].basis.startswith("other models'")
    assert result.requests == pytest.approx(by_model["a"].requests + by_model["new"].requests)
    assert result.cost_usd == pytest.approx(result.tokens / 1e6)
    assert result.to_dict()["models"][0]["model"] == "a"


def test_estimate_without_history_assumes_the_turn_limit_and_has_no_cost_unpriced() -> None:
    result = estimate({"x": 3}, pd.DataFrame(), None)
    assert result.requests == 3 * ASSUMED_REQUESTS_PER_TEST
    assert result.tokens > 0 and result.cost_usd is None
    assert result.models[0].basis.startswith("assumed")


def test_estimate_plan_reads_history_of_the_planned_cells_only(tmp_path: Path) -> None:
    from runbench.analysis.cost import estimate_plan
    from runbench.plan import Cell, plan_tests

    store = open_store(tmp_path, "json")
    store.append(
        [
            make_record("old", "full_success", instance=0, turns=4, prompt_tokens=800),
            make_record("old", "failure", instance=1, turns=6, prompt_tokens=1200),
            # another cell (hard): must not count
            make_record(
                "old", "failure", instance=0, difficulty="hard", turns=10, prompt_tokens=9000
            ),
        ]
    )
    cells = [Cell("workflow", "1", "new", "optimal", "easy", "simple_task", 0.8)]
    result = estimate_plan(store, plan_tests(cells, 3), None)
    (model,) = result.models
    assert (model.model, model.tests) == ("new", 3)
    assert model.requests == pytest.approx(3 * 5) and model.prompt_tokens == pytest.approx(3 * 1000)
    assert "n=2" in model.basis
    assert estimate_plan(store, [], None).requests == 0
