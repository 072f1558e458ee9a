"""Bench (b): runbench's HTTP client against a bare aiohttp loop, in the same run.

A loopback OpenAI-compatible server (bench/loopback_server.py, its own process) answers every
chat completion after 100 ms; 64 requests are in flight; bodies are multi-turn conversations
like a real test's (2–20 messages, ~10.75 on average, ~2.3 KB). Each side sends the same 2,000
bodies: the bare loop as ready-made dicts through ``json.dumps`` and an aiohttp POST, runbench as
``ChatRequest`` objects through ``OpenAIChatClient.complete`` (encoding, the whole-request
timeout, parsing, redaction). The two alternate three times; medians are reported, with the
client process's CPU per request (the server's CPU is not counted). For reference, one pass of
the openai SDK's ``chat.completions.create`` on the same bodies.

    .venv/bin/python bench/http_client_bench.py [--requests 2000] [--rounds 3]

Targets (issue 9): ratio ≥ 0.85 of the bare loop, ≤ 1.5 ms client CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from runners_bench import LoopbackServer  # noqa: E402

IN_FLIGHT = 64
SYSTEM = (
    "You are a workflow agent. Use the tools to finish the task; call one tool per turn as "
    "<tool_call>name</tool_call>, and say TASK_COMPLETED when done. "
) * 8


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def conversation(messages: int) -> list[dict[str, str]]:
    """A test's conversation after ``messages`` messages (system, task, then turns)."""
    chat = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Task: read data.csv, validate it, write a report. " * 2},
    ]
    turn = 0
    while len(chat) < messages:
        chat.append(
            {
                "role": "assistant",
                "content": f"Step {turn}: calling the next tool. <tool_call>file_reader</tool_call>",
            }
        )
        chat.append(
            {
                "role": "user",
                "content": f"Tool result: {{'ok': true, 'rows': {turn * 17}, 'file': 'data.csv'}}",
            }
        )
        turn += 1
    return chat[:messages]


def bodies(count: int) -> list[list[dict[str, str]]]:
    sizes = [2 + (index * 7) % 19 for index in range(count)]  # 2..20 messages, mean ≈ 11
    return [conversation(size) for size in sizes]


