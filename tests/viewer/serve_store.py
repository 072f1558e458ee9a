"""The viewer as its own process, for tests: serves a store and prints its URL when ready."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from runbench.storage import open_store
from runbench.viewer import serve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--format", default="json")
    parser.add_argument("--refresh", type=float, default=0.5)
    arguments = parser.parse_args()
    store = open_store(arguments.store, arguments.format)

    def ready(url: str) -> None:
        print(url, flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(store, port=0, refresh_s=arguments.refresh, on_ready=ready))


if __name__ == "__main__":
    main()
