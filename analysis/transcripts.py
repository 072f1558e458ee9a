"""Reading a saved transcript, in one place.

A record's ``transcript`` field is a path relative to the store's root, written and read through
the Store (``store.write_transcript`` / ``read_transcript``), which refuses paths that would leave
the store — the viewer serves whatever this returns.
"""

from __future__ import annotations

import json
from typing import Any

from runbench.storage import Store

Transcript = Any  # raw JSON: a list of messages or a dict, as the runner saved it


def read_transcript(store: Store, relative_path: str) -> Transcript:
    """The saved transcript at ``relative_path`` (a record's ``transcript`` field).

    Raises:
        StoreError: the path leaves the store, or the file is missing or not JSON.
    """
    return store.read_transcript(relative_path)


def transcript_messages(transcript: Transcript) -> list[dict[str, Any]]:
    """The messages of a transcript, whichever shape it was saved in.

    The runner saves a list of messages; a dict with ``messages`` (the storage work's envelope)
    is unwrapped. Anything else becomes one message holding its JSON, so nothing is hidden.
    """
    if isinstance(transcript, dict) and isinstance(transcript.get("messages"), list):
        transcript = transcript["messages"]
    if isinstance(transcript, list):
        return [
            item if isinstance(item, dict) else {"role": "?", "content": item}
            for item in transcript
        ]
    return [{"role": "?", "content": json.dumps(transcript, ensure_ascii=False)}]
