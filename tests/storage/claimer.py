"""A claiming process for the claim tests.

Waits for ``--start-at`` (a shared wall-clock start, so claimers really overlap), claims the
given test ids in a few batches, prints ``{"owner", "claimed": {test_id: attempt}}`` as one JSON
line, optionally appends an error record for each claimed test (``--append-errors``), and then
holds its leases until ``--stop-file`` appears (or forever, for kill -9 tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path

from runbench.storage import Store, open_store
from runbench.synthetic import synthetic_records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--format", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--ids", required=True, help="comma-separated test ids")
    parser.add_argument("--batches", type=int, default=1)
    parser.add_argument("--lease-s", type=float, default=600.0)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--stop-file", type=Path)
    parser.add_argument("--append-errors", action="store_true")
    parser.add_argument("--churn", action="store_true", help="claim and release until killed")
    args = parser.parse_args()
    store = open_store(args.store, args.format)
    ids = args.ids.split(",")
    if args.churn:
        churn(store, ids, args.owner, args.lease_s)
    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))
    claimed: dict[str, int] = {}
    size = -(-len(ids) // args.batches)
    for start in range(0, len(ids), size):
        claimed.update(store.claim(ids[start : start + size], args.owner, args.lease_s))
    if args.append_errors:
        template = next(
            record for record in synthetic_records(200, seed=3) if record.status == "error"
        )
        store.append(
            [
                dataclasses.replace(template, test_id=test_id, attempt=attempt, run_id=args.owner)
                for test_id, attempt in claimed.items()
            ]
        )
    sys.stdout.write(json.dumps({"owner": args.owner, "claimed": claimed}) + "\n")
    sys.stdout.flush()
    while args.stop_file is None or not args.stop_file.exists():
        time.sleep(0.02)


def churn(store: Store, ids: list[str], owner: str, lease_s: float) -> None:
    """Claim, renew and release random subsets forever, printing a line per round."""
    rng = random.Random(owner)
    while True:
        granted = store.claim(rng.sample(ids, len(ids) // 2), owner, lease_s)
        store.renew(owner)
        store.release(owner, rng.sample(sorted(granted), len(granted) // 2))
        sys.stdout.write("round\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
