"""Where a test's conversation is saved: the one place that writes transcripts.

Today the file goes under the store's root (tmp → rename, so a reader never sees half a file).
``write_transcript`` has the signature of the Store method that replaces it
(``store.write_transcript(run_id, name, payload) -> str``), so switching is a one-line change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from runbench.storage import Store


def write_transcript(store: Store, run_id: str, name: str, payload: Any) -> str:
    """Write ``payload`` as JSON under the store; return its path relative to the store root."""
    relative = Path("transcripts") / run_id / f"{name}.json"
    path = store.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temporary, path)
    return str(relative)
