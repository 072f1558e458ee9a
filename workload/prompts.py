"""Prompts: how much help the model gets, and the seven deliberate flaws.

``baseline`` gives the task only; ``optimal`` adds the correct execution plan; ``cot`` asks the
model to think step by step; ``flawed_<flaw>`` gives a plan with one deliberate flaw that a good
model should notice. Every flaw visibly changes the plan the model reads, and the choice of what
to change is seeded by the test id, so a test always sees the same flaw. Scoring always uses the
task's *correct* workflow, never the flawed plan.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from runbench.workload.tasks import Task
from runbench.workload.tools import registry

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
    return tuple(PlanStep(tool) for tool in task.required_tools)


def flawed_plan(task: Task, flaw: str, test_id: str) -> tuple[PlanStep, ...]:
    """The correct plan with one flaw applied (see each branch); seeded by the test id.

    Raises:
        ValueError: an unknown flaw.
    """
    steps = list(correct_plan(task))
    rng = _rng(test_id, flaw)
    tools = registry()
    if flaw == "sequence_disorder":  # two adjacent steps change places: wrong order
        index = rng.randrange(len(steps) - 1)
        steps[index], steps[index + 1] = steps[index + 1], steps[index]
    elif flaw == "tool_misuse":  # one step names another tool of the same category
        index = rng.randrange(len(steps))
        original = tools[steps[index].tool]
        siblings = [
            t.name
            for t in tools.values()
            if t.category == original.category and t.name != original.name
        ]
        steps[index] = PlanStep(rng.choice(siblings))
    elif flaw == "parameter_error":  # one step states parameters that are wrong for its tool
        index = rng.randrange(len(steps))
        tool = tools[steps[index].tool]
        wrong = tool.parameters[0].name
        steps[index] = PlanStep(tool.name, f"call it with {wrong}=null and format='binary'")
    elif flaw == "missing_step":  # a middle step is dropped (the last one when there are two)
        index = rng.randrange(1, len(steps) - 1) if len(steps) > 2 else len(steps) - 1
        del steps[index]
    elif flaw == "redundant_operations":  # a step is repeated right after itself, twice
        index = rng.randrange(len(steps))
        steps[index + 1 : index + 1] = [PlanStep(steps[index].tool, "again, to be sure")] * 2
    elif flaw == "logical_inconsistency":  # a later step contradicts an earlier one
        index = rng.randrange(1, len(steps))
        skipped = steps[index - 1].tool
        steps[index] = PlanStep(
            steps[index].tool, f"using the output of {skipped}, which must not be run"
        )
    elif flaw == "semantic_drift":  # later steps become similar-sounding tools with other purposes
        start = max(1, len(steps) // 2)
        for index in range(start, len(steps)):
            steps[index] = PlanStep(tools[steps[index].tool].similar_to)
    else:
        raise ValueError(f"unknown flaw {flaw!r}")
    return tuple(steps)


def build_prompt(task: Task, prompt_type: str, test_id: str, protocol: str = "tags") -> Prompt:
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
        plan = flawed_plan(task, prompt_type.removeprefix("flawed_"), test_id)
    else:
        raise ValueError(f"unknown prompt type {prompt_type!r}")
    rendered = "\n".join(step.render(number) for number, step in enumerate(plan, start=1))
    return Prompt(system, f"{user}\nExecution plan:\n{rendered}", plan)
