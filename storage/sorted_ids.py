"""Find one id among a million stored ones without a million Python objects.

The known-tests snapshot (``known_snapshot.py``) holds every test id a store has, sorted. A run
beside a large store asks it about a few thousand ids; turning a million ids into a Python set
first cost more than the run (0.45 s per million tests, on every run). Test ids all have one
length (32 hex digits, DESIGN §4), so the Arrow string column's data buffer *is* a fixed-width
bytes array: NumPy views it without copying and a lookup is one binary search. A column whose
ids differ in length (rows imported from elsewhere), hold a NUL byte (NumPy's fixed-width bytes
ignore trailing NULs) or are not strictly sorted falls back to a dict, built once: as slow as
before, and as right.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


class SortedIds:
    """The position of each id in one sorted, duplicate-free Arrow string column."""

    def __init__(self, column: pa.Array | pa.ChunkedArray) -> None:
        import pyarrow as pa

        if isinstance(column, pa.ChunkedArray):
            # one chunk is used as it is: combine_chunks would copy it (and page in a mapped file)
            column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        self._column = column  # keeps the buffer a zero-copy view reads alive
        self._size = len(column)
        self._fixed = _fixed_width_view(column)
        self._index: dict[str, int] | None = None
        if self._fixed is None:
            self._index = {key: at for at, key in enumerate(column.to_pylist())}

    def __len__(self) -> int:
        return self._size

    def find(self, key: str) -> int:
        """The row of ``key``, or -1 when the column does not hold it."""
        if self._index is not None:
            return self._index.get(key, -1)
        assert self._fixed is not None
        encoded = key.encode("utf-8")
        if len(encoded) != self._fixed.dtype.itemsize or b"\0" in encoded:
            return -1
        import numpy as np

        at = int(np.searchsorted(self._fixed, encoded))
        if at < self._size and self._fixed[at] == encoded:
            return at
        return -1


def _fixed_width_view(column: pa.Array) -> np.ndarray | None:
    """The ids as a NumPy ``S{width}`` array over Arrow's own buffer, or None if not possible."""
    import numpy as np
    import pyarrow as pa

    if column.type != pa.string() or column.null_count or len(column) == 0:
        return None
    size = len(column)
    offsets = np.frombuffer(
        column.buffers()[1], dtype=np.int32, count=size + 1, offset=column.offset * 4
    )
    first, last = int(offsets[0]), int(offsets[-1])
    width, rest = divmod(last - first, size)
    if width == 0 or rest or not np.all(np.diff(offsets) == width):
        return None
    data = column.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8, count=last - first, offset=first)
    if not raw.all():
        return None  # a NUL byte: S{width} would compare it as the end of the id
    fixed = np.frombuffer(data, dtype=f"S{width}", count=size, offset=first)
    if size > 1 and not bool(np.all(fixed[1:] > fixed[:-1])):
        return None  # not sorted by bytes, or an id twice: a binary search would miss
    return fixed
