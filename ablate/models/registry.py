"""The model registry: every architecture is a builder function registered by name.

A builder takes keyword arguments only (the ablation knobs: activation, norm, shortcut, width,
num_classes, in_channels, ...) and returns a plain ``torch.nn.Module``. Experiments name a model and
the knobs that differ from the builder's defaults; `builder_params` lets the config validator check
those knobs before anything trains.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Literal

import torch.nn as nn

Builder = Callable[..., nn.Module]

_REGISTRY: dict[str, Builder] = {}


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want a plain sentence
        return str(self.args[0])


def register_model(name_or_fn: str | Builder | None = None):
    """Register a builder under its function name or an explicit name; a duplicate raises.

    Usage: ``@register_model`` or ``@register_model("resnet20")``.
    """

    def decorate(fn: Builder, name: str | None = None) -> Builder:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is already registered (by {_REGISTRY[key].__module__})")
        _REGISTRY[key] = fn
        return fn

    if callable(name_or_fn):
        return decorate(name_or_fn)
    return lambda fn: decorate(fn, name_or_fn)


def get_builder(name: str) -> Builder:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; valid models: {', '.join(sorted(_REGISTRY))}") from None


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model. Keyword arguments that are None are dropped, so a model keeps its
    own default unless an experiment sets the knob."""
    builder = get_builder(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    valid = builder_params(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise TypeError(f"model {name!r} has no argument(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    return builder(**kwargs)


def builder_params(name: str) -> dict[str, object]:
    """The builder's keyword arguments and their defaults (inspect.Parameter.empty if required)."""
    sig = inspect.signature(get_builder(name))
    return {p.name: p.default for p in sig.parameters.values() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def literal_choices(fn: Builder) -> dict[str, tuple]:
    """The knobs a builder annotates `Literal[...]` (or `Literal[...] | None`) and their values."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as e:  # an annotation that does not resolve is the model author's bug
        raise TypeError(f"model builder {fn.__name__!r}: annotations do not resolve: {e}") from None
    out = {}
    for param, hint in hints.items():
        if typing.get_origin(hint) is not Literal:
            args = [a for a in typing.get_args(hint) if typing.get_origin(a) is Literal]
            hint = args[0] if len(args) == 1 else None
        if hint is not None and param != "return":
            out[param] = tuple(typing.get_args(hint))
    return out


def builder_choices(name: str) -> dict[str, tuple]:
    """The valid values of a builder's knobs, checked before anything trains: knobs named
    `activation` and `norm` take the layer tables' names; a builder declares its other knobs'
    values once, as `Literal[...]` annotations (cifar_resnet's `shortcut`), or, where the values
    are computed, in a `choices` attribute (convnext_roadmap's `step`)."""
    from ablate.models.layers import ACTIVATIONS, NORMS

    params = builder_params(name)
    out = {k: tuple(v) for k, v in {"activation": ACTIVATIONS, "norm": NORMS}.items() if k in params}
    out.update(literal_choices(get_builder(name)))
    out.update(getattr(get_builder(name), "choices", {}))
    # A builder's own default is valid even where the tables lack it (LeNet's scaled tanh, relu6).
    return {k: v if params[k] in v else (params[k], *v) for k, v in out.items()}


def list_models() -> list[str]:
    return sorted(_REGISTRY)
