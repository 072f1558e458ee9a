"""The tests' hostile fake server (``tests/fake_openai.py``) in a process of its own, for benches.

A separate process keeps the server's threads off the benchmarked client's interpreter. The
``FakeOptions`` arrive as JSON on the command line; the port is printed on the first line and,
on SIGTERM, one JSON line of counts: each status answered, and the first and last accepted
arrival (monotonic seconds).

    python bench/chaos_server.py '{"requests_per_minute": 240}'
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.openai_server import FakeOptions, start_fake_openai


def main() -> None:
    options = FakeOptions(**json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}"))
    fake = start_fake_openai(options)
    print(fake.server.server_address[1], flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    fake.close()
    accepted = [request["at"] for request in fake.requests if request["status"] == 200]
    counts = {
        "answered": {str(k): v for k, v in fake.answered().items()},
        "first": min(accepted, default=0.0),
        "last": max(accepted, default=0.0),
    }
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
