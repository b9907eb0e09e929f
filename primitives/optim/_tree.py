"""Parameter containers: one array, or dicts/lists/tuples of arrays (nested), flattened to a
tuple of arrays and a hashable description of the container that rebuilds it."""

from __future__ import annotations

from typing import Any

Tree = Any
"""One array, or a dict, list or tuple whose values are trees."""

LEAF = "array"


def flatten(tree: Tree) -> tuple[list[Any], tuple]:
    """The arrays of ``tree`` in a fixed order (dict values in key order) and its description.

    Dicts must have sortable keys (strings, say): two dicts with the same keys in another
    insertion order describe the same container.
    """
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Tree, leaves: list[Any]) -> tuple:
    if isinstance(tree, dict):
        try:
            keys = tuple(sorted(tree))
        except TypeError:
            raise TypeError(
                f"params: dict keys must be sortable (strings, say), got {list(tree)!r}"
            ) from None
        return ("dict", keys, tuple(_flatten(tree[k], leaves) for k in keys))
    if isinstance(tree, (list, tuple)) and not _is_namedtuple(tree):
        kind = "list" if isinstance(tree, list) else "tuple"
        return (kind, len(tree), tuple(_flatten(t, leaves) for t in tree))
    leaves.append(tree)
    return (LEAF,)


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def unflatten(description: tuple, leaves: list[Any] | tuple[Any, ...]) -> Tree:
    """The container ``description`` holding ``leaves`` (the inverse of :func:`flatten`)."""
    it = iter(leaves)
    out = _build(description, it)
    return out


def _build(description: tuple, it) -> Tree:
    kind = description[0]
    if kind == LEAF:
        return next(it)
    children = [_build(d, it) for d in description[2]]
    if kind == "dict":
        return dict(zip(description[1], children, strict=True))
    return children if kind == "list" else tuple(children)


def paths(description: tuple, prefix: str = "") -> list[str]:
    """The index path of each leaf (``['w']``, ``[0]``; ``""`` for a lone array), in order."""
    kind = description[0]
    if kind == LEAF:
        return [prefix]
    keys = description[1] if kind == "dict" else range(description[1])
    out: list[str] = []
    for k, d in zip(keys, description[2], strict=True):
        out += paths(d, f"{prefix}[{k!r}]")
    return out


def describe(description: tuple) -> str:
    """A short readable form of a container description, for error messages."""
    kind = description[0]
    if kind == LEAF:
        return "array"
    inner = ", ".join(describe(d) for d in description[2])
    if kind == "dict":
        items = ", ".join(
            f"{k!r}: {describe(d)}" for k, d in zip(description[1], description[2], strict=True)
        )
        return "{" + items + "}"
    return f"[{inner}]" if kind == "list" else f"({inner}{',' if len(description[2]) == 1 else ''})"
