"""The blending buffer of a scene: weighted sums of tile outputs over a ring of rows.

The model's thread adds each (T, T, 3) tile output, weighted by the blending window, at its
place; once no later tile can touch a run of rows, :meth:`StripBuffer.take` hands those rows
to the writer's thread as a :class:`Block`, which divides by the weights, converts to uint8 and
clears the rows for reuse, while the model goes on filling other rows of the ring. Nothing is
copied or shifted in the model's thread.

A ring of ``tile + 2·block`` rows suffices when at most one block is being written while the
next strip of tiles is added: the strips advance by less than a block, so every take is at
most one block (the last one at most two) and the next strip ends within the ring.

>>> buf = StripBuffer(width=4, capacity=6)
>>> ones = np.ones((3, 4), np.float32)
>>> buf.add(0, 0, np.stack([ones] * 3, axis=-1) * 0.5, ones)  # rows 0-2: colour 0.5, weight 1
>>> buf.add(2, 0, np.stack([ones] * 3, axis=-1), ones)        # rows 2-4: colour 1, weight 1
>>> buf.mark_valid(0, np.ones((5, 4), bool))
>>> pixels, valid = buf.take(3).pixels()
>>> pixels[:, 0, 0].tolist(), bool(valid.all())
([128, 128, 191], True)
"""

from __future__ import annotations

import numpy as np
import torch

from sarcolor.data.io import to_uint8

Array = np.ndarray | torch.Tensor


class StripBuffer:
    """Weighted sums, weights and validity of rows ``[base, base + capacity)`` of a scene, in a ring.

    Args:
        width: the scene's width (columns).
        capacity: rows of the ring.
    """

    def __init__(self, width: int, capacity: int) -> None:
        self.capacity = capacity
        self.base = 0  # the first row not yet taken
        self.pending: Block | None = None  # the last block taken
        self.total = np.zeros((capacity, width, 3), np.float32)
        self.weight = np.zeros((capacity, width), np.float32)
        self.valid = np.zeros((capacity, width), bool)
        # the same memory as tensors: the adds run on PyTorch's threads (2× NumPy's one on 2 cores)
        self._total, self._weight = torch.from_numpy(self.total), torch.from_numpy(self.weight)

    def spans(self, top: int, rows: int) -> list[tuple[int, int, int]]:
        """Where rows ``[top, top + rows)`` lie in the ring: (start, stop, offset in the rows)."""
        if rows > self.capacity:
            raise ValueError(f"{rows} rows do not fit a ring of {self.capacity}")
        start = top % self.capacity
        first = min(rows, self.capacity - start)
        out = [(start, start + first, 0)]
        if first < rows:
            out.append((0, rows - first, first))
        return out

    def add(self, top: int, left: int, weighted: Array, window: Array) -> None:
        """Add one (T, T, 3) float32 weighted output and its (T, T) weights at (top, left)."""
        weighted, window = torch.as_tensor(weighted), torch.as_tensor(window)  # no copy
        self._check(top, weighted.shape[0])
        w = min(weighted.shape[1], self.total.shape[1] - left)
        for a, b, o in self.spans(top, weighted.shape[0]):
            self._total[a:b, left : left + w].add_(weighted[o : o + b - a, :w])
            self._weight[a:b, left : left + w].add_(window[o : o + b - a, :w])

    def mark_valid(self, top: int, valid: np.ndarray) -> None:
        """Record the (rows, W) validity of the input from row ``top``."""
        self._check(top, valid.shape[0])
        for a, b, o in self.spans(top, valid.shape[0]):
            self.valid[a:b, : valid.shape[1]] = valid[o : o + b - a]

    def _check(self, top: int, rows: int) -> None:
        """Rows to add must not be taken yet, nor reach ring rows a block being written holds."""
        held = self.pending.rows if self.pending is not None and not self.pending.done else 0
        end = self.base + self.capacity - held
        if top < self.base or top + rows > end:
            raise ValueError(f"rows {top}-{top + rows} are outside the ring's free rows {self.base}-{end}")

    def take(self, upto: int) -> Block:
        """Rows ``[base, upto)``, which no tile will touch again, as a block for the writer."""
        block = Block(self, self.base, max(0, upto - self.base))
        self.base = max(self.base, upto)
        self.pending = block
        return block


class Block:
    """Rows ``[top, top + rows)`` of a :class:`StripBuffer`, complete; converted (and their
    rows cleared for reuse) by :meth:`pixels`, in any thread, once."""

    def __init__(self, buffer: StripBuffer, top: int, rows: int) -> None:
        self.buffer, self.top, self.rows = buffer, top, rows
        self.done = False  # its rows are cleared

    def pixels(self, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, width, 3) uint8 RGB (0 where invalid) and (rows, width) validity; the rows
        are zero in the ring afterwards."""
        buf = self.buffer
        width = buf.total.shape[1] if width is None else width
        spans = buf.spans(self.top, self.rows) if self.rows else []
        parts = []
        for a, b, _ in spans:
            weight = buf.weight[a:b, :width]
            rgb = buf.total[a:b, :width] / np.maximum(weight, 1e-12)[..., None]  # a new array
            valid = buf.valid[a:b, :width] & (weight > 0)
            pixels = to_uint8(rgb, overwrite=True)
            pixels[~valid] = 0
            parts.append((pixels, valid))
            for array in (buf.total, buf.weight, buf.valid):
                array[a:b] = 0
        self.done = True
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return np.zeros((0, width, 3), np.uint8), np.zeros((0, width), bool)
        return np.concatenate([p for p, _ in parts]), np.concatenate([v for _, v in parts])
