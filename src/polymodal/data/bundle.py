"""What a dataset builder returns: splits, the dataset's description, skipped rows and state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
