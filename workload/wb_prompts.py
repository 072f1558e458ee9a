"""WorkflowBench's prompts, as its runner builds and sends them, for the WorkflowBench suite.

The system prompt is ``InteractiveExecutor._get_system_prompt``; the user prompt is one of
``WorkflowQualityTester._create_baseline_prompt`` / ``_create_optimal_prompt`` /
``_create_cot_prompt`` / ``_create_flawed_prompt`` (built from the task as WorkflowBench's batch
runner passes it: id, description, task type, required tools, expected outputs, and no
``test_input``, so "Input Data" and "Expected Output" blocks never appear), then
``InteractiveExecutor._enhance_prompt_with_search_info`` (a note on search for every type but
``baseline``, whose prompt has no "Available Tools:" list to replace). The texts keep
WorkflowBench's indentation, spaces included, because a model reads them.

Where runbench cannot have WorkflowBench's input the rule is stated here:

- The plan is rendered as ``_generate_smart_execution_plan`` renders steps without RAG
  details (``N. Execute tool``), from the plan runbench shows: the library's pre-generated
  ``optimal_sequence`` or the required tools. WorkflowBench's ``smart_actions`` (semantic
  scores, reasons, confidences) come from its MDP generator and are not in the libraries
  runbench reads, so "Tools selected using" says "Pattern matching" and no critical tools are
  named.
- Flawed prompts show the flawed plan's tools only, as WorkflowBench shows the sequence and
  never the parameter or format notes: its ``parameter_error`` and ``logical_inconsistency``
  prompts show the correct order (docs/SCORING.md says why that is questionable and kept).
"""

from __future__ import annotations

from collections.abc import Sequence

from runbench.workload.tasks import Task

SYSTEM_PROMPT = """You are an AI assistant executing workflow tasks in an automated testing environment. 
    Your goal is to complete the given task by using appropriate tools.

    IMPORTANT TEST ENVIRONMENT RULES:
    - This is an automated test environment with no human interaction
    - When tools require parameters, use reasonable default values
    - NEVER ask the user for input, file paths, or clarification
    - For file paths, use generic defaults like "data/input.json" or "data/output.json"
    - For URLs, use example URLs like "https://api.example.com/data"
    - For any options or formats, use sensible defaults (e.g., JSON format)

    CRITICAL EXECUTION MODE:
    - Execute ONE tool at a time
    - Wait for feedback after each tool execution before proceeding
    - Do NOT list multiple tool calls in a single response
    - After receiving feedback, decide the next action based on the results

    Tool Discovery:
    - Search for tools: <tool_search>your search query</tool_search>
    - Get tool details: <tool_info>tool_name</tool_info>

    Examples:
    - <tool_search>file reader writer</tool_search>
    - <tool_info>data_processing_aggregator</tool_info>

    Tool Execution:
    After understanding the tools, execute them using: <tool_call>tool_name</tool_call>

    IMPORTANT: Only include ONE <tool_call> per response. Wait for the execution result before proceeding.

    Guidelines:
    1. Analyze the task to understand what tools you need
    2. Search for relevant tools using descriptive queries
    3. Use tool_info to understand parameters, dependencies, and error handling
    4. Execute tools ONE AT A TIME in the logical order required by the task
    5. WAIT for feedback after each tool execution
    6. Pay attention to tool dependencies - execute dependent tools first
    7. Handle errors based on the error codes in tool info
    8. Use default values for all parameters - do not ask for user input
    9. Complete the task and indicate when finished

    Available tool categories: file_operations, data_processing, network, computation, integration, utility"""  # noqa: E501, W291

INSERTION_POINT = "Begin by searching for the first tool you need."

_BASELINE_BODY = """

    Tool Search Available:
    You have access to a comprehensive tool library with specialized tools for various operations.
    To find relevant tools, use the search command: <tool_search>your search query</tool_search>

    Examples of tool searches:
    - <tool_search>file reader writer</tool_search>
    - <tool_search>data validation parser</tool_search>
    - <tool_search>network api fetch</tool_search>

    After finding the tools you need, execute them using: <tool_call>tool_name</tool_call>

    IMPORTANT - DEFAULT PARAMETERS:
    Since this is an automated test environment, use these default values when executing tools:
    - For 'source' or file paths: use "data/input.json"
    - For 'destination' or output paths: use "data/output.json"
    - For 'format': use "json"
    - For 'url' or API endpoints: use "https://api.example.com/data"
    - For any other parameters: use reasonable defaults based on the context

    DO NOT ask for any clarification or additional information. Proceed with the task using the defaults above.

    EXECUTION MODE:
    - Execute ONE tool at a time
    - Wait for feedback after each tool execution
    - Based on the feedback, decide what to do next
    - Do NOT list multiple tools to execute - just execute the next one

    Instructions:
    1. Analyze the task requirements
    2. Search for appropriate tools based on what you need to do
    3. Execute the FIRST tool in your workflow
    4. Wait for feedback
    5. Based on the result, execute the NEXT tool
    6. Continue until the task is complete
    7. Indicate when finished

    Begin by searching for the first tool you need."""  # noqa: E501

