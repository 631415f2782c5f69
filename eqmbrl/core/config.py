"""Typed Hydra schemas generated from the signatures of the classes they build.

Each config group's YAML files pull in their schema (``- /schema@_here_: NAME``, see
:func:`register`); the schema is a dataclass made from the ``_target_``'s typed signature, so
defaults live only in the signature, and an unknown key or a value of the wrong type fails at
start with OmegaConf's message naming the key.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Optional, cast

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf, ValidationError

_SIMPLE = (int, float, str, bool)


def _field_type(tp: Any) -> Any:
    """Map an annotation to one OmegaConf accepts (``X | None`` -> Optional[X], others -> Any)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and type(None) in args:
            return Optional[_field_type(rest[0])]  # noqa: UP045 (OmegaConf needs typing.Optional)
        return Any
    if tp in _SIMPLE:
        return tp
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        inner = args[0] if args and args[0] in _SIMPLE else Any
        return list[inner]  # type: ignore[valid-type]
    if origin is dict or tp is dict:
        return dict[str, Any]
    return Any


def _is_dict(tp: Any) -> bool:
    """Whether the annotation is ``dict[...]`` or ``dict[...] | None``."""
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    rest = [a for a in (typing.get_args(tp) if union else (tp,)) if a is not type(None)]
    return len(rest) == 1 and dict in (rest[0], typing.get_origin(rest[0]))


def schema(target: Callable[..., Any], exclude: tuple[str, ...] = ()) -> type:
    """A dataclass with ``_target_`` and one field per parameter of ``target`` not in ``exclude``;
    parameters without a default are mandatory (``???``) in the config."""
    hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
    fields: list[tuple[str, Any, Any]] = [("_target_", str, f"{target.__module__}.{target.__qualname__}")]
    for name, p in inspect.signature(target).parameters.items():
        if name in exclude or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = MISSING if p.default is inspect.Parameter.empty else p.default
        if dataclasses.is_dataclass(target):  # a settings class: its fields' defaults (factories called)
            f = next(f for f in dataclasses.fields(target) if f.name == name)
            factory = f.default_factory
            default = f.default if factory is dataclasses.MISSING else factory()
            default = MISSING if default is dataclasses.MISSING else default
        default = list(default) if isinstance(default, tuple) else default
        if default is None and _is_dict(hints.get(name, Any)):
            default = {}  # an empty node, so that `key.sub=value` overrides merge (None would not)
        fields.append(
            (
                name,
                _field_type(hints.get(name, Any)),
                dataclasses.field(default_factory=cast(Callable[[], Any], lambda d=default: d))
                if isinstance(default, (list, dict))
                else default,
            )
        )
    return dataclasses.make_dataclass(f"{target.__name__}Config", fields)


def checked_kwargs(target: Callable[..., Any], kwargs: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``kwargs`` for ``target`` checked against its typed signature: an unknown key or a value of the
    wrong type is a one-line ``ValueError`` naming ``prefix.key`` (and the keys allowed); values are
    converted as OmegaConf converts them (``"64"`` for an int becomes 64)."""
    allowed = [n for n in inspect.signature(target).parameters if n != "self"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {prefix}.{unknown[0]}; allowed: {', '.join(allowed)}")
    node = OmegaConf.structured(schema(target))
    out = {}
    for key, value in kwargs.items():
        try:
            node[key] = value
        except ValidationError as exc:
            hint = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target).get(key, Any)
            raise ValueError(f"{prefix}.{key}={value!r}: expected {getattr(hint, '__name__', hint)}") from exc
        out[key] = OmegaConf.to_object(node[key]) if OmegaConf.is_config(node[key]) else node[key]
    return out


@dataclasses.dataclass
class EnvConfig:
    """Which gymnasium env to make: ``gymnasium.make(id, **kwargs)``. An env config sets the
    world-model options that suit the domain under ``worldmodel.*`` (``# @package _global_``), so
    the command line still overrides them."""

    id: str = "eqmbrl/BlockPushing-cubes-v0"
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


def register(schemas: dict[str, Callable[..., Any]], derived: dict[str, tuple[str, ...]]) -> None:
    """Store the schema of each ``key`` (``"worldmodel"``, ``"agent/mpc"``, ...) in the config store
    as option ``key`` with ``/`` -> ``_`` of the group ``schema``, apart from the user-facing groups
    (so ``worldmodel=`` lists only real choices); YAML files pull one in with
    ``- /schema@_here_: agent_mpc``. ``derived[key]`` names the parameters run.py passes itself."""
    cs = ConfigStore.instance()
    for key, target in schemas.items():
        cs.store(group="schema", name=key.replace("/", "_"), node=schema(target, derived.get(key, ())))
