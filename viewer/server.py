"""Serving the viewer on the loopback interface, and nowhere else.

``serve`` binds the socket itself (so port 0 picks a free port and the real one is known before
the first request), runs uvicorn on it inside one task group, and reports the URL through
``on_ready`` instead of printing: the CLI decides what to say. It runs until cancelled (Ctrl-C
at the CLI's ``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from runbench.errors import RunbenchError, UsageError
from runbench.storage import Store
from runbench.viewer.app import create_app

if TYPE_CHECKING:
    from runbench.analysis.cost import Prices

DEFAULT_PORT = 8765


def bind_loopback(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> socket.socket:
    """A listening TCP socket on a loopback address (port 0: any free port).

    Raises:
        UsageError: the host is not a loopback address, or the port is taken or not allowed.
    """
    name = "127.0.0.1" if host == "localhost" else host
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise UsageError(
            f"the viewer serves on the loopback interface only, not '{host}'",
            hint="use --host 127.0.0.1 (the default); reach it remotely through an SSH tunnel",
        )
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((name, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise UsageError(
            f"cannot listen on {name}:{port}: {error.strerror}",
            hint="pass --port 0 to take any free port",
        ) from None
    sock.setblocking(False)
    return sock


def keep_freed_memory() -> None:
    """Make Arrow allocate from jemalloc in this process, when this pyarrow build has it.

    The viewer reads a whole store into memory and builds its state from it; at a million rows
    most of that time is fresh memory, touched page by page. Arrow's default allocator here
    (mimalloc) hands freed pages (decompression buffers, decoded pages, intermediate results)
    back to the system at once, so the next allocation faults them in again; jemalloc keeps
    them a while for reuse. Measured at 1M Parquet rows on the 2-core bench machine: the read
    0.64 s CPU instead of 0.85-1.25 s, the state 0.25 s instead of 0.35 s. Set for the
    viewer's process only, where it was measured; the other commands may gain the same.
    """
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a build without jemalloc keeps its default
        return
    pa.set_memory_pool(pool)


def warm_up() -> None:
    """Do, once on a few made-up rows, what the first page does, before listening.

    Importing pandas, Arrow's compute functions and matplotlib, and their first use (pandas'
    group-bys, matplotlib's font list and text caches) cost over a second of the first page
    otherwise; here they are part of starting the viewer, before its URL is announced.
    """
    from runbench.analysis.plots import report_svg
    from runbench.analysis.warm import made_up_rows
    from runbench.viewer.rows import folded
    from runbench.viewer.state import ViewQuery, view_of

    _, report = view_of(folded(None, [made_up_rows()]), ViewQuery(), None, [])
    report_svg(report)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


async def serve(
    store: Store,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    open_browser: bool = False,
    *,
    refresh_s: float = 2.0,
    prices: Prices | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the viewer over ``store`` until cancelled.

    ``on_ready`` receives the URL once the server accepts connections; ``open_browser`` then
    opens it in the user's browser.

    Raises:
        UsageError: the host is not loopback, or the port cannot be used.
    """
    import uvicorn

    keep_freed_memory()
    warm_up()
    sock = bind_loopback(host, port)
    url = url_of(sock)
    config = uvicorn.Config(
        create_app(store, refresh_s=refresh_s, prices=prices),
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.05)
        if on_ready is not None:
            on_ready(url)
        if open_browser:
            import webbrowser

            await asyncio.to_thread(webbrowser.open, url)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(server.serve(sockets=[sock]))
            group.create_task(announce())
    except* RunbenchError as raised:
        # uvicorn raises the SIGINT/SIGTERM it caught again as it ends, inside the server's
        # task, where the CLI's handler turns it into Interrupted: hand that on alone, so
        # Ctrl-C ends `runbench view` with one line and 130, not the group's traceback
        raise _first_error(raised) from None
    finally:
        sock.close()


def _first_error(group: BaseExceptionGroup[RunbenchError]) -> RunbenchError:
    """The first runbench error in a (possibly nested) exception group."""
    for item in group.exceptions:
        return item if isinstance(item, RunbenchError) else _first_error(item)
    raise AssertionError("except* never gives an empty group")
