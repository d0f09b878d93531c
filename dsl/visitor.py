"""One walker over the language's trees, as Jinja's ``visitor.py``.

A ``NodeVisitor`` subclass writes one ``visit_<Class>`` method per node class it
cares about (``visit_Binary``, ``visit_Send``, ``visit_IfStmt``...); ``visit``
dispatches on the node's class name and falls back to ``generic_visit``, which
visits the node's children in field order. Extra arguments to ``visit`` (a scope,
a parent id) are handed on to the method.

It walks both trees the language has: the IR (``dsl.ir``, pydantic models) and
the parser's AST (``dsl.syntax``, dataclasses). Class names are unique within
each tree; a visitor is written for one of them.

The expression printer (``dsl.printer``), the step labels (``dsl.step_labels``),
the Mermaid drawing (``dsl.graph``), the checker, the compiler and the cohort SQL
backend (``workers.adapters.cohort``) subclass it; ``walk`` yields every node of a tree.

Imports only the standard library and pydantic: the evaluator's modules import
what imports this inside the Temporal workflow sandbox.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


def _is_position(name: str) -> bool:
    """Source positions (``span``, ``else_span``...) are data about a node, not nodes."""
    return name == "span" or name.endswith("_span")


def iter_fields(node: Any) -> Iterator[tuple[str, Any]]:
    """``(name, value)`` of each field of an IR node or a syntax node, in declared order."""
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield name, getattr(node, name)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for field in dataclasses.fields(node):
            yield field.name, getattr(node, field.name)


def _is_node(value: Any) -> bool:
    return isinstance(value, BaseModel) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    )


def iter_child_nodes(node: Any) -> Iterator[Any]:
    """The nodes directly below ``node``, in field order (lists in their order); source
    positions are left out."""
    for name, value in iter_fields(node):
        if _is_position(name):
            continue
        if _is_node(value):
            yield value
        elif isinstance(value, list | tuple):
            yield from (item for item in value if _is_node(item))


def walk(node: Any) -> Iterator[Any]:
    """``node`` and every node below it, depth first, in source (field) order."""
    yield node
    for child in iter_child_nodes(node):
        yield from walk(child)


class NodeVisitor(Generic[T]):
    """Walks a tree: ``visit_<Class>`` for the classes a subclass names, ``generic_visit``
    (the children, in order) for the rest. ``T`` is what the visit methods return."""

    def get_visitor(self, node: Any) -> Callable[..., T] | None:
        """The ``visit_<Class>`` method for ``node``, or ``None``."""
        return getattr(self, f"visit_{type(node).__name__}", None)

    def visit(self, node: Any, *args: Any, **kwargs: Any) -> T:
        """Visit ``node`` with its own method, else ``generic_visit``."""
        method = self.get_visitor(node)
        if method is None:
            # None, unless the subclass's generic_visit gives a fallback of type T.
            fallback: T = self.generic_visit(node, *args, **kwargs)
            return fallback
        return method(node, *args, **kwargs)

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        """Visit every child of ``node``; returns ``None``. Override for a fallback value."""
        for child in iter_child_nodes(node):
            self.visit(child, *args, **kwargs)
        return None
