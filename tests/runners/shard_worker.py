"""One shard as its own process: run a model's tests on a fake server with a share of its budget.

    python -m tests.runners.shard_worker BASE_URL MODEL TESTS SHARE STORE [TOLD_RPM]

Prints one JSON line: finished, errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from runbench.config import EndpointLimits
from runbench.runners.engine import RunOptions
from runbench.runners.retry import RetryPolicy
from tests.runners.harness import Endpoint, run_endpoints


def main() -> None:
    base_url, model, tests, share, store = sys.argv[1:6]
    told = int(sys.argv[6]) if len(sys.argv) > 6 else None
    limits = EndpointLimits(max_concurrency=16, requests_per_minute=told)
    endpoint = Endpoint(base_url, model, int(tests), limits)
    options = RunOptions(max_workers=16, retry=RetryPolicy(max_retries=20), share=float(share))
    summary = asyncio.run(run_endpoints([endpoint], options, Path(store)))
    print(json.dumps({"finished": summary.finished, "errors": summary.errors}), flush=True)


if __name__ == "__main__":
    main()
