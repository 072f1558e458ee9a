"""A claimer process for the fencing test: claims, reports, waits, then tries to store results.

Prints ``{"claimed": {test_id: attempt}}`` once its claim is granted, waits until ``--go-file``
exists (the parent pauses it with SIGSTOP meanwhile, long enough for its lease to expire and be
taken over), then appends one record per claimed test with the attempt it was issued, uploads
(``close``) and prints ``{"renewed": [...]}``: what its renewal says it still holds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from runbench.storage import open_store
from runbench.synthetic import synthetic_records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--ids", required=True)
    parser.add_argument("--lease-s", type=float, required=True)
    parser.add_argument("--go-file", type=Path, required=True)
    args = parser.parse_args()
    store = open_store(args.store, "parquet")
    claimed = store.claim(args.ids.split(","), args.owner, args.lease_s)
    print(json.dumps({"claimed": claimed}), flush=True)
    while not args.go_file.exists():
        time.sleep(0.02)
    template = next(iter(synthetic_records(1, seed=5)))
    store.append(
        [
            dataclasses.replace(template, test_id=test_id, attempt=attempt, run_id=args.owner)
            for test_id, attempt in claimed.items()
        ]
    )
    store.close()
    renewed = sorted(store.renew(args.owner))
    sys.stdout.write(json.dumps({"renewed": renewed}) + "\n")


if __name__ == "__main__":
    main()
