"""The namespace part of a webhook subscription's key, as SQL: the expression the namespace
lists filter on and migration 0015's index `ix_webhook_subscriptions_namespace_created` holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import String


class _KeyNamespace(ColumnElement[str]):
    inherit_cache = False
    type = String()

    def __init__(self, key: Any) -> None:
        self.source = key


@compiles(_KeyNamespace)
def _compile_namespace(element: _KeyNamespace, compiler: Any, **kw: Any) -> str:
    key = compiler.process(element.source, **kw)
    if compiler.dialect.name == "sqlite":
        return f"substr({key}, 1, instr({key} || '/', '/') - 1)"
    return f"split_part({key}, '/', 1)"


def key_namespace(key: Any) -> ColumnElement[str]:
    """The namespace of a "namespace/name" or "namespace" key: the text before its first "/",
    as migration 0015's index `ix_webhook_subscriptions_namespace_created` writes it."""
    return _KeyNamespace(key)
