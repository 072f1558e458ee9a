"""One compaction of an object store, started at a shared wall-clock moment; prints its report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from runbench.storage import open_store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--start-at", type=float, required=True)
    args = parser.parse_args()
    store = open_store(args.store, "parquet")
    time.sleep(max(0.0, args.start_at - time.time()))
    report = store.compact(blocking=False)
    print(json.dumps(dataclasses.asdict(report)), flush=True)


if __name__ == "__main__":
    main()
