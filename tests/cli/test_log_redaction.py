"""Every log line a command prints passes the redaction filter of the configured keys.

The clients redact what they quote, so the filter is the last line of defence: this test makes
a log line carry the key from inside a real run (a sim model's reply path logs it) and checks
that stderr never shows it. Removing the filter's installation in the CLI fails it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SENTINEL = "sk-sentinel-DO-NOT-LEAK-7f3a9c"

RUN = """
import logging, sys
from runbench.clients.sim import SimClient

real = SimClient.complete
KEY = sys.argv[1]  # main() rewrites sys.argv

async def leaky(self, request):
    logging.getLogger("runbench.test").warning("upstream said: key=%s", KEY)
    return await real(self, request)

SimClient.complete = leaky
from runbench.cli import main
main(sys.argv[2:])
"""


def test_a_log_line_with_the_key_reaches_stderr_redacted(tmp_path: Path) -> None:
    config = tmp_path / "runbench.toml"
    config.write_text(
        '[providers.paid]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'api_key_env = "RB_LOG_KEY"\n\n[models."paid-model"]\nprovider = "paid"\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN,
            SENTINEL,
            "smart-batch",
            *("--model", "sim-strong", "--task-types", "simple_task", "--difficulty", "easy"),
            *("--prompt-types", "optimal", "--num-instances", "1"),
            *("--config", str(config), "--store", str(tmp_path / "store")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"RB_LOG_KEY": SENTINEL, "PATH": "/usr/bin:/bin"},
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "upstream said: key=" in result.stderr  # the line was logged …
    assert SENTINEL not in result.stderr + result.stdout  # … without the key