async def drive(call: Callable[[int], Awaitable[None]], count: int) -> None:
    """``count`` calls, ``IN_FLIGHT`` at a time, from one queue."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def worker() -> None:
        while not queue.empty():
            await call(queue.get_nowait())

    async with asyncio.TaskGroup() as group:
        for _ in range(IN_FLIGHT):
            group.create_task(worker())


def measure(run: Callable[[], Awaitable[None]], count: int) -> tuple[float, float]:
    """(requests/s, ms of client CPU per request) of one pass."""
    cpu, started = _cpu_s(), time.perf_counter()
    asyncio.run(run())
    elapsed, used = time.perf_counter() - started, _cpu_s() - cpu
    return count / elapsed, used / count * 1000


def bare_aiohttp(url: str, chats: list[list[dict[str, str]]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        import aiohttp

        headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def call(index: int) -> None:
                body = json.dumps({"model": "bench-model", "messages": chats[index]})
                async with session.post(url, data=body, headers=headers) as response:
                    json.loads(await response.read())

            await drive(call, len(chats))

    return run


def runbench_client(
    base_url: str, chats: list[list[dict[str, str]]]
) -> Callable[[], Awaitable[None]]:
    from runbench.chat import ChatMessage, ChatRequest
    from runbench.clients.openai_client import OpenAIChatClient
    from runbench.config import DeploymentConfig, EndpointLimits, ModelConfig

    deployment = DeploymentConfig(
        "bench-model",
        "bench",
        "openai",
        base_url,
        None,
        "BENCH_KEY",
        None,
        EndpointLimits(max_concurrency=IN_FLIGHT),
        120.0,
        10.0,
    )
    model = ModelConfig("bench-model", "bench", (deployment,))
    requests = [
        ChatRequest(tuple(ChatMessage(m["role"], m["content"]) for m in chat), f"{index:032x}")
        for index, chat in enumerate(chats)
    ]

    async def run() -> None:
        client = OpenAIChatClient(model, deployment, "bench")
        try:

            async def call(index: int) -> None:
                await client.complete(requests[index])

            await drive(call, len(requests))
        finally:
            await client.aclose()

    return run


def sdk_create(base_url: str, chats: list[list[dict[str, str]]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        import httpx2
        import openai

        limits = httpx2.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        sdk = openai.AsyncOpenAI(
            base_url=base_url,
            api_key="bench",
            max_retries=0,
            http_client=httpx2.AsyncClient(limits=limits),
        )
        try:

            async def call(index: int) -> None:
                await sdk.chat.completions.create(model="bench-model", messages=chats[index])  # type: ignore[arg-type]

            await drive(call, len(chats))
        finally:
            await sdk.close()

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "HTTP_RESULTS.md")
    args = parser.parse_args()
    chats = bodies(args.requests)
    sizes = [len(json.dumps({"model": "bench-model", "messages": chat})) for chat in chats]
    server = LoopbackServer(100)
    url = f"{server.base_url}/chat/completions"
    results: dict[str, list[tuple[float, float]]] = {"aiohttp": [], "runbench": []}
    try:
        measure(bare_aiohttp(url, chats[:200]), 200)  # warm up imports and the server
        measure(runbench_client(server.base_url, chats[:200]), 200)
        for _ in range(args.rounds):
            results["aiohttp"].append(measure(bare_aiohttp(url, chats), args.requests))
            results["runbench"].append(
                measure(runbench_client(server.base_url, chats), args.requests)
            )
        reference = measure(sdk_create(server.base_url, chats), args.requests)
    finally:
        server.stop()
    rows = summarize(results, reference, chats, sizes, args)
    print("\n".join(rows))
    args.output.write_text("\n".join(rows) + "\n", encoding="utf-8")


def summarize(
    results: dict[str, list[tuple[float, float]]],
    reference: tuple[float, float],
    chats: list[list[dict[str, str]]],
    sizes: list[int],
    args: Any,
) -> list[str]:
    def median(name: str, position: int) -> float:
        return statistics.median(run[position] for run in results[name])

    ratios = [r[0] / a[0] for a, r in zip(results["aiohttp"], results["runbench"], strict=True)]
    rate_bare, rate_ours = median("aiohttp", 0), median("runbench", 0)
    cpu_bare, cpu_ours = median("aiohttp", 1), median("runbench", 1)
    per_round = ", ".join(
        f"{a[0]:.0f}/{r[0]:.0f} req/s ({r[0] / a[0]:.2f})"
        for a, r in zip(results["aiohttp"], results["runbench"], strict=True)
    )
    return [
        "# Bench (b): the HTTP client against a bare aiohttp loop",
        "",
        f"Command: `.venv/bin/python bench/http_client_bench.py --requests {args.requests} "
        f"--rounds {args.rounds}`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; loopback server answering after 100 ms, "
        f"{IN_FLIGHT} in flight; bodies of {statistics.mean(len(c) for c in chats):.2f} messages, "
        f"{statistics.mean(sizes) / 1024:.2f} KiB on average. Medians of {args.rounds} alternating "
        "rounds; CPU is the client process's only.",
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        f"| bare aiohttp loop | {rate_bare:,.0f} requests/s, {cpu_bare:.2f} ms CPU/request | — |",
        f"| runbench `OpenAIChatClient.complete` | {rate_ours:,.0f} requests/s, "
        f"{cpu_ours:.2f} ms CPU/request | ≤ 1.5 ms CPU/request |",
        f"| ratio runbench / bare aiohttp (median of rounds) | {statistics.median(ratios):.2f} "
        f"(rounds: {per_round}) | ≥ 0.85 |",
        f"| reference: openai SDK `chat.completions.create`, one pass | {reference[0]:,.0f} "
        f"requests/s, {reference[1]:.2f} ms CPU/request | — |",
    ]


if __name__ == "__main__":
    main()
