"""One registry per component kind, filled by decorator registration.

Usage::

    from polymodal.registry import FUSIONS

    @FUSIONS.register("concat")
    class ConcatFusion(nn.Module): ...

    FUSIONS.names()                      # ['concat', ...]
    FUSIONS.create("concat", in_dims=..., task=..., hidden_dim=64)

A registry imports every module of its package (``polymodal.fusion`` for fusions) the first time
it is asked for a name, so adding a component is one new file: nothing central changes.
Factories take *injected* arguments (built by polymodal: the modality spec, input widths, the task)
plus user parameters from the config; :meth:`Registry.params_model` turns the user parameters of a
factory's signature into a pydantic model so configs are validated before anything is built.

Parameter ranges are annotations of the signature, not checks in the body: ``out_dim: Positive``
(an ``int >= 1``), ``rounds: NonNegative``, ``dropout: Dropout`` (a probability in ``[0, 1)``),
or any ``Annotated[T, pydantic.Field(...)]``. A config with a value out of range is reported at
its YAML path (``model.fusion.hidden_dim: Input should be greater than or equal to 1 (got 0)``)
and :meth:`Registry.create` checks the same for components built in Python.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

import pydantic

from polymodal.errors import ConfigError, UnknownComponentError

T = TypeVar("T", bound=Callable[..., Any])

Positive = Annotated[int, pydantic.Field(ge=1)]
"""A width, a count of layers, heads or steps: an integer >= 1."""

NonNegative = Annotated[int, pydantic.Field(ge=0)]
"""A count that may be zero (e.g. message-passing rounds): an integer >= 0."""

Dropout = Annotated[float, pydantic.Field(ge=0.0, lt=1.0)]
"""A dropout probability in ``[0, 1)``."""


@dataclass(frozen=True)
class Entry:
    """A registered component: its factory and free-form metadata (e.g. ``higher_is_better``)."""

    name: str
    factory: Callable[..., Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.factory) or ""
        return doc.splitlines()[0] if doc else ""


class Registry(Generic[T]):
    """Named factories of one component kind.

    Args:
        kind: human name of the kind, used in messages ("fusion", "encoder").
        packages: dotted packages (every module under them) or modules imported to fill the
            registry the first time it is used.
        injected: parameter names that polymodal passes itself; they are not user parameters.
        checked: whether :meth:`create` validates the user parameters against the factory's
            signature (model components: encoders, interactions, fusions, heads).
    """

    def __init__(
        self,
        kind: str,
        packages: tuple[str, ...] = (),
        injected: tuple[str, ...] = (),
        *,
        checked: bool = False,
    ):
        self.kind = kind
        self.packages = packages
        self.injected = frozenset(injected)
        self.checked = checked
        self._entries: dict[str, Entry] = {}
        self._models: dict[str, tuple[Callable[..., Any], type[pydantic.BaseModel]]] = {}
        self._loaded = not packages

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator registering a class or function under ``name``."""

        def decorator(factory: T) -> T:
            if name in self._entries and self._entries[name].factory is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = Entry(name, factory, dict(meta))
            return factory

        return decorator

    def _load(self) -> None:
        if self._loaded:
            return
        for package in self.packages:
            module = importlib.import_module(package)
            paths = getattr(module, "__path__", [])  # a plain module has no submodules
            for info in pkgutil.walk_packages(paths, prefix=f"{package}."):
                if not info.name.rsplit(".", 1)[-1].startswith("_"):
                    importlib.import_module(info.name)
        self._loaded = True  # only once every module imported: a broken one fails loudly

    def names(self) -> list[str]:
        """Sorted names of every registered component."""
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def entry(self, name: str) -> Entry:
        """The entry of ``name``; an unknown name raises an error listing the known ones."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownComponentError(self.kind, name, self.names()) from None

    def get(self, name: str) -> Callable[..., Any]:
        """The factory registered as ``name``."""
        return self.entry(name).factory

    def create(self, name: str, /, **kwargs: Any) -> Any:
        """Build component ``name`` with injected arguments and user parameters.

        In a ``checked`` registry the user parameters are validated against the factory's
        signature first (types and the ranges of its annotations), unknown ones included.

        Raises:
            ConfigError: every invalid user parameter, as ``kind 'name': key: problem``.
        """
        factory = self.get(name)
        if not self.checked:
            return factory(**kwargs)
        user = {k: v for k, v in kwargs.items() if k not in self.injected}
        try:
            checked = self.params_model(name).model_validate(user)
        except pydantic.ValidationError as exc:
            raise ConfigError(
                [f"{self.kind} {name!r}: {_problem(err)}" for err in exc.errors()],
                source=f"{self.kind} {name!r}",
            ) from None
        return factory(**{**kwargs, **{k: getattr(checked, k) for k in user}})

    def params_model(self, name: str) -> type[pydantic.BaseModel]:
        """A pydantic model of the user parameters of ``name``'s factory; unknown keys forbidden.

        Each field keeps its annotation's constraints (``Annotated[int, Field(ge=1)]``).
        """
        factory = self.get(name)
        cached = self._models.get(name)
        if cached is not None and cached[0] is factory:
            return cached[1]
        model = self._build_params_model(name, factory)
        self._models[name] = (factory, model)
        return model

    def _build_params_model(
        self, name: str, factory: Callable[..., Any]
    ) -> type[pydantic.BaseModel]:
        target = factory.__init__ if inspect.isclass(factory) else factory
        sig = inspect.signature(target)
        try:
            hints = typing.get_type_hints(target, include_extras=True)
        except Exception:  # unresolvable annotation: validate loosely rather than fail
            hints = {}
        fields: dict[str, Any] = {}
        for pname, param in sig.parameters.items():
            if pname in ("self", "cls") or pname in self.injected:
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            annotation = hints.get(pname, Any)
            default = ... if param.default is param.empty else param.default
            fields[pname] = (annotation, default)
        config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)
        return pydantic.create_model(f"{self.kind}:{name}", __config__=config, **fields)


def _problem(err: Any) -> str:
    """One pydantic error as ``key: message (got value)``."""
    loc = ".".join(str(p) for p in err["loc"]) or "(parameters)"
    got = "" if err["type"] in ("missing", "extra_forbidden") else f" (got {err['input']!r})"
    return f"{loc}: {err['msg']}{got}"


ENCODERS: Registry[Any] = Registry(
    "encoder", ("polymodal.encoders",), injected=("spec",), checked=True
)
INTERACTIONS: Registry[Any] = Registry(
    "interaction", ("polymodal.interaction",), injected=("in_dims",), checked=True
)
FUSIONS: Registry[Any] = Registry(
    "fusion", ("polymodal.fusion",), injected=("in_dims", "task"), checked=True
)
HEADS: Registry[Any] = Registry(
    "head", ("polymodal.heads",), injected=("in_dim", "task"), checked=True
)
DECODERS: Registry[Any] = Registry(
    "decoder", ("polymodal.decoders",), injected=("memory_dim", "vocab_size"), checked=True
)
DATASETS: Registry[Any] = Registry(
    "dataset",
    ("polymodal.data.builtin", "polymodal.data.manifest", "polymodal.data.formats"),
    injected=("seed", "state"),
)
METRICS: Registry[Any] = Registry("metric", ("polymodal.evaluate.metrics",))
OBJECTIVES: Registry[Any] = Registry("objective", ("polymodal.objectives",), injected=("towers",))

ALL_REGISTRIES: dict[str, Registry[Any]] = {
    "encoder": ENCODERS,
    "interaction": INTERACTIONS,
    "fusion": FUSIONS,
    "head": HEADS,
    "decoder": DECODERS,
    "dataset": DATASETS,
    "metric": METRICS,
    "objective": OBJECTIVES,
}
