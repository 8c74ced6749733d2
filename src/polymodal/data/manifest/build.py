"""The ``manifest`` dataset factory: parameters checked, rows checked and decoded, splits built.

The build, in order: parameters checked (:mod:`~polymodal.data.manifest.params`), the manifest
read (:func:`~polymodal.data.manifest.readers.read_manifest`), each row's split assigned
(:func:`~polymodal.data.manifest.splits.assign_splits`), every row checked and decoded once
(:func:`~polymodal.data.manifest.rows.check_rows`), the class set and the vocabularies learnt
from the training rows, then the good rows finished into one
:class:`~polymodal.data.manifest.dataset.ManifestDataset` per split.

Errors: a :class:`~polymodal.errors.ConfigError` for invalid modality options, ``task`` or
``bad_rows``, a label with task ``none``, a labelled task without label, ``classes`` without
label; a :class:`~polymodal.errors.DataError` for an unreadable manifest, ``root`` not a folder,
missing columns, paths leaving the root, a group in two splits of the split column, bad rows
under ``bad_rows="error"``, or an unusable result (no training rows, too few classes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from polymodal.data.bundle import DataBundle
from polymodal.data.manifest.dataset import ManifestDataset, Record
from polymodal.data.manifest.derived import make_field
from polymodal.data.manifest.errors import bad_rows_error
from polymodal.data.manifest.fields import Field, TextField
from polymodal.data.manifest.groups import merge_groups
from polymodal.data.manifest.labels import Labels
from polymodal.data.manifest.options import ManifestModality, validate_modalities
from polymodal.data.manifest.params import check_choices, check_fractions, resolve_task
from polymodal.data.manifest.paths import data_root
from polymodal.data.manifest.readers import read_manifest
from polymodal.data.manifest.rows import Checked, check_columns, check_rows, optional_column
from polymodal.data.manifest.splits import assign_splits
from polymodal.data.manifest.state import check_state, fixed_classes, new_state
from polymodal.data.schema import DatasetInfo, TaskType
from polymodal.data.splits import SPLITS
from polymodal.errors import DataError
from polymodal.registry import DATASETS


@dataclass(frozen=True)
class ManifestRequest:
    """The parameters of :func:`manifest_dataset`, as given (see its docstring)."""

    seed: int
    state: dict[str, Any] | None
    path: str | Path
    modalities: dict[str, ManifestModality]
    label: str | list[str] | None
    task: TaskType | None
    classes: list[str | int] | None
    root: str | None
    id_column: str | None
    split_column: str | None
    group_column: str | None
    val_fraction: float
    test_fraction: float
    split_seed: int | None
    bad_rows: Literal["error", "skip"]
    cache_in_memory: bool
    name: str | None
    derived_cache: str | None = None


@dataclass
class _Plan:
    """What the build reads: the rows, their fields, labels and columns, task and state."""

    manifest: Path
    rows: list[dict[str, Any]]
    fields: dict[str, Field]
    labels: Labels
    task: TaskType
    state: dict[str, Any] | None
    id_column: str | None
    split_column: str | None


Reader = Callable[[Path], tuple[list[dict[str, Any]], list[str]]]
"""Reads a manifest's ``(rows, columns)`` as :func:`read_manifest` does."""


def _plan(request: ManifestRequest, read: Reader) -> _Plan:
    """Check the parameters, read the manifest, make its fields and labels, check its columns."""
    r = request
    manifest = Path(r.path)
    where = str(manifest)
    options = validate_modalities(r.modalities)
    check_choices(r.task or "multiclass", r.bad_rows)
    task = resolve_task(r.task, r.label, r.classes)
    check_fractions(r.val_fraction, r.test_fraction, where)
    state = check_state(r.state, task, where)
    rows, columns = read(manifest)
    base = data_root(manifest, r.root)
    fields = {n: make_field(n, o, base, r.derived_cache) for n, o in options.items()}
    labels = Labels(task, r.label, fixed_classes(r.classes, state, where), where)
    id_col = optional_column(r.id_column, "id", columns, "id", where)
    split_col = optional_column(r.split_column, "split", columns, "split", where)
    needed = [c for f in fields.values() for c in f.columns] + labels.columns
    check_columns(columns, needed + ([r.group_column] if r.group_column else []), where)
    return _Plan(manifest, rows, fields, labels, task, state, id_col, split_col)


