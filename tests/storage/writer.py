"""A writer process for the concurrency and kill tests.

Appends synthetic records from several threads and prints the key of every record *after*
``append`` returned, so the parent knows exactly which appends were acknowledged.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator

from runbench.records import Record
from runbench.storage import open_store
from runbench.synthetic import synthetic_records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True, help="a folder or an s3:// URL")
    parser.add_argument("--format", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--count", type=int, default=500, help="appends per thread; 0 = forever")
    parser.add_argument("--max-batch", type=int, default=1)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="do not print acknowledgements")
    args = parser.parse_args()
    store = open_store(args.store, args.format)
    run_id = str(uuid.uuid4())
    print_lock = threading.Lock()

    def records_for(thread_index: int) -> Iterator[Record]:
        seed = args.seed * 1000 + thread_index
        return synthetic_records(
            10**9, seed=seed, run_id=run_id, start_instance=thread_index * 10**6
        )

    # with a fixed count, records are made before the start, so only appends are timed
    prepared = [list(itertools.islice(records_for(i), args.count)) for i in range(args.threads)]

    def work(thread_index: int) -> None:
        rng = random.Random(args.seed * 1000 + thread_index)
        source = iter(prepared[thread_index]) if args.count else records_for(thread_index)
        appended = 0
        for _ in itertools.count():
            if args.count and appended >= args.count:
                return
            size = rng.randint(1, args.max_batch)
            if args.count:
                size = min(size, args.count - appended)
            batch = list(itertools.islice(source, size))
            store.append(batch)
            appended += size
            if args.quiet:
                continue
            lines = "".join(f"{r.test_id}|{r.attempt}|{r.run_id}\n" for r in batch)
            with print_lock:
                sys.stdout.write(lines)
                sys.stdout.flush()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(args.threads)]
    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if args.quiet:
        print(f"appends-done {time.time():.6f}", flush=True)
    store.close()


if __name__ == "__main__":
    main()
