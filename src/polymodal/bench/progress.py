"""What ``polymodal bench`` shows while it runs: cells done / total and the current cell's training.

On a terminal it is a compact rich display (one bar for the cells, one for the current cell's
training steps, with its epoch); elsewhere (a log file, a pipe, a test) it prints one plain line
when a cell starts and one when it ends. :class:`TrainingProgress` is the Lightning callback that
feeds the current cell's steps and epochs to the display.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class BenchProgress:
    """Console display of a benchmark run.

    Args:
        total: number of cells in the benchmark.
        console: where to draw (default: standard output); a console that is not a terminal
            gets plain lines.
        live: force the rich display on (True) or off (False); default: on for a terminal.

    Use as a context manager; call :meth:`cell_started`, :meth:`training` (through
    :class:`TrainingProgress`) and :meth:`cell_finished`.
    """

    def __init__(self, total: int, *, console: Console | None = None, live: bool | None = None):
        self.total = total
        self.console = console or Console()
        self.live = self.console.is_terminal if live is None else live
        self._progress: Progress | None = None
        self._cells: TaskID | None = None
        self._train: TaskID | None = None
        self._label = ""

    def __enter__(self) -> BenchProgress:
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._cells = self._progress.add_task("cells done", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def note(self, message: str) -> None:
        """A line above the display (or a plain line)."""
        self.console.print(message, highlight=False, markup=False, soft_wrap=True)

    def cell_started(self, label: str, number: int, done: int) -> None:
        """Cell ``number`` (1-based, in benchmark order) starts; ``done`` cells are finished."""
        self._label = label
        if self._progress is None:
            self.note(f"[{number}/{self.total}] {label}: training ...")
            return
        assert self._cells is not None
        self._progress.update(self._cells, completed=done)
        if self._train is not None:
            self._progress.remove_task(self._train)
        self._train = self._progress.add_task(f"  {label}", total=None)

    def training(self, epoch: int, max_epochs: int, step: int, steps: int | None) -> None:
        """The current cell is at ``step`` of ``steps`` (all epochs), in 0-based ``epoch``."""
        if self._progress is None or self._train is None:
            return
        self._progress.update(
            self._train,
            completed=step,
            total=steps,
            description=f"  {self._label} epoch {epoch + 1}/{max_epochs}",
        )

    def cell_finished(self, label: str, number: int, message: str, done: int) -> None:
        """Cell ``number`` ended (``message``: its result or error); ``done`` cells finished."""
        if self._progress is not None and self._cells is not None:
            self._progress.update(self._cells, completed=done)
            if self._train is not None:
                self._progress.remove_task(self._train)
                self._train = None
        self.note(f"[{number}/{self.total}] {label}: {message}")


class TrainingProgress(L.Callback):
    """Lightning callback reporting training steps and epochs to a :class:`BenchProgress`."""

    def __init__(self, display: BenchProgress) -> None:
        self.display = display
        self._steps: int | None = None
        self._step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        batches = trainer.num_training_batches
        finite = isinstance(batches, int) and batches < float("inf")
        self._steps = int(batches) * int(trainer.max_epochs or 1) if finite else None
        self._step = 0
        self.display.training(0, int(trainer.max_epochs or 1), 0, self._steps)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        self._step += 1
        epochs = int(trainer.max_epochs or 1)
        self.display.training(trainer.current_epoch, epochs, self._step, self._steps)
