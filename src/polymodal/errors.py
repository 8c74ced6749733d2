"""Errors a user can act on.

Every error that reaches a user says *what* went wrong, *where* (file, row, field) and *how to fix
it*. The CLI prints ``str(error)`` and exits with code 2; ``--debug`` adds the traceback.
"""

from __future__ import annotations


class PolymodalError(Exception):
    """Base class of every error polymodal raises on purpose.

    Args:
        what: one sentence saying what went wrong.
        where: the file, row, field or YAML path concerned (optional).
        fix: what the user can do about it (optional).
    """

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [self.what if self.where is None else f"{self.where}: {self.what}"]
        if self.fix:
            parts.append(f"fix: {self.fix}")
        return "\n".join(parts)


class ConfigError(PolymodalError):
    """A configuration file or override is invalid. ``problems`` lists every problem found."""

    def __init__(self, problems: list[str], *, source: str = "<config>") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(
            f"invalid configuration ({len(self.problems)} {noun}):\n{lines}",
            where=source,
            fix="edit the file or the key=value override named above",
        )


class UnknownComponentError(PolymodalError, KeyError):
    """A name was looked up in a registry that does not know it."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        PolymodalError.__init__(
            self,
            f"unknown {kind} {name!r}",
            fix=f"use one of: {', '.join(known) if known else '(none registered)'}",
        )

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self._format()


class DataError(PolymodalError):
    """A dataset, manifest row or file cannot be used."""


class CheckpointError(PolymodalError):
    """A checkpoint is missing, corrupt, or not in the safe format."""