def build_manifest(request: ManifestRequest, read: Reader = read_manifest) -> DataBundle:
    """The dataset :func:`manifest_dataset` describes (errors: see the module docs).

    ``read`` gives the rows of ``request.path``; another format's reader (a caption JSON, a
    saved Hugging Face dataset: :mod:`polymodal.data.formats`) builds through the same rules.
    """
    r, plan = request, _plan(request, read)
    where = str(plan.manifest)
    split_seed = r.seed if r.split_seed is None else r.split_seed
    splits = assign_splits(
        plan.rows,
        plan.split_column,
        r.val_fraction,
        r.test_fraction,
        split_seed,
        r.group_column,
        where,
    )
    checked = check_rows(
        plan.manifest,
        plan.rows,
        splits,
        plan.fields,
        plan.labels,
        plan.id_column,
        plan.split_column,
    )
    if plan.task == "generation" and r.group_column:
        checked = merge_groups(checked, r.group_column)
    if checked.bad and r.bad_rows == "error":
        raise bad_rows_error(plan.manifest, checked.bad)
    if plan.state is None and not any(rec.split == "train" for rec in checked.records):
        raise DataError(
            "no usable training rows",
            where=where,
            fix="mark some rows as train, or check the rows left out as bad",
        )
    plan.labels.learn(checked.raw_labels, where)
    _fit_tokenizers(plan.fields, checked, plan.state, where)
    by_split = _finish_records(checked, plan.fields, plan.labels, r.cache_in_memory)
    info = DatasetInfo(
        name=r.name or plan.manifest.stem,
        modalities={n: f.spec() for n, f in plan.fields.items()},
        task=plan.labels.task_spec(),
        description=f"manifest {plan.manifest} ({len(checked.records)} rows, "
        f"{len(checked.bad)} skipped)",
    )
    return DataBundle(
        info=info,
        splits={
            s: ManifestDataset(recs, plan.fields, plan.manifest) for s, recs in by_split.items()
        },
        skipped=[s for _, s in checked.bad],
        state=new_state(plan.task, plan.labels, plan.fields),
    )


def _fit_tokenizers(
    fields: dict[str, Field], checked: Checked, state: dict[str, Any] | None, where: str
) -> None:
    """Learn each text modality's vocabulary from its *training* texts, or take the state's."""
    saved = None if state is None else state.get("tokenizers", {})
    for name, f in fields.items():
        if not isinstance(f, TextField):
            continue
        texts = [
            d[name]
            for rec, d in zip(checked.records, checked.decoded, strict=True)
            if rec.split == "train" and d[name] is not None
        ]
        f.fit(texts, saved, where)


def _finish_records(
    checked: Checked, fields: dict[str, Field], labels: Labels, cache: bool
) -> dict[str, list[Record]]:
    """Targets, and preprocessed inputs when cached, of the good rows, by split."""
    by_split: dict[str, list[Record]] = {s: [] for s in SPLITS}
    for record, raw_label, decoded in zip(
        checked.records, checked.raw_labels, checked.decoded, strict=True
    ):
        record.target = labels.target(raw_label)
        if labels.task == "generation":
            record.references = raw_label
        if cache:
            record.inputs = {
                n: None if v is None else fields[n].finish(v) for n, v in decoded.items()
            }
            record.row = {}  # not needed again
        by_split[record.split].append(record)
    return by_split


@DATASETS.register("manifest")
def manifest_dataset(
    *,
    seed: int,
    state: dict[str, Any] | None = None,
    path: str | Path,
    modalities: dict[str, ManifestModality],
    label: str | list[str] | None,
    task: TaskType | None = None,
    classes: list[str | int] | None = None,
    root: str | None = None,
    id_column: str | None = "id",
    split_column: str | None = "split",
    group_column: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int | None = None,
    bad_rows: Literal["error", "skip"] = "error",
    cache_in_memory: bool = True,
    name: str | None = None,
    derived_cache: str | None = None,
) -> DataBundle:
    """A dataset from a JSONL, CSV or Parquet manifest (rules: :mod:`polymodal.data.manifest`).

    Args:
        seed: seed of the random split (unless ``split_seed`` is given). Injected.
        state: ``DataBundle.state`` of an earlier build: reuse its class names and vocabularies.
        path: the manifest file (``.jsonl``, ``.ndjson``, ``.csv`` or ``.parquet``).
        modalities: modality name -> :class:`ManifestModality` (kind, column, options).
        label: the label column, or several (multilabel flags, regression targets); None: an
            unlabelled dataset (task ``none``: targets are None). Task ``generation``: the
            column of reference texts (:mod:`polymodal.data.manifest.references`).
        task: ``multiclass``, ``multilabel``, ``regression``, ``generation`` or ``none``;
            None (default):
            ``multiclass`` with a label, ``none`` without.
        classes: a fixed class set (multiclass, or multilabel from names); rows with another
            label are bad rows. Default: every label seen in the good rows, sorted.
        root: the folder paths in cells resolve against and must stay inside (a relative root
            is relative to the manifest's folder). None: the manifest's folder.
        id_column, split_column: columns of unique ids and of split names; when the default
            (``id``, ``split``) is absent (or None), ids are row numbers, splits random.
        group_column: rows sharing its value land in one split; random fractions count groups.
            Task ``generation``: a group's rows are one sample, their texts its references.
        val_fraction, test_fraction: share of rows (groups) in the random val / test splits
            (``val_fraction`` also sizes a val split carved out of train). 0: an empty split.
        split_seed: seed of the random split; None uses ``seed``.
        bad_rows: ``error`` (raise, listing bad rows) or ``skip`` (leave them out, recorded).
        cache_in_memory: keep preprocessed samples in memory; False decodes on each access.
        name: the dataset's name (default: the manifest's file name without suffix).
        derived_cache: the folder where values of ``derive:`` modalities are cached by content
            (:mod:`polymodal.data.derive`); None computes them for this build only.

    Returns a :class:`DataBundle` of ``train``, ``val`` and ``test`` :class:`ManifestDataset`;
    raises ConfigError or DataError (see :mod:`polymodal.data.manifest.build`).
    """
    request = ManifestRequest(**locals())  # exactly the parameters above
    return build_manifest(request)
