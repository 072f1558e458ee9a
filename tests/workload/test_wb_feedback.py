"""The texts WorkflowBench sends back (``wb_feedback``), on a registry file of our own.

Checked by hand against WorkflowBench's real logs (every 5th log): search results 4,529,
tool details 2,360, no-action help 3,604 and format help 3,080 replies, all equal.
"""

from __future__ import annotations

import asyncio

from runbench.workload.wb_feedback import (
    KeywordRanker,
    execution_feedback,
    format_help,
    no_action_help,
    outcome_line,
    search_results,
    tool_details,
)
from runbench.workload.wb_registry import load_tool_registry
from tests.conftest import FIXTURES

TOOLS = load_tool_registry(FIXTURES / "wb" / "tool_registry.json")


def test_keyword_search_scores_name_words_twice_and_keeps_registry_order_on_ties() -> None:
    ranker = KeywordRanker(TOOLS)
    assert ranker.rank("storage", 5) == [("storage_loader", 2.0), ("storage_saver", 2.0)]
    # one of two words in a description each: 1 / 2, ties in registry order
    assert ranker.rank("stored tokens", 5) == [
        ("storage_loader", 0.5),
        ("text_tokenizer", 0.5),
        ("text_summarizer", 0.5),
    ]
    assert ranker.rank("stored tokens", 2) == [("storage_loader", 0.5), ("text_tokenizer", 0.5)]
    assert ranker.rank("zzz qqq", 5) == []


def test_search_results_show_each_tools_full_entry_in_workflowbenchs_layout() -> None:
    class Fixed:
        async def search(self, query: str, k: int) -> list[tuple[str, float]]:
            return [("storage_loader", 0.537), ("not_a_tool", 0.5)]

    text = asyncio.run(search_results(["load it"], Fixed(), TOOLS))
    assert text.startswith(
        "Tool Search Results:\n\nQuery: 'load it'\nFound tools:\n\n1. storage_loader\n"
        "   Category: storage\n   Description: Loads a stored object by key.\n"
        "   Relevance: 0.54\n   Parameters:\n"
        "      - key (string): object key [REQUIRED]\n"
        "      - options (object): extra options [OPTIONAL] default={}\n"
        "   Returns:\n      - success (boolean): whether it worked\n"
    )
    assert "not_a_tool" not in text  # a ranked name outside the registry is dropped
    assert "      - INVALID_INPUT: bad input\n" in text
    assert text.endswith("\n\nYou can now use these tools with <tool_call>tool_name</tool_call>")


def test_tool_details_name_an_unknown_tool_and_list_dependencies() -> None:
    text = tool_details(["text_summarizer", "Storage_Loader"], TOOLS)
    assert "=== text_summarizer ===\nDescription: " in text
    assert (
        "\nDependencies: " in text
        and "  Note: These tools should be executed before this one" in text
    )
    assert "Tool 'Storage_Loader' not found in registry" in text  # exact names only


def test_an_executing_turn_reports_every_outcome_and_the_progress() -> None:
    lines = [
        outcome_line("storage_loader", True, {"status": "completed"}, None),
        outcome_line("text_tokenizer", False, None, "TIMEOUT: took too long"),
    ]
    text = execution_feedback(lines, 1, "data_pipeline")
    assert text.startswith(
        '✅ storage_loader executed successfully.\nOutput: {\n  "status": "completed"\n}\n\n'
        "❌ text_tokenizer failed.\nError: TIMEOUT: took too long\n\n"
        "Current progress: 1 tools executed. Continue with the pipeline execution.\n"
    )
    assert text.endswith("\n\nRemember: Execute only ONE tool per response.")


def test_help_texts_follow_what_the_reply_did() -> None:
    assert no_action_help("I will use the tool now and fetch data for you", []).startswith(
        "❌ NO ACTION DETECTED - Format may be incorrect."
    )
    long = "x" * 201
    assert "<tool_call>storage_loader</tool_call>" in no_action_help(long, ["storage_loader"])
    assert no_action_help("hmm", []).startswith("❌ NO VALID ACTION FORMAT DETECTED")
    searched = format_help("<tool_search>load", ["storage_loader"], list(TOOLS))
    assert "🚫 ACTION NOT FOUND" in searched and "EXAMPLES:\n<tool_call>storage_loader" in searched
    assert "EXAMPLES:\n<tool_call>storage_loader</tool_call>\n<tool_call>text_tokenizer" in (
        format_help("nothing", [], list(TOOLS))
    )
