"""Reading a saved transcript, in one place.

A record's ``transcript`` field is a path relative to the store's root
(``transcripts/<run_id>/<test_id>-<attempt>.json``, written by the runner). When the store
offers ``read_transcript`` it is asked; otherwise the file is read under ``store.root``. Paths
that would leave the store are refused, because the viewer serves whatever this returns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runbench.storage import Store

from runbench.errors import StoreError

Transcript = Any  # raw JSON: a list of messages or a dict, as the runner saved it


def read_transcript(store: Store, relative_path: str) -> Transcript:
    """The saved transcript at ``relative_path`` (a record's ``transcript`` field).

    Raises:
        StoreError: the path leaves the store, or the file is missing or not JSON.
    """
    reader = getattr(store, "read_transcript", None)
    if callable(reader):
        return reader(relative_path)
    root = Path(store.root).resolve()
    path = (root / relative_path).resolve()
    if not path.is_relative_to(root):
        raise StoreError(f"transcript path {relative_path!r} is outside the store")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"transcript {relative_path} is missing from the store") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StoreError(f"transcript {relative_path} cannot be read: {error}") from None


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
