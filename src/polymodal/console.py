"""What reaches the console: polymodal's own messages, and not the libraries' chatter.

Nothing here acts on import. The ``polymodal`` command calls :func:`log_to_stderr` when it
starts; :func:`polymodal.train.run.train` runs Lightning inside :func:`quiet_lightning`; the
CPU memory measurement runs torch's profiler inside :func:`filtered_native_stderr`. Each
change is undone when its block ends, so a program that imports polymodal keeps its own
logging and warnings set-up.

Set the ``polymodal`` logger to DEBUG (``polymodal --debug``, or
``logging.getLogger("polymodal").setLevel(logging.DEBUG)``) to see Lightning's lines again.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

LOGGER_NAME = "polymodal"

LIGHTNING_LOGGERS = (
    "lightning.pytorch",
    "lightning.fabric",
    "pytorch_lightning",
    "lightning_fabric",
)
"""Loggers of Lightning's info lines (accelerator found, tips about its cloud products)."""

LIGHTNING_WARNINGS = (
    # a deprecation inside Lightning's own code: nothing a user can act on
    r".*isinstance\(treespec, LeafSpec\).*",
    # polymodal's loaders choose their workers (``train.num_workers``)
    r".*does not have many workers.*",
    # no validation split: BestWeights logs the rule that applies instead (last epoch kept)
    r".*defined a `validation_step` but have no `val_dataloader`.*",
    # small datasets: fewer steps per epoch than Lightning's logging interval
    r".*smaller than the logging interval.*",
)
"""Messages of the warnings Lightning emits on ordinary polymodal runs."""

KINETO_LINE = re.compile(r"^(USDT|STAGE|INFO):\S+ \S+ \d+:\d+ \w+\.cpp:\d+\] ")
"""A line of torch profiler's (kineto's) own log, e.g.
``USDT:2026-01-01 00:00:00 123:123 SyncActivityProfilerHandler.cpp:52] profiler_start``."""


def log_to_stderr(level: int = logging.INFO) -> logging.Logger:
    """Show the ``polymodal`` logger's messages (``level`` and up) on stderr, one handler added
    once, not passed on to the root logger. Returns the logger. For programs that want
    polymodal's progress messages; a library user may configure logging instead."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(getattr(h, "_polymodal", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._polymodal = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    return logger


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """During the block, Lightning's info lines (its loggers at WARNING) and the warnings of
    :data:`LIGHTNING_WARNINGS` are not shown; both are restored after it. Does nothing while
    the ``polymodal`` logger is at DEBUG.

    Enter it after Lightning is imported: its import sets its loggers' levels.
    """
    if logging.getLogger(LOGGER_NAME).isEnabledFor(logging.DEBUG):
        yield
        return
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in LIGHTNING_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def filtered_native_stderr(drop: re.Pattern[str] = KINETO_LINE) -> Iterator[None]:
    """Hold back what is written to file descriptor 2 during the block (native libraries such
    as torch's profiler write there directly, past ``sys.stderr``), then write it again without
    the lines that match ``drop``. Nothing else is lost; it only comes after the block.
    Does nothing while the ``polymodal`` logger is at DEBUG."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a daemon): nothing to filter
        saved = None
    if saved is None or logging.getLogger(LOGGER_NAME).isEnabledFor(logging.DEBUG):
        if saved is not None:
            os.close(saved)
        yield
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not drop.match(line))
            if kept:
                os.write(2, kept.encode("utf-8"))
