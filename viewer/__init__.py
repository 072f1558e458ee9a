"""The live web viewer: ``runbench view`` serves a store's results on 127.0.0.1.

A presentation layer like the CLI: it reads through ``runbench.analysis`` and the Store
protocol, writes nothing, and imports its web stack (Starlette, uvicorn) only when used.
"""

from runbench.viewer.app import create_app
from runbench.viewer.server import DEFAULT_PORT, bind_loopback, serve

__all__ = ["DEFAULT_PORT", "bind_loopback", "create_app", "serve"]
