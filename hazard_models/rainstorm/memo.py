"""Remembering what a cycle already computed from the same rainfall.

Two hazards of one cycle often read the same rainfall the same way: the rainstorm and the
waterlogging models sum the same radar frames over the same windows, and their nowcasts
extrapolate the same frames with the same ensemble. :class:`ResultMemo` keeps the last few
results keyed by the *content* they were made from (the bytes of the arrays, the options
that shape them), so the second hazard reuses the first one's work and a changed input
can never hit a stale entry. The aggregation weights an entry was made with are held by
the entry and compared by identity: a region rebuilt with other weights misses. Lazy
(dask-backed) inputs are not remembered: hashing them would compute them twice.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np

from hazard_models.aggregation import AggregationWeights

__all__ = ["ResultMemo", "content_key"]

_Value = TypeVar("_Value")


def _is_lazy(array: Any) -> bool:
    return getattr(array, "chunks", None) is not None


def content_key(arrays: tuple[Any, ...], settings: Any) -> str:
    """A digest of ``arrays`` (their bytes, shapes and dtypes) and of ``repr(settings)``."""
    # SHA-256: collision-safe, and twice as fast as BLAKE2b here (the CPU hashes it).
    digest = hashlib.sha256()
    for array in arrays:
        values = np.ascontiguousarray(np.asarray(array))
        digest.update(repr((values.shape, values.dtype.str)).encode())
        digest.update(values.reshape(-1).view(np.uint8).data)  # the bytes, no copy
    digest.update(repr(settings).encode())
    return digest.hexdigest()


class ResultMemo(Generic[_Value]):
    """The last ``size`` results, by content key and aggregation weights."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[AggregationWeights, _Value]] = OrderedDict()

    def get_or_compute(
        self,
        arrays: tuple[Any, ...],
        settings: Any,
        weights: AggregationWeights,
        compute: Callable[[], _Value],
    ) -> _Value:
        """The remembered result for (``arrays``, ``settings``, ``weights``), else
        ``compute()``, remembered; always ``compute()`` when an array is lazy."""
        if any(_is_lazy(array) for array in arrays):
            return compute()
        key = content_key(arrays, settings)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is weights:
            self._entries.move_to_end(key)
            return entry[1]
        value = compute()
        self._entries[key] = (weights, value)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget everything (tests use it to make a second run compute again)."""
        self._entries.clear()
