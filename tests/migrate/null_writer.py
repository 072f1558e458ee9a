"""A writer process for the migrate-beside-writers test: appends until killed.

Every third record has null token counts, so a store it writes holds batches with and without
nulls in its nullable integer columns: the shape that once made identical rows fail verification.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
import uuid
from pathlib import Path

from runbench.storage import open_store
from runbench.synthetic import synthetic_records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--format", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=200_000, help="exactly this many, then idle")
    args = parser.parse_args()
    store = open_store(args.store, args.format)
    source = synthetic_records(
        10**9, seed=args.seed, run_id=str(uuid.uuid4()), start_instance=args.seed * 10**6
    )
    written = 0
    for index in itertools.count():
        if written >= args.limit:  # bounded: a fast disk must not fill up before the kill
            time.sleep(3600)
        batch = list(itertools.islice(source, min(1 + index % 7, args.limit - written)))
        batch = [
            dataclasses.replace(record, prompt_tokens=None, completion_tokens=None)
            if position % 3 == 0
            else record
            for position, record in enumerate(batch)
        ]
        store.append(batch)
        written += len(batch)
        if index == 0:
            print("writing", flush=True)
        time.sleep(0.01)  # a steady writer, not a flood: migrate runs beside it, and the limit
        # is reached only after minutes, however slow migrate is on a busy machine


if __name__ == "__main__":
    main()
