"""A loopback OpenAI-compatible server for benchmarks: fixed latency, optional rate limit.

Plain asyncio (HTTP/1.1 with keep-alive), so one process serves hundreds of concurrent
requests cheaply. With ``--rpm R`` it enforces a token bucket that starts full with ten
seconds' worth (R/6) and refills at R/60 per second, answering 429 with Retry-After when empty.
It prints its port on the first line and, on SIGTERM, a JSON line of counters.

    python bench/loopback_server.py --delay-ms 100 [--rpm 600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import time

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Done. TASK_COMPLETED"},
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55},
    }
).encode()


class Bucket:
    def __init__(self, rpm: float) -> None:
        self.capacity = rpm / 6
        self.rate = rpm / 60
        self.level = self.capacity
        self.updated = time.monotonic()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        if self.level >= 1:
            self.level -= 1
            return 0.0
        return (1 - self.level) / self.rate


async def serve(delay_s: float, rpm: float | None) -> None:
    counters = {"accepted": 0, "refused": 0, "first": None, "last": None}
    bucket = Bucket(rpm) if rpm else None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                length = 0
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)
                now = time.monotonic()
                wait = bucket.take() if bucket else 0.0
                if wait:
                    counters["refused"] += 1
                    body = b'{"error": {"message": "rate limited", "type": "requests", "code": "rate_limit"}}'
                    head = (
                        f"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                        f"Retry-After: {math.ceil(wait)}\r\nContent-Length: {len(body)}\r\n\r\n"
                    )
                else:
                    counters["accepted"] += 1
                    counters["first"] = counters["first"] or now
                    counters["last"] = now
                    await asyncio.sleep(delay_s)
                    body = COMPLETION
                    head = (
                        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n"
                    )
                writer.write(head.encode() + body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    print(json.dumps(counters), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=float, default=100.0)
    parser.add_argument("--rpm", type=float, default=None)
    args = parser.parse_args()
    asyncio.run(serve(args.delay_ms / 1000, args.rpm))


if __name__ == "__main__":
    main()
