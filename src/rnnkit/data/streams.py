"""Language-model windows over one contiguous id stream (the classic TBPTT layout), as numpy
arrays: torch-free, so the ONNX runtime path evaluates a corpus exactly as the torch path's
:class:`rnnkit.data.LMStream` (which wraps this class) does.

Shapes use the package's letters (see :mod:`rnnkit`): ``B`` rows, ``T`` window length
(``bptt``), ``N`` ids of the stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np


class LMWindows:
    """Language-model windows over one contiguous id stream.

    The stream is cut into ``batch_size`` contiguous rows of S steps (the tail that does not
    fill a row is dropped); window ``i`` is ``x = rows[:, i*bptt : i*bptt + bptt]`` and ``y``
    the same shifted by one step, both int64 ``(B, bptt)`` (the last window may be shorter).
    Row ``b`` of window ``i + 1`` continues row ``b`` of window ``i``, so a model can carry
    its hidden state across windows. ``len()`` is the number of windows.

    ``ids`` may be a list, a numpy array or a ``numpy.memmap`` (only each window is read and
    converted). ``rows`` keeps only those rows of the ``batch_size`` (windows are then
    ``(len(rows), bptt)``): one process's share when several train together, which reads only
    its rows of a memory-mapped stream.

    >>> windows = LMWindows(list(range(10)), batch_size=2, bptt=2)
    >>> x, y = windows[0]
    >>> len(windows), x.tolist(), y.tolist()
    (2, [[0, 1], [5, 6]], [[1, 2], [6, 7]])
    """

    def __init__(self, ids: Sequence[int] | np.ndarray, batch_size: int, bptt: int,
                 rows: slice | None = None) -> None:
        name = type(self).__name__
        for argument, number in (("batch_size", batch_size), ("bptt", bptt)):
            if not isinstance(number, int) or number < 1:
                raise ValueError(f"{name}: {argument} must be an int >= 1, got {number!r}")
        ids = ids if isinstance(ids, np.ndarray) else np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1:
            raise ValueError(f"{name}: ids must be a 1-D stream, got shape {ids.shape}")
        steps = len(ids) // batch_size
        if steps < bptt + 1:
            raise ValueError(
                f"{name}: a stream of {len(ids)} ids cut into batch_size={batch_size} rows "
                f"gives {steps} steps per row, but one window needs bptt + 1 = {bptt + 1}; "
                "use a longer corpus, a smaller batch_size or a smaller bptt"
            )
        self._rows = ids[: steps * batch_size].reshape(batch_size, steps)  # (B, N // B), no copy
        if rows is not None:
            self._rows = self._rows[rows]  # (rows, N // B), still no copy
            if len(self._rows) == 0:
                raise ValueError(f"{name}: rows {rows} of batch_size={batch_size} are none")
        self.batch_size = len(self._rows)
        self.bptt = bptt
        self._windows = math.ceil((steps - 1) / bptt)

    def __len__(self) -> int:
        return self._windows

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index < 0:
            index += self._windows
        if not 0 <= index < self._windows:
            raise IndexError(
                f"{type(self).__name__}: window index must lie in [0, {self._windows}), got "
                f"{index}"
            )
        start = index * self.bptt
        stop = min(start + self.bptt, self._rows.shape[1] - 1)
        window = np.ascontiguousarray(self._rows[:, start : stop + 1], dtype=np.int64)  # (B, T+1)
        return window[:, :-1], window[:, 1:]  # x, y: (B, T) each

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return (self[index] for index in range(self._windows))
