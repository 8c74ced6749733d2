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
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pydantic

from polymodal.errors import UnknownComponentError

T = TypeVar("T", bound=Callable[..., Any])


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
    """

    def __init__(self, kind: str, packages: tuple[str, ...] = (), injected: tuple[str, ...] = ()):
        self.kind = kind
        self.packages = packages
        self.injected = frozenset(injected)
        self._entries: dict[str, Entry] = {}
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
        """Build component ``name`` with injected arguments and user parameters."""
        return self.get(name)(**kwargs)

    def params_model(self, name: str) -> type[pydantic.BaseModel]:
        """A pydantic model of the user parameters of ``name``'s factory; unknown keys forbidden."""
        factory = self.get(name)
        target = factory.__init__ if inspect.isclass(factory) else factory
        sig = inspect.signature(target)
        try:
            hints = typing.get_type_hints(target)
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


ENCODERS: Registry[Any] = Registry("encoder", ("polymodal.encoders",), injected=("spec",))
INTERACTIONS: Registry[Any] = Registry(
    "interaction", ("polymodal.interaction",), injected=("in_dims",)
)
FUSIONS: Registry[Any] = Registry("fusion", ("polymodal.fusion",), injected=("in_dims", "task"))
HEADS: Registry[Any] = Registry("head", ("polymodal.heads",), injected=("in_dim", "task"))
DATASETS: Registry[Any] = Registry(
    "dataset",
    ("polymodal.data.builtin", "polymodal.data.manifest"),
    injected=("seed", "state"),
)
METRICS: Registry[Any] = Registry("metric", ("polymodal.evaluate.metrics",))
OBJECTIVES: Registry[Any] = Registry("objective", ("polymodal.objectives",), injected=("towers",))

ALL_REGISTRIES: dict[str, Registry[Any]] = {
    "encoder": ENCODERS,
    "interaction": INTERACTIONS,
    "fusion": FUSIONS,
    "head": HEADS,
    "dataset": DATASETS,
    "metric": METRICS,
    "objective": OBJECTIVES,
}
