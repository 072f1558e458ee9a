"""A claimer on "another machine" for the fencing test: claims, appends some, waits, goes on.

It names itself host ``--host`` (so the test process, on the real host name, cannot watch its
pid and must judge it by its beat alone, as another machine would), claims ``--ids``, appends a
result for the first ``--early`` of them at once (held then: accepted into the local segment,
not uploaded yet) and prints ``{"claimed": {...}, "early": [...]}``. Then it waits until
``--go-file`` exists (the parent stops it with SIGSTOP meanwhile and takes its tests over),
offers results for the rest, releases everything and closes (which uploads the early rows,
now after the takeover), and prints ``{"refused": [...], "renewed": [...]}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import socket
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--ids", required=True)
    parser.add_argument("--early", type=int, required=True)
    parser.add_argument("--lease-s", type=float, required=True)
    parser.add_argument("--go-file", type=Path, required=True)
    parser.add_argument("--host", required=True)
    args = parser.parse_args()
    socket.gethostname = lambda: args.host  # type: ignore[assignment]

    from runbench.storage import open_store
    from runbench.synthetic import synthetic_records

    store = open_store(args.store, "parquet")
    claimed = store.claim(args.ids.split(","), args.owner, args.lease_s)
    template = next(iter(synthetic_records(1, seed=5)))
    results = [
        dataclasses.replace(template, test_id=test_id, attempt=attempt, run_id=args.owner)
        for test_id, attempt in claimed.items()
    ]
    early = store.append_held(results[: args.early], args.owner)
    assert early == [], "the early results were refused while their claims were fresh"
    early_ids = [record.test_id for record in results[: args.early]]
    print(json.dumps({"claimed": claimed, "early": early_ids}), flush=True)
    while not args.go_file.exists():
        time.sleep(0.02)
    refused = store.append_held(results[args.early :], args.owner)
    store.release(args.owner)
    store.close()
    renewed = sorted(store.renew(args.owner))
    out = {"refused": sorted(r.test_id for r in refused), "renewed": renewed}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
