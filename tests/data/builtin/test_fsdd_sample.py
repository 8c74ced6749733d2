"""The FSDD sample packaged with polymodal: what digits-av loads without a folder, its balance, its
files (real FSDD audio, cut to one second), its licence, and the script that regenerates it."""

from __future__ import annotations

import importlib.util
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from polymodal.cli.describe import describe_component
from polymodal.data.builtin.digits_av import ENV_VAR, FSDD_SAMPLE, digits_av

ROOT = Path(__file__).resolve().parents[3]
FSDD = ROOT / ".." / "shared" / "data" / "fsdd" / "recordings"
SPEAKERS = {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"}
WAVS = sorted(FSDD_SAMPLE.glob("*.wav"))


def load_script():
    spec = importlib.util.spec_from_file_location(
        "make_fsdd_sample", ROOT / "scripts" / "make_fsdd_sample.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse(stem: str) -> tuple[int, str, int]:
    digit, speaker, take = stem.split("_")
    return int(digit), speaker, int(take)


def test_digits_av_without_folder_loads_the_balanced_sample(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    bundle = digits_av(seed=0)
    per_split = {}
    for split, data in bundle.splits.items():
        items = [data[i] for i in range(len(data))]
        stems = [s.id.split("+img")[0] for s in items]
        assert [int(s.target) for s in items] == [parse(x)[0] for x in stems]
        per_split[split] = [parse(x) for x in stems]
    test = per_split["test"]
    assert Counter(d for d, _, _ in test) == dict.fromkeys(range(10), 12)
    assert Counter(s for _, s, _ in test) == dict.fromkeys(SPEAKERS, 20)
    assert all(t < 5 for _, _, t in test)
    rest = per_split["train"] + per_split["val"]
    assert Counter(d for d, _, _ in rest) == dict.fromkeys(range(10), 36)
    assert Counter(s for _, s, _ in rest) == dict.fromkeys(SPEAKERS, 60)
    assert all(t >= 5 for _, _, t in rest)
    assert len(per_split["val"]) == 40  # val_fraction 0.1: 4 of the 36 per digit


def test_sample_is_real_fsdd_audio_not_a_generated_signal():
    assert len(WAVS) == 480
    lengths = []
    for path in WAVS:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype, info.format) == (
            8000,
            1,
            "PCM_16",
            "WAV",
        )
        lengths.append(info.frames)
    assert max(lengths) == 8000  # cut to one second
    assert 0.3 < np.mean(lengths) / 8000 < 0.6  # FSDD's mean is 0.44 s
    assert sum(p.stat().st_size for p in WAVS) < 4_000_000
    spread = []  # frequency bins that hold 90 % of a file's energy
    for path in WAVS:
        wave, _ = sf.read(path, dtype="float32")
        energy = np.sort(np.abs(np.fft.rfft(wave)) ** 2)[::-1]
        spread.append(int(np.searchsorted(np.cumsum(energy) / energy.sum(), 0.9)) + 1)
    # speech spreads its energy over many frequencies (a windowed tone: 3 bins; here 14 to 1161)
    assert min(spread) >= 10
    assert np.median(spread) >= 100


def test_licence_and_attribution_sit_beside_the_recordings():
    licence = (FSDD_SAMPLE / "LICENSE.md").read_text()
    readme = (FSDD_SAMPLE / "README.md").read_text()
    assert "CC BY-SA 4.0" in licence
    assert "https://creativecommons.org/licenses/by-sa/4.0/" in licence
    assert "Jakobovski/free-spoken-digit-dataset" in licence
    assert "scripts/make_fsdd_sample.py" in readme


def test_datasets_show_names_the_recordings_it_uses():
    text = describe_component("dataset", "digits-av")
    assert "480 recordings" in text
    assert "fsdd_sample" in text
    assert "CC BY-SA 4.0" in text


def test_script_picks_two_test_and_six_training_takes_per_digit_and_speaker():
    script = load_script()
    names = [f"{d}_{s}_{t}.wav" for d in range(10) for s in ("ann", "ben") for t in range(50)]
    chosen = script.choose([*names, "notes.wav"])
    assert chosen == sorted(chosen)
    assert chosen == script.choose(list(reversed(names)))  # order of the folder does not matter
    per_pair = Counter((d, s) for d, s, _ in map(parse, (c[:-4] for c in chosen)))
    assert per_pair == {(d, s): 8 for d in range(10) for s in ("ann", "ben")}
    takes = [parse(c[:-4])[2] for c in chosen]
    assert sum(t < 5 for t in takes) == 2 * 20
    assert len(set(takes)) > 8  # drawn, not the first takes of each range
    with pytest.raises(ValueError, match="too few takes"):
        script.choose([n for n in names if not n.endswith("_5.wav")][:-40])


@pytest.mark.shared_data
def test_script_regenerates_the_packaged_sample_from_the_full_fsdd(tmp_path):
    if not FSDD.is_dir():
        pytest.skip(f"real FSDD recordings not found at {FSDD} (../shared/data is absent)")
    script = load_script()
    names = script.write_sample(FSDD, tmp_path)
    assert names == [p.name for p in WAVS]
    for name in names:
        assert (tmp_path / name).read_bytes() == (FSDD_SAMPLE / name).read_bytes(), name
        original, _ = sf.read(FSDD / name, dtype="int16")
        packaged, _ = sf.read(FSDD_SAMPLE / name, dtype="int16")
        np.testing.assert_array_equal(packaged, original[:8000])


@pytest.mark.shared_data
def test_sample_gives_the_samples_of_the_original_files(tmp_path, monkeypatch):
    """With the defaults (max_seconds 1.0) the cut files build the same data as the originals."""
    if not FSDD.is_dir():
        pytest.skip(f"real FSDD recordings not found at {FSDD} (../shared/data is absent)")
    for path in WAVS:
        shutil.copy(FSDD / path.name, tmp_path / path.name)
    monkeypatch.delenv(ENV_VAR, raising=False)
    packaged, original = digits_av(seed=1), digits_av(seed=1, fsdd_dir=str(tmp_path))
    assert packaged.state == original.state
    for split in ("train", "val", "test"):
        a, b = packaged.splits[split], original.splits[split]
        assert len(a) == len(b)
        for i in range(len(a)):
            assert a[i].id == b[i].id
            torch.testing.assert_close(a[i].inputs["audio"], b[i].inputs["audio"], rtol=0, atol=0)
            torch.testing.assert_close(a[i].inputs["image"], b[i].inputs["image"], rtol=0, atol=0)
