"""Checking a component's constructor parameters, every problem reported at once."""

from __future__ import annotations

from polymodal.errors import ConfigError


def check_params(component: str, **checks: tuple[bool, str]) -> None:
    """Raise one :class:`ConfigError` listing every failed parameter check of ``component``.

    Each keyword is a parameter name mapped to ``(ok, requirement)``, e.g.
    ``check_params("fusion 'tensor'", proj_dim=(proj_dim >= 1, "must be >= 1"))``.
    """
    problems = [f"{component}: {name} {need}" for name, (ok, need) in checks.items() if not ok]
    if problems:
        raise ConfigError(problems, source=component)
