"""Parameter containers: one array, or dicts/lists/tuples of arrays (nested), flattened to a
tuple of arrays and a hashable description of the container that rebuilds it.

Any other iterable of trees (a generator such as torch's ``model.parameters()``, a
``dict.values()`` view, ...) is read once and taken as the list of its items: it is described,
and rebuilt, as a list. Arrays (anything with a ``dtype``), strings, mappings other than dicts
and named tuples are not read as iterables (they are leaves, and a leaf that is not an array
is refused with the library's TypeError); a set is refused, having no order to pair params with
grads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Any

Tree = Any
"""One array, or a dict, list or tuple whose values are trees, or any other iterable of trees
(taken as a list)."""

LEAF = "array"


def flatten(tree: Tree, what: str = "params") -> tuple[list[Any], tuple]:
    """The arrays of ``tree`` in a fixed order (dict values in key order) and its description.

    Dicts must have sortable keys (strings, say): two dicts with the same keys in another
    insertion order describe the same container. ``what`` begins the error messages.
    """
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves, what)


def _flatten(tree: Tree, leaves: list[Any], what: str) -> tuple:
    if isinstance(tree, dict):
        try:
            keys = tuple(sorted(tree))
        except TypeError:
            raise TypeError(
                f"{what}: dict keys must be sortable (strings, say), got {list(tree)!r}"
            ) from None
        return ("dict", keys, tuple(_flatten(tree[k], leaves, what) for k in keys))
    if isinstance(tree, (list, tuple)) and not _is_namedtuple(tree):
        kind = "list" if isinstance(tree, list) else "tuple"
        return (kind, len(tree), tuple(_flatten(t, leaves, what) for t in tree))
    if _is_other_iterable(tree, what):
        return _flatten(list(tree), leaves, what)
    leaves.append(tree)
    return (LEAF,)


def _is_other_iterable(x: Any, what: str) -> bool:
    """An iterable read as a list: not an array, string, mapping, tuple (named) or set."""
    if hasattr(x, "dtype") or not isinstance(x, Iterable):
        return False
    if isinstance(x, Set):
        raise TypeError(
            f"{what} holds a {type(x).__name__}, which has no order to pair params with grads; "
            "pass a list (e.g. list(model.parameters())) or a dict"
        )
    return not isinstance(x, (str, bytes, bytearray, Mapping, tuple))


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
