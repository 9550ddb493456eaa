"""The model registry: every architecture is registered by name, its knobs read from its signature.

A family is one general class (or builder function) whose keyword arguments are the ablation knobs
(activation, norm, shortcut, width, num_classes, in_channels, ...), declared once with their
defaults. A variant such as `resnet50` or `vgg16_bn` is that class with some constructor arguments
fixed (timm's `model_args`: the depth, the stage layout) and perhaps a default changed; the fixed
arguments are not knobs. Experiments name a model and the knobs that differ from its defaults;
`builder_params` lets the config validator check those knobs before anything trains.

    register_model("kernel_net")(KernelNet)             # a class: its __init__ keywords are the knobs
    register_model(densenet121)                         # a builder function: its keywords
    register_variant("vgg16_bn", VGG, "VGG-16 ...", fixed={"depth": 16}, defaults={"norm": "batch"})
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Literal

import torch.nn as nn

from ablate.models.layers import ACTIVATIONS, NORMS

Builder = Callable[..., nn.Module]


class Variant:
    """A registered model: `target` (a model class or a builder function) called with `fixed`
    constructor arguments. Its knobs are `target`'s other keyword arguments, with `defaults`
    replacing some of their defaults; `inspect.signature` of a Variant shows exactly those."""

    def __init__(self, name: str, target: Builder, doc: str, fixed: dict, defaults: dict):
        sig = inspect.signature(target)
        unknown = sorted((set(fixed) | set(defaults)) - set(sig.parameters))
        if unknown:
            raise TypeError(f"model {name!r}: {target.__name__} has no argument(s) {', '.join(unknown)}")
        params = [
            p.replace(default=defaults.get(p.name, p.default)) for p in sig.parameters.values() if p.name not in fixed
        ]
        self.target, self.fixed, self.defaults = target, dict(fixed), dict(defaults)
        self.__signature__ = sig.replace(parameters=params)
        self.__name__, self.__doc__, self.__module__ = name, doc, target.__module__
        self.choices = getattr(target, "choices", {})

    def __call__(self, **knobs) -> nn.Module:
        return self.target(**self.fixed, **{**self.defaults, **knobs})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in {**self.fixed, **self.defaults}.items())
        return f"<model {self.__name__}: {self.target.__name__}({args})>"


_REGISTRY: dict[str, Builder] = {}


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want a plain sentence
        return str(self.args[0])


def _add(key: str, builder: Builder) -> None:
    if key in _REGISTRY:
        raise ValueError(f"model {key!r} is already registered (by {_REGISTRY[key].__module__})")
    _REGISTRY[key] = builder


def register_model(name_or_fn: str | Builder | None = None):
    """Register a builder function or a model class under its own name or an explicit one; a
    duplicate raises. Usage: ``@register_model`` or ``@register_model("kernel_net")``."""

    def decorate(fn: Builder, name: str | None = None) -> Builder:
        _add(name or fn.__name__, fn)
        return fn

    if callable(name_or_fn):
        return decorate(name_or_fn)
    return lambda fn: decorate(fn, name_or_fn)


def register_variant(
    name: str, target: Builder, doc: str, fixed: dict | None = None, defaults: dict | None = None
) -> Variant:
    """Register `target` with the constructor arguments `fixed` (no longer knobs) and the knob
    defaults `defaults` changed; `doc` cites the paper."""
    variant = Variant(name, target, doc, fixed or {}, defaults or {})
    _add(name, variant)
    return variant


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
    """The model's knobs and their defaults (inspect.Parameter.empty if required)."""
    sig = inspect.signature(get_builder(name))
    return {p.name: p.default for p in sig.parameters.values() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def literal_choices(fn: Builder) -> dict[str, tuple]:
    """The knobs a builder or model class annotates `Literal[...]` (or `Literal[...] | None`) and
    their values."""
    target = fn.target if isinstance(fn, Variant) else fn
    annotated = target.__init__ if isinstance(target, type) else target
    try:
        hints = typing.get_type_hints(annotated)
    except Exception as e:  # an annotation that does not resolve is the model author's bug
        raise TypeError(f"model builder {fn.__name__!r}: annotations do not resolve: {e}") from None
    knobs = inspect.signature(fn).parameters
    out = {}
    for param, hint in hints.items():
        if typing.get_origin(hint) is not Literal:
            args = [a for a in typing.get_args(hint) if typing.get_origin(a) is Literal]
            hint = args[0] if len(args) == 1 else None
        if hint is not None and param in knobs:
            out[param] = tuple(typing.get_args(hint))
    return out


def builder_choices(name: str) -> dict[str, tuple]:
    """The valid values of a model's knobs, checked before anything trains: knobs named
    `activation` and `norm` take the layer tables' names; a family declares its other knobs'
    values once, as `Literal[...]` annotations (cifar_resnet's `shortcut`), or, where the values
    are computed, in a `choices` attribute (convnext_roadmap's `step`)."""

    params = builder_params(name)
    out = {k: tuple(v) for k, v in {"activation": ACTIVATIONS, "norm": NORMS}.items() if k in params}
    out.update(literal_choices(get_builder(name)))
    out.update({k: v for k, v in getattr(get_builder(name), "choices", {}).items() if k in params})
    # A model's own default is valid even where the tables lack it (LeNet's scaled tanh, relu6).
    return {k: v if params[k] in v else (params[k], *v) for k, v in out.items()}


def list_models() -> list[str]:
    return sorted(_REGISTRY)
