"""runbench: run agentic tool-use benchmarks against LLM APIs and trust every number.

The public Python API; everything not listed in ``__all__`` is internal.
"""

from runbench.analysis.results import load_attempts, load_results
from runbench.errors import RunbenchError
from runbench.records import Record
from runbench.storage import open_store

__all__ = ["Record", "RunbenchError", "load_attempts", "load_results", "open_store"]
