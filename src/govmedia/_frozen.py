"""A read-only mapping for model fields (options, raw platform answers)."""

from __future__ import annotations

from collections.abc import Iterator, KeysView, Mapping
from typing import Any

__all__ = ["FrozenMap"]


class FrozenMap(Mapping[str, Any]):
    """A read-only, hashable-by-identity, picklable mapping for model fields."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        # Mapping.get goes through __getitem__ and a KeyError: several times
        # slower, and options are read on every delivery.
        return self._data.get(key, default)

    def keys(self) -> KeysView[str]:
        return self._data.keys()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._data,))
