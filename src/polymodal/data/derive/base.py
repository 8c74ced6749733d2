"""The deriver contract and its registry: a function from one modality's raw value to another's.

A :class:`Deriver` reads one raw value of a *source* kind (today ``audio``: a mono waveform
``[L]`` at its ``sample_rate``) and returns the value of its *output* kind (today ``text``: a
string), deterministically: the same identity and the same input give the same output, which is
what lets :mod:`polymodal.data.derive.cache` store it once under a content key.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from torch import Tensor

from polymodal.errors import ConfigError, UnknownComponentError
from polymodal.registry import Registry

SourceKind = Literal["audio"]
OutputKind = Literal["text"]


@runtime_checkable
class Deriver(Protocol):
    """Computes a derived modality's value from a source modality's raw value.

    Attributes:
        name: the registered name (``asr``).
        source_kind: what it reads: ``audio`` = a float32 mono waveform ``[L]`` at
            ``sample_rate`` Hz (a sound file, or a video file's audio track).
        output_kind: what it returns: ``text`` = one string.
        sample_rate: Hz of the waveform it reads.
    """

    name: str
    source_kind: SourceKind
    output_kind: OutputKind
    sample_rate: int

    def identity(self) -> dict[str, Any]:
        """JSON-like description of everything that decides the output (name, options, a
        digest of the weights): the cache key covers it."""
        ...

    def __call__(self, value: Tensor) -> Any:
        """The derived value of one raw source value."""
        ...


DERIVERS: Registry[Any] = Registry("deriver", ("polymodal.data.derive",), checked=True)
"""Derivers by name; a factory takes the user's parameters of ``derive:`` (all but ``name``)."""


def build_deriver(spec: dict[str, Any], where: str) -> Deriver:
    """The deriver a ``derive:`` mapping names (``{name: asr, model: ..., ...}``).

    Raises:
        ConfigError: no ``name``, an unknown deriver (listing the known ones) or parameters its
            factory does not accept, each at ``<where>.derive``.
    """
    params = dict(spec)
    name = params.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError([f"{where}.derive: give name: <deriver> (one of: {_known()})"])
    try:
        return DERIVERS.create(name, **params)
    except UnknownComponentError:
        raise ConfigError(
            [f"{where}.derive.name: unknown deriver {name!r}; use one of: {_known()}"]
        ) from None
    except ConfigError as err:
        raise ConfigError([f"{where}.derive: {p}" for p in err.problems]) from None


def _known() -> str:
    return ", ".join(DERIVERS.names())
