"""``caption-summary``: a photo and some of its captions in, one sentence out (``generation``).

Multimodal summarisation on a captions file (one row per caption, e.g. Flickr8k-1k's
``captions.csv``: ``image,caption``). Each photo is one sample:

- its captions (file order) are split by :func:`choose_inputs`: ``inputs`` of them (default 3)
  are the *input* captions, the others (Flickr8k: 2) the *references*. The choice is a seeded
  permutation of the photo's captions, the seed drawn from sha256 of ``"{choice_seed}:{photo}"``,
  so it depends on the photo and ``choice_seed`` only (not on the file order of the photos, the
  split or the run's seed); the input captions keep the permutation's order, the references
  keep file order. A reference text is never an input text: a caption whose exact text is also
  chosen as an input is left out of the references (a photo left with none is an error);
- the input captions, joined by ``separator`` (default ``" | "``), are the text column
  ``captions``; the photo is the column ``image``; ``id`` is the photo's file name.

Rows are then built by the manifest's rules (:mod:`polymodal.data.manifest`): ``modalities``
maps modality names to the columns ``image`` / ``captions`` (a config that names only one of
them gives the photo-only or text-only model), ``group_column`` is ``image``, so the random split
draws photos exactly as the ``manifest`` dataset does on the captions file with
``group_column: image`` (same seed, same fractions: the same test photos as
``configs/caption-flickr8k.yaml``). The choice is recorded in the bundle's state
(``inputs``: photo -> positions of its input captions in file order), saved with the run; a
rebuild from that state checks the file still gives the same choice.

Example (Flickr8k-1k, photo and text in)::

    data:
      name: caption-summary
      path: ../shared/data/flickr8k-1k/captions.csv
      root: images
      modalities:
        image: {kind: image, column: image, preset: efficientnet_lite}
        text: {kind: text, column: captions, tokenizer: word, max_length: 64}

Errors: missing columns, an empty caption or a photo with fewer than ``inputs + 1`` captions
(naming the photo and its count), ``inputs`` < 1, a state whose recorded choice differs.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import numpy as np

from polymodal.data.bundle import DataBundle
from polymodal.data.manifest import ManifestModality, ManifestRequest, build_manifest, read_manifest
from polymodal.errors import ConfigError, DataError
from polymodal.registry import DATASETS

NAME = "caption-summary"
COLUMNS = ["id", "image", "captions", "references"]
MAX_LISTED = 5


def choose_inputs(photo: str, n_captions: int, inputs: int, choice_seed: int = 0) -> list[int]:
    """Positions (into the photo's captions, file order) of its ``inputs`` input captions, in
    the order they are joined: the first ``inputs`` of a permutation of ``range(n_captions)``
    drawn from sha256 of ``"{choice_seed}:{photo}"``."""
    digest = hashlib.sha256(f"{choice_seed}:{photo}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return [int(i) for i in rng.permutation(n_captions)[:inputs]]


def summary_rows(
    rows: list[dict[str, Any]],
    image_column: str,
    caption_column: str,
    inputs: int,
    separator: str,
    choice_seed: int,
    where: str,
) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """One row per photo (photos in order of their first caption) and the recorded choice.

    Returns ``(rows, chosen)``: rows ``{id, image, captions, references}`` (``captions`` the
    joined input captions, ``references`` a list), ``chosen`` photo -> input positions.

    Raises:
        DataError: an empty caption, or a photo with too few captions (listing the first few).
    """
    captions: dict[str, list[str]] = defaultdict(list)
    for number, row in enumerate(rows, start=1):
        photo, text = row.get(image_column), row.get(caption_column)
        if not isinstance(text, str) or not text.strip() or not photo:
            raise DataError(
                f"row {number} has an empty {image_column!r} or {caption_column!r} cell",
                where=where,
                fix="give every row a photo and a caption, or remove the row",
            )
        captions[str(photo)].append(text.strip())
    short = [f"{p} ({len(c)})" for p, c in captions.items() if len(c) < inputs + 1]
    if short:
        raise DataError(
            f"{len(short)} photos have fewer than {inputs + 1} captions (inputs {inputs} + "
            f"at least one reference): {', '.join(short[:MAX_LISTED])}",
            where=where,
            fix="lower `inputs`, or leave those photos out of the file",
        )
    out, chosen = [], {}
    for photo, texts in captions.items():
        picked = choose_inputs(photo, len(texts), inputs, choice_seed)
        given = [texts[i] for i in picked]
        refs = [t for i, t in enumerate(texts) if i not in picked and t not in given]
        if not refs:
            raise DataError(
                f"photo {photo!r}: every caption left for the references repeats an input one",
                where=where,
                fix="give the photo distinct captions, or lower `inputs`",
            )
        chosen[photo] = picked
        out.append({"id": photo, "image": photo, "captions": separator.join(given),
                    "references": refs})  # fmt: skip
    return out, chosen


def _check_state(
    state: dict[str, Any] | None, chosen: dict[str, list[int]], where: str
) -> dict[str, Any] | None:
    """The manifest's part of ``state``; its recorded choice must equal ``chosen``."""
    if not state:
        return None
    if not isinstance(state, dict) or state.get("dataset") != NAME:
        raise DataError(
            f"the state is not a {NAME} state",
            where="state",
            fix=f"pass the state saved by a {NAME} build, unchanged",
        )
    if state.get("inputs") != chosen:
        raise DataError(
            "the captions file gives another choice of input captions than the saved state",
            where=where,
            fix="use the captions file (and inputs, choice_seed) the run was trained on",
        )
    return state.get("manifest")


@DATASETS.register(NAME)
def caption_summary(
    *,
    seed: int,
    state: dict[str, Any] | None = None,
    path: str | Path,
    modalities: dict[str, ManifestModality],
    root: str | None = None,
    image_column: str = "image",
    caption_column: str = "caption",
    inputs: int = 3,
    separator: str = " | ",
    choice_seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int | None = None,
    bad_rows: Literal["error", "skip"] = "error",
    cache_in_memory: bool = True,
    name: str | None = None,
) -> DataBundle:
    """A photo and ``inputs`` of its captions in, its other captions as references.

    Args:
        seed: seed of the random split (unless ``split_seed``). Injected.
        state: ``DataBundle.state`` of an earlier build (vocabularies, recorded choice).
        path: the captions file (CSV, JSONL or Parquet; one row per caption).
        modalities: modality -> options over the columns ``image`` and ``captions``.
        root: folder the photo paths resolve against (relative to the file's folder).
        image_column, caption_column: the file's photo and caption columns.
        inputs: input captions per photo (the rest are references).
        separator: joins the input captions into one text.
        choice_seed: seed of the choice of input captions (see :func:`choose_inputs`).
        val_fraction, test_fraction, split_seed: the random split by photo.
        bad_rows, cache_in_memory, name: as for ``manifest``.

    Returns a :class:`DataBundle` (task ``generation``) with state ``{"dataset", "inputs",
    "manifest"}``. Raises ConfigError for ``inputs`` < 1, DataError as the module docs say.
    """
    if inputs < 1:
        raise ConfigError([f"inputs: at least 1 input caption, got {inputs}"], source=NAME)
    p = Path(path)
    raw, columns = read_manifest(p)
    missing = [c for c in (image_column, caption_column) if c not in columns]
    if missing:
        raise DataError(
            f"columns {missing} not in the file (it has {columns})",
            where=str(p),
            fix="set image_column / caption_column to the file's column names",
        )
    rows, chosen = summary_rows(raw, image_column, caption_column, inputs, separator,
                                choice_seed, str(p))  # fmt: skip
    request = ManifestRequest(
        seed=seed, state=_check_state(state, chosen, str(p)), path=p, modalities=modalities,
        label="references", task="generation", classes=None, root=root, id_column="id",
        split_column=None, group_column="image", val_fraction=val_fraction,
        test_fraction=test_fraction, split_seed=split_seed, bad_rows=bad_rows,
        cache_in_memory=cache_in_memory, name=name or f"{p.stem}-summary",
    )  # fmt: skip
    bundle = build_manifest(request, lambda _: (rows, COLUMNS))
    bundle.state = {"dataset": NAME, "inputs": chosen, "manifest": bundle.state}
    return bundle
