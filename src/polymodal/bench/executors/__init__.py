"""Executors of a benchmark: what runs its cells (``polymodal bench --executor NAME``).

=========  =====================================================================================
``local``  this process runs the cells one after the other (the default; more processes or
           machines may join through the store): :class:`polymodal.bench.runner.LocalExecutor`
``ray``    every cell is a Ray task with the spec's ``resources`` on an existing Ray cluster
           (``--address``): :class:`polymodal.bench.executors.ray_executor.RayExecutor`; needs the
           ``ray`` extra (``pip install 'polymodal[ray]'``)
=========  =====================================================================================

The protocol they follow: :class:`polymodal.bench.executor_base.Executor`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from polymodal.errors import PolymodalError

if TYPE_CHECKING:
    from polymodal.bench.executor_base import Executor

EXECUTORS = ("local", "ray")
"""Names of the executors, for ``--executor``."""


def _local(address: str | None) -> Executor:
    from polymodal.bench.runner import LocalExecutor

    return LocalExecutor()


def _ray(address: str | None) -> Executor:
    from polymodal.bench.executors.ray_executor import RayExecutor

    return RayExecutor(address=address)


_FACTORIES = {"local": _local, "ray": _ray}


def make_executor(name: str, address: str | None = None) -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`).

    Args:
        name: ``local`` or ``ray``.
        address: the Ray cluster's address (``HOST:PORT``, ``ray://HOST:10001`` or ``auto``);
            only for ``ray`` (default: ``$RAY_ADDRESS``, else ``auto``).

    Raises:
        PolymodalError: an unknown name, or an address given to the local executor.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise PolymodalError(
            f"unknown executor {name!r}", where="--executor", fix=f"use {' or '.join(EXECUTORS)}"
        )
    if address is not None and name == "local":
        raise PolymodalError(
            "--address is the Ray cluster's address; the local executor has none",
            where="--address",
            fix="add --executor ray, or leave --address out",
        )
    return factory(address)
