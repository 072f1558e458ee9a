"""Prompts: how much help the model gets, and the seven deliberate flaws.

``baseline`` gives the task only; ``optimal`` adds the correct execution plan; ``cot`` asks the
model to think step by step; ``flawed_<flaw>`` gives a plan with one of WorkflowBench's seven
flaws at its default "severe" level (``flawed_plan``). The choice of what to change is seeded by
the test id, so a test always sees the same flaw. These are the built-in suite's prompts: its
success levels use the task's required tools and its workflow adherence compares the calls with
the task's *correct* plan (``executor.run_test`` passes ``correct_plan``), so a flawed prompt
measures whether a model notices the flaw. The WorkflowBench suite uses WorkflowBench's own
prompts (``wb_prompts``) and, as WorkflowBench does, the plan its prompt showed.

WorkflowBench records parameter and format flaws beside the plan but never shows them to the
model, so its ``parameter_error`` and ``logical_inconsistency`` prompts read like ``optimal``;
runbench writes them into the plan's steps so that the flaw is something a model can fall for.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass

from runbench.workload.tasks import Task
from runbench.workload.tools import Tool, registry

PROTOCOL_TAGS = """You can use tools. In each reply, act with tags:
  <tool_search>words</tool_search>   find tools by what they do
  <tool_info>tool_name</tool_info>    read a tool's parameters
  <tool_call>tool_name</tool_call>    call a tool; JSON parameters may follow the name,
                                      e.g. <tool_call>file_reader {"path": "a.csv"}</tool_call>
Call tools one step at a time, in the order the task needs.
When the task is done, say TASK_COMPLETED."""

PROTOCOL_NATIVE = """You can use the tools offered as functions.
Call them one step at a time, in the order the task needs.
When the task is done, reply with the words TASK_COMPLETED."""


@dataclass(frozen=True, slots=True)
class PlanStep:
    tool: str
    note: str = ""

    def render(self, number: int) -> str:
        return f"{number}. {self.tool}" + (f" — {self.note}" if self.note else "")


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the model reads; ``plan`` is the plan shown (flawed for flawed prompts), if any."""

    system: str
    user: str
    plan: tuple[PlanStep, ...] = ()


def _rng(test_id: str, purpose: str) -> random.Random:
    return random.Random(int(hashlib.sha256(f"{test_id}:{purpose}".encode()).hexdigest()[:16], 16))


def correct_plan(task: Task) -> tuple[PlanStep, ...]:
    """The task's correct workflow: what ``optimal`` shows, flaws start from, adherence uses.

    A WorkflowBench ``_with_workflows`` library gives tasks a pre-generated optimal sequence
    (``Task.optimal_workflow``, set by the WorkflowBench library loader); WorkflowBench shows and
    scores against it, so runbench does too. Other tasks use their required tools in order.
    """
    pre_generated: tuple[str, ...] | None = getattr(task, "optimal_workflow", None)
    return tuple(PlanStep(tool) for tool in (pre_generated or task.required_tools))


def _category(name: str) -> str:
    """WorkflowBench's category of a tool: its name up to the first underscore."""
    return name.split("_", 1)[0] if "_" in name else "general"


