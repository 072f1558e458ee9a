"""The viewer shows imported WorkflowBench logs: results under their suite, each transcript."""

from __future__ import annotations

import json
from pathlib import Path

from runbench.migrate.wb_logs import import_logs
from runbench.storage import open_store
from tests.fakes import wb_logs
from tests.viewer.conftest import Viewer
from tests.viewer.test_server import _get


def test_imported_logs_are_viewed_with_their_conversation(tmp_path: Path) -> None:
    reply = "<tool_call>file_reader</tool_call>"
    document = wb_logs.log(
        required=["file_reader"], plan=["file_reader"], replies=[reply],
        runs=[("file_reader", True)], result={"success": True, "workflow_score": 0.9},
    )  # fmt: skip
    wb_logs.write_log(tmp_path / "logs", document)
    store = open_store(tmp_path / "store", "json")
    assert import_logs(tmp_path / "logs", store).imported == 1
    (row,) = store.scan().to_pylist()
    store.close()
    viewer = Viewer(tmp_path / "store")
    try:
        status, _, body = _get(viewer.url + "api/state?suite=legacy-logs")
        assert status == 200 and "DeepSeek-V3-0324" in json.loads(body)["options"]["model"]
        status, _, body = _get(viewer.url + f"api/test/{row['test_id']}")
        assert status == 200 and reply in body
    finally:
        viewer.close()
