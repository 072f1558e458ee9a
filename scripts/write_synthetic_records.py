"""Write synthetic records into a JSON store, for the demo (no key, no network).

Until the runners exist this stands in for a benchmark run: it appends realistic records through
the same store API a runner uses, from several threads at once.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runbench.storage import open_store

from runbench.synthetic import synthetic_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True, help="store root folder")
    parser.add_argument("--count", type=int, default=6000, help="records to write")
    parser.add_argument("--storage", default="json", choices=["json", "parquet"])
    args = parser.parse_args()
    records = list(synthetic_records(args.count, seed=7))
    store = open_store(args.store, args.storage)
    batches = [records[i : i + 50] for i in range(0, len(records), 50)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(store.append, batches))
    store.close()
    print(f"wrote {len(records)} synthetic records to {store.path}")


if __name__ == "__main__":
    main()