def flawed_plan(
    task: Task, flaw: str, test_id: str, tools: Mapping[str, Tool] | None = None
) -> tuple[PlanStep, ...]:
    """The correct plan with one flaw at WorkflowBench's default "severe" level.

    Each branch names the WorkflowBench mechanics it follows (``flawed_workflow_generator.py``,
    ``inject_specific_flaw`` with ``severity='severe'``); docs/SCORING.md has the table. Random
    choices are seeded by the test id, so a test always sees the same flaw.

    Raises:
        ValueError: an unknown flaw.
    """
    registry_ = registry() if tools is None else tools
    steps = list(correct_plan(task))
    rng = _rng(test_id, flaw)
    if flaw == "sequence_disorder":
        # introduce_order_flaw('dependency'): from the end, every step that has dependencies
        # moves to the front, so tools come before what they depend on
        for index in reversed(range(len(steps))):
            tool = registry_.get(steps[index].tool)
            if tool is not None and tool.dependencies:
                steps.insert(0, steps.pop(index))
    elif flaw == "tool_misuse":
        # introduce_tool_misuse('similar'): len // 2 + 1 steps become another tool of the same
        # category (WorkflowBench's embedding lookup is empty in its batch runner, so its
        # same-category fallback is what runs)
        for index in rng.sample(range(len(steps)), min(len(steps) // 2 + 1, len(steps))):
            current = steps[index].tool
            siblings = [
                name
                for name in registry_
                if name != current and _category(name) == _category(current)
            ]
            if siblings:
                steps[index] = PlanStep(rng.choice(siblings))
    elif flaw == "parameter_error":
        # introduce_parameter_flaw('wrong'): len // 2 + 1 steps get wrong parameter values
        for index in rng.sample(range(len(steps)), min(len(steps) // 2 + 1, len(steps))):
            steps[index] = PlanStep(
                steps[index].tool, _wrong_parameters(steps[index].tool, registry_)
            )
    elif flaw == "missing_step":
        # introduce_missing_steps('critical'): only the first and last step remain (3+ steps)
        if len(steps) >= 3:
            steps = [steps[0], steps[-1]]
    elif flaw == "redundant_operations":
        # introduce_redundancy('duplicate'): every step is repeated
        steps = [copy for step in steps for copy in (step, step)]
    elif flaw == "logical_inconsistency":
        # introduce_logic_break('format'): len // 2 steps hand an incompatible format onward
        count = min(len(steps) // 2, len(steps) - 1)
        for index in rng.sample(range(len(steps) - 1), count):
            steps[index] = PlanStep(
                steps[index].tool,
                f"produce output in a format {steps[index + 1].tool} cannot read",
            )
    elif flaw == "semantic_drift":
        # introduce_semantic_drift: from step 3 on, each step becomes the tool most similar to
        # the one before it (built-in ``similar_to``), drifting away from the task
        for index in range(2, len(steps)):
            base = steps[index].tool if index == 2 else steps[index - 1].tool
            tool = registry_.get(base)
            if tool is not None and tool.similar_to in registry_ and tool.similar_to != base:
                steps[index] = PlanStep(tool.similar_to)
    else:
        raise ValueError(f"unknown flaw {flaw!r}")
    return tuple(steps)


def _wrong_parameters(name: str, tools: Mapping[str, Tool]) -> str:
    tool = tools.get(name)
    if tool is None or not tool.parameters:
        return "call it with options=null and format='binary'"
    return f"call it with {tool.parameters[0].name}=null and format='binary'"


def build_prompt(
    task: Task,
    prompt_type: str,
    test_id: str,
    protocol: str = "tags",
    tools: Mapping[str, Tool] | None = None,
) -> Prompt:
    """The system and user messages of a test.

    Raises:
        ValueError: an unknown prompt type.
    """
    system = "You are an agent that completes data workflows with tools.\n\n"
    system += PROTOCOL_TAGS if protocol == "tags" else PROTOCOL_NATIVE
    user = f"{task.description}\nInputs: {task.inputs}"
    if prompt_type == "baseline":
        return Prompt(system, user)
    if prompt_type == "cot":
        return Prompt(
            system, user + "\nThink step by step about which tools to use and in what order."
        )
    if prompt_type == "optimal":
        plan = correct_plan(task)
    elif prompt_type.startswith("flawed_"):
        plan = flawed_plan(task, prompt_type.removeprefix("flawed_"), test_id, tools)
    else:
        raise ValueError(f"unknown prompt type {prompt_type!r}")
    rendered = "\n".join(step.render(number) for number, step in enumerate(plan, start=1))
    return Prompt(system, f"{user}\nExecution plan:\n{rendered}", plan)
