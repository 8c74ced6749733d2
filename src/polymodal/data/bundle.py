"""What a dataset factory returns (:class:`DataBundle`) and what it is (:class:`DatasetFactory`).

The whole contract, with an example: :mod:`polymodal.data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from torch.utils.data import Dataset

from polymodal.data.schema import DatasetInfo, Sample


@dataclass(frozen=True)
class SkippedRow:
    """A row left out under the ``skip`` bad-row policy, with its reason: nothing drops silently.

    Attributes:
        id: the row's id (or ``row <n>`` when it has none).
        split: the split the row belonged to, when known.
        field: the column or modality that failed.
        reason: what was wrong, in words.
        path: the file concerned, when there is one.
    """

    id: str
    split: str | None
    field: str
    reason: str
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "split": self.split,
            "field": self.field,
            "reason": self.reason,
            "path": self.path,
        }


@dataclass
class DataBundle:
    """A built dataset.

    Attributes:
        info: modalities and task.
        splits: split name (``train``, ``val``, ``test``) -> a map-style dataset of :class:`Sample`.
        skipped: rows skipped under the ``skip`` policy.
        state: JSON-serialisable preprocessing state learnt from the training split (e.g. a
            tokenizer vocabulary); passing it back to the builder reproduces the same preprocessing.
    """

    info: DatasetInfo
    splits: dict[str, Dataset[Sample]]
    skipped: list[SkippedRow] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


class ListDataset(Dataset[Sample]):
    """A map-style dataset over a list of ready samples."""

    def __init__(self, samples: list[Sample]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]


class DatasetFactory(Protocol):
    """A dataset factory, registered in ``polymodal.registry.DATASETS`` (see :mod:`polymodal.data`).

    Called with keyword arguments only: ``seed`` (the run's seed; every random choice follows
    from it), ``state`` (None on a first build, else the :attr:`DataBundle.state` of an earlier
    build, to reuse instead of learning again) and the ``data:`` section's other keys.
    Returns a :class:`DataBundle` whose splits hold :class:`~polymodal.data.schema.Sample` with
    the per-kind layouts of :mod:`polymodal.data.schema` (audio: log-mel ``[T, M]``).
    """

    def __call__(
        self, *, seed: int, state: dict[str, Any] | None = None, **params: Any
    ) -> DataBundle: ...