_STRATEGY = """    ### Execution Strategy:
    1. Follow the recommended sequence for optimal results
    2. Use alternatives if primary tools fail
    3. Pay special attention to critical tools
    4. ALWAYS use default parameters - never ask for user input
    5. Execute ONE tool at a time and wait for feedback
"""

_OPTIMAL_END = """
    REMINDER: This is an automated test. Execute one tool, wait for its result, then proceed to the next.
    """  # noqa: E501

_FLAWED_END = """
    IMPORTANT: Execute tools one by one. After each tool execution, wait for feedback before proceeding.

    REMINDER: This is an automated test. Use the default parameters specified earlier for all tool executions.
    """  # noqa: E501

_COT = """

    **Think step by step about which tools to use and why.**

    Please:
    1. First explain your reasoning about which tools to use
    2. Then execute the tools in the order you determined
    3. Format tool calls as: <tool_call>tool_name</tool_call>
    4. Use the default parameters specified earlier - do not ask for any user input
    5. Execute ONE tool at a time and wait for feedback before proceeding

    IMPORTANT EXECUTION RULES:
    - After explaining your reasoning, execute only the FIRST tool
    - Wait for the execution result
    - Based on the feedback, reason about the next step
    - Execute the next tool
    - Continue this pattern until task completion

    REMINDER: This is an automated test environment. Always use default values for parameters:
    - File paths: 'data/input.json' (source), 'data/output.json' (destination)
    - Format: 'json'
    - URLs: 'https://api.example.com/data'

    Begin with "Reasoning:" followed by your thought process, then execute the first tool."""

SEARCH_NOTE = """

    Note: You can search for tools using <tool_search>query</tool_search> and get tool details using <tool_info>tool_name</tool_info>."""  # noqa: E501


def task_goals(task: Task) -> str:
    """``_get_task_goals`` for the task as the runner passes it (no ``test_input``)."""
    goals: list[str] = []
    tools = task.required_tools
    if task.task_type == "basic_task" and tools:
        goals.append(f"1. Use {tools[0]} to begin processing")
        if len(tools) > 1:
            goals.append(f"2. Apply {tools[1]} for data transformation")
        if len(tools) > 2:
            goals.append(f"3. Complete with {tools[2]} for final output")
        goals.append(f"{len(tools) + 1}. Generate the structured output")
    elif task.task_type == "data_pipeline":
        goals = [
            "1. Read data from the input source",
            "2. Parse and validate the data",
            "3. Transform the data through pipeline stages",
            "4. Write the final result",
        ]
    return "\n".join(goals)


def baseline_prompt(task: Task) -> str:
    """``_create_baseline_prompt``: the task, search, default parameters, execution mode."""
    detailed = task.description
    goals = task_goals(task)
    if goals:
        detailed += f"\n\nTask Goals:\n{goals}"
    return f"Execute a {task.task_type.replace('_', ' ')} task.\n\n    Task: {detailed}" + (
        _BASELINE_BODY
    )


def execution_plan(plan: Sequence[str]) -> str:
    """The plan as ``_generate_smart_execution_plan`` renders steps without RAG details."""
    if not plan:
        return "No execution steps required."
    return "\n".join(f"{number}. Execute {tool}" for number, tool in enumerate(plan, start=1))


def _guidance(plan: Sequence[str], end: str) -> str:
    return (
        f"\n\n    ## Workflow Execution Plan\n\n    {execution_plan(plan)}\n\n"
        "    ### Analysis Results:\n"
        "    - Tools selected using: Pattern matching\n"
        "    - Critical tools identified: None\n\n"
        f"{_STRATEGY}{end}"
    )


def _insert(baseline: str, addition: str) -> str:
    return baseline.replace(INSERTION_POINT, addition + "\n\n" + INSERTION_POINT)


def initial_prompt(task: Task, prompt_type: str, plan: Sequence[str] = ()) -> str:
    """The prompt WorkflowBench builds and logs (``prompt`` in its logs), before the search note.

    ``plan`` is the tool sequence shown by ``optimal`` and flawed prompts.

    Raises:
        ValueError: an unknown prompt type.
    """
    baseline = baseline_prompt(task)
    if prompt_type == "baseline":
        return baseline
    if prompt_type == "cot":
        return _insert(baseline, _COT)
    if prompt_type == "optimal":
        return _insert(baseline, _guidance(plan, _OPTIMAL_END))
    if prompt_type.startswith("flawed_"):
        return _insert(baseline, _guidance(plan, _FLAWED_END))
    raise ValueError(f"unknown prompt type {prompt_type!r}")


def user_prompt(task: Task, prompt_type: str, plan: Sequence[str] = ()) -> str:
    """What the model reads as the user message: ``initial_prompt`` with the search note."""
    prompt = initial_prompt(task, prompt_type, plan)
    return prompt if prompt_type == "baseline" else prompt + SEARCH_NOTE


__all__ = [
    "SYSTEM_PROMPT",
    "baseline_prompt",
    "execution_plan",
    "initial_prompt",
    "task_goals",
    "user_prompt",
]
