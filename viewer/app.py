"""The viewer's web application: a Starlette app over one store, read-only.

Routes: ``/`` the live overview, ``/api/state`` its pieces as JSON (polled by the page),
``/plot.svg`` the plot of the current filters, ``/test/{id}`` one test with its transcript,
``/api/test/{id}`` the same as JSON. Store reads block, so they run in Starlette's thread pool
and never stall the event loop. Requests must name a loopback host (a DNS-rebinding page on
another site cannot read results through the user's browser).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from runbench.analysis.plots import drawn_values, draws_alike, report_svg
from runbench.analysis.show import show_test
from runbench.errors import StoreError, UsageError
from runbench.storage import Store
from runbench.viewer.page import error_page, index_page, test_page_html
from runbench.viewer.rows import ViewRows
from runbench.viewer.state import VIEW_COLUMNS, StateCache, ViewQuery, build_view, store_version

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from runbench.analysis.cost import Prices

log = logging.getLogger("runbench.viewer")

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]


def create_app(store: Store, *, refresh_s: float = 2.0, prices: Prices | None = None) -> Starlette:
    """The viewer app over ``store``; pages poll every ``refresh_s`` seconds.

    Raises:
        ValueError: ``refresh_s`` is not positive.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.responses import Response as PlainResponse
    from starlette.routing import Route

    if refresh_s <= 0:
        raise ValueError("refresh_s must be positive")
    label = f"{store.format} store at {store.root}"
    cache = StateCache()
    drawings = StateCache()  # per query: the last plot and what it shows
    rows = ViewRows(VIEW_COLUMNS)

    def current(query: ViewQuery) -> tuple[dict[str, Any], Any]:
        """The state and report for ``query``, rebuilt only when the store's files changed."""
        version = store_version(store)
        entry = cache.get(query.key, version)
        if entry is None:
            entry = build_view(store, query, prices, rows.read(store, version))
            cache.put(query.key, version, entry)
        return entry

    def current_state(query: ViewQuery) -> dict[str, Any]:
        return current(query)[0]

    def query_of(request: Request) -> ViewQuery:
        return ViewQuery.from_params(dict(request.query_params))

    async def index(request: Request) -> Response:
        try:
            query = query_of(request)
        except UsageError as error:
            return HTMLResponse(error_page("bad filter", error.message, 400), status_code=400)
        state = await run_in_threadpool(current_state, query)
        page = index_page(state, query, store_label=label, refresh_s=refresh_s)
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def api_state(request: Request) -> Response:
        try:
            query = query_of(request)
        except UsageError as error:
            return JSONResponse({"error": error.message}, status_code=400)
        state = await run_in_threadpool(current_state, query)
        return JSONResponse(state, headers={"Cache-Control": "no-store"})

    def draw(query: ViewQuery) -> str | None:
        """The plot of the page's own report (every grouping has at most two fields).

        Drawn again only when what it shows changed (``draws_alike``): a poll of a large
        store during a run mostly moves rates by less than a pixel.
        """
        report = current(query)[1]
        if not any(group.has_data for group in report.groups):
            return None
        shown = drawn_values(report)
        last = drawings.get(query.key, "")
        if last is not None and draws_alike(last[0], shown):
            return str(last[1])
        svg = report_svg(report)
        drawings.put(query.key, "", (shown, svg))
        return svg

    async def plot(request: Request) -> Response:
        try:
            query = query_of(request)
        except UsageError as error:
            return PlainResponse(error.message, status_code=400)
        svg = await run_in_threadpool(draw, query)
        if svg is None:
            return PlainResponse("no judged tests to plot", status_code=404)
        return PlainResponse(svg, media_type="image/svg+xml")

    async def test_page(request: Request) -> Response:
        try:
            view = await run_in_threadpool(show_test, store, request.path_params["test_id"])
        except UsageError as error:
            return HTMLResponse(error_page("no such test", error.message, 404), status_code=404)
        return HTMLResponse(test_page_html(view))

    async def api_test(request: Request) -> Response:
        try:
            view = await run_in_threadpool(show_test, store, request.path_params["test_id"])
        except UsageError as error:
            return JSONResponse({"error": error.message}, status_code=404)
        return JSONResponse(view.to_dict())

    async def store_failed(request: Request, error: Exception) -> Response:
        """A store that fails a read (a silent bucket, a file gone): its one line, as 503.

        The viewer keeps serving, and the next poll asks the store again; a traceback in the
        log at every poll and "Internal Server Error" on the page said nothing useful. A raw
        ``OSError`` from the store's files (``records.jsonl`` turned into a folder, a disk
        error) is said the way the CLI says it.
        """
        if not isinstance(error, StoreError):
            assert isinstance(error, OSError)
            error = StoreError(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "))
        log.warning("%s", error.message)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": error.message, "hint": error.hint}, status_code=503)
        if request.url.path == "/plot.svg":
            return PlainResponse(error.message, status_code=503)
        return HTMLResponse(error_page("store failed", error.message, 503), status_code=503)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/state", api_state),
            Route("/plot.svg", plot),
            Route("/test/{test_id}", test_page),
            Route("/api/test/{test_id}", api_test),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)],
        exception_handlers={StoreError: store_failed, OSError: store_failed},
    )
