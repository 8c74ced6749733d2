"""digits-av: the default folder, missing-folder errors, pairing by label, splits by takes and
speakers, determinism, degradation knobs, and (on the real FSDD when present) the default
difficulty."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from polymodal.data.builtin.digits_av import (
    ENV_VAR,
    FSDD_SAMPLE,
    digits_av,
    find_recordings,
    mix_at_snr,
)
from polymodal.data.loaders.audio import load_audio
from polymodal.data.transforms.audio import LogMelSpectrogram
from polymodal.errors import DataError
from polymodal.registry import DATASETS

FSDD = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "fsdd" / "recordings"
SPEAKERS = ("alice", "bob", "carol")
CLEAN = {"image_noise": 0.0, "image_occlusion": 0, "audio_snr_db": None}
DIGITS = load_digits()


@pytest.fixture(scope="module")
def fake_fsdd(tmp_path_factory) -> Path:
    """3 speakers x 10 digits x takes 0-6 of short tones (takes 0-4 test, 5-6 train)."""
    folder = tmp_path_factory.mktemp("fsdd") / "recordings"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for digit in range(10):
        for s, speaker in enumerate(SPEAKERS):
            for take in range(7):
                n = 1200 + 100 * take + 10 * s
                t = np.arange(n) / 8000
                wave = 0.3 * np.sin(2 * np.pi * (200 + 150 * digit + 20 * s) * t)
                wave += 0.01 * rng.standard_normal(n)
                sf.write(folder / f"{digit}_{speaker}_{take}.wav", wave, 8000, subtype="PCM_16")
    (folder / "README.txt").write_text("not a recording")
    return folder


def samples(bundle, split: str):
    data = bundle.splits[split]
    return [data[i] for i in range(len(data))]


def parse(sample_id: str) -> tuple[int, str, int, int]:
    """``{digit}_{speaker}_{take}+img{row}`` -> digit, speaker, take, image row."""
    stem, image = sample_id.split("+img")
    digit, speaker, take = stem.split("_")
    return int(digit), speaker, int(take), int(image)


def test_no_folder_uses_the_packaged_sample(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)  # the sample's contents: test_fsdd_sample.py
    found = find_recordings(None)
    assert len(found) == 480
    assert {r.path.parent for r in found} == {FSDD_SAMPLE}


def test_folder_without_recordings_and_missing_folder_raise(tmp_path):
    (tmp_path / "notes.wav").write_bytes(b"")
    with pytest.raises(DataError, match=r"no \{digit\}_\{speaker\}_\{take\}\.wav") as info:
        digits_av(seed=0, fsdd_dir=str(tmp_path))
    message = str(info.value)
    assert "Free Spoken Digit Dataset" in message
    assert "data.fsdd_dir=/path/to/recordings" in message
    assert ENV_VAR in message
    with pytest.raises(DataError, match="does not exist"):
        digits_av(seed=0, fsdd_dir=str(tmp_path / "absent"))


def test_env_var_and_parent_folder_are_found(fake_fsdd, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(fake_fsdd.parent))  # the root that holds recordings/
    found = find_recordings(None)
    assert len(found) == 210
    assert found == sorted(found, key=lambda r: r.path.name)
    assert {r.speaker for r in found} == set(SPEAKERS)


def test_pairs_by_label_with_images_of_the_same_split(fake_fsdd):
    bundle = digits_av(seed=0, fsdd_dir=str(fake_fsdd), **CLEAN)
    rows_of: dict[str, set[int]] = {}
    for split in ("train", "val", "test"):
        rows_of[split] = set()
        for s in samples(bundle, split):
            digit, _, _, row = parse(s.id)
            assert int(s.target) == digit == int(DIGITS.target[row])
            expected = torch.from_numpy(DIGITS.images[row].astype(np.float32) / 16.0)[None]
            assert torch.equal(s.inputs["image"], expected)  # clean: the image itself
            rows_of[split].add(row)
    assert not rows_of["train"] & rows_of["test"]
    assert not rows_of["train"] & rows_of["val"]
    assert not rows_of["val"] & rows_of["test"]


def test_images_are_handed_out_evenly(fake_fsdd):
    bundle = digits_av(seed=0, fsdd_dir=str(fake_fsdd), image_test_fraction=0.95, **CLEAN)
    uses: dict[int, int] = {}
    for s in samples(bundle, "test"):  # 150 test recordings, ~1700 test images: no reuse
        row = parse(s.id)[3]
        uses[row] = uses.get(row, 0) + 1
    assert max(uses.values()) == 1


def test_split_by_takes_follows_fsdd(fake_fsdd):
    bundle = digits_av(seed=0, fsdd_dir=str(fake_fsdd), **CLEAN)
    sizes = {k: len(v) for k, v in bundle.splits.items()}
    assert sizes == {"train": 50, "val": 10, "test": 150}  # val: 1 of 6 per digit
    assert {parse(s.id)[2] for s in samples(bundle, "test")} == {0, 1, 2, 3, 4}
    for split in ("train", "val"):
        assert {parse(s.id)[2] for s in samples(bundle, split)} <= {5, 6}
    assert sorted(parse(s.id)[0] for s in samples(bundle, "val")) == list(range(10))


def test_split_by_speaker_keeps_test_voices_unseen(fake_fsdd):
    bundle = digits_av(seed=0, fsdd_dir=str(fake_fsdd), test_speakers=["bob"], **CLEAN)
    assert {parse(s.id)[1] for s in samples(bundle, "test")} == {"bob"}
    assert len(bundle.splits["test"]) == 70
    for split in ("train", "val"):
        assert "bob" not in {parse(s.id)[1] for s in samples(bundle, split)}
    with pytest.raises(DataError, match="unknown speakers") as info:
        digits_av(seed=0, fsdd_dir=str(fake_fsdd), test_speakers=["zed"])
    assert "alice, bob, carol" in str(info.value)
    with pytest.raises(DataError, match="no training"):
        digits_av(seed=0, fsdd_dir=str(fake_fsdd), test_speakers=list(SPEAKERS))


def test_same_seed_same_data_and_other_seed_differs(fake_fsdd):
    a = digits_av(seed=3, fsdd_dir=str(fake_fsdd))
    b = digits_av(seed=3, fsdd_dir=str(fake_fsdd))
    c = digits_av(seed=4, fsdd_dir=str(fake_fsdd))
    for split in a.splits:
        for x, y in zip(samples(a, split), samples(b, split), strict=True):
            assert x.id == y.id
            assert torch.equal(x.inputs["image"], y.inputs["image"])
            assert torch.equal(x.inputs["audio"], y.inputs["audio"])
    assert a.state == b.state
    assert [s.id for s in samples(a, "test")] != [s.id for s in samples(c, "test")]


def test_audio_without_noise_is_the_log_mel_of_the_file(fake_fsdd):
    bundle = digits_av(seed=0, fsdd_dir=str(fake_fsdd), normalize_audio=False, **CLEAN)
    mel = LogMelSpectrogram(8000, n_mels=40, n_fft=200, hop_length=80)
    for s in samples(bundle, "val")[:3]:
        wave = load_audio(fake_fsdd / f"{s.id.split('+')[0]}.wav", 8000)
        torch.testing.assert_close(s.inputs["audio"], mel(wave), atol=1e-4, rtol=1e-5)


def test_audio_noise_is_mixed_at_the_requested_snr(fake_fsdd):
    snr = 3.0
    bundle = digits_av(
        seed=5, fsdd_dir=str(fake_fsdd), normalize_audio=False, audio_snr_db=snr, max_seconds=0.1
    )
    recordings = find_recordings(str(fake_fsdd))
    index = {r.stem: k for k, r in enumerate(recordings)}
    mel = LogMelSpectrogram(8000, n_mels=40, n_fft=200, hop_length=80)
    for s in samples(bundle, "test")[:3]:
        stem = s.id.split("+")[0]
        clean = load_audio(fake_fsdd / f"{stem}.wav", 8000)[:800]  # max_seconds = 0.1
        noisy = mix_at_snr(clean, snr, np.random.default_rng((5, index[stem], 1)))
        noise_power = float((noisy - clean).double().square().mean())
        measured = 10 * np.log10(float(clean.double().square().mean()) / noise_power)
        assert float(measured) == pytest.approx(snr, abs=0.5)
        torch.testing.assert_close(s.inputs["audio"], mel(noisy), atol=1e-4, rtol=1e-5)
        assert not torch.allclose(s.inputs["audio"], mel(clean), atol=0.5)


@pytest.mark.shared_data
@pytest.mark.parametrize("snr", [-3.0, 3.0, 20.0])
def test_mix_at_snr_on_real_speech(snr):
    if not FSDD.is_dir():
        pytest.skip(f"real FSDD recordings not found at {FSDD} (../shared/data is absent)")
    clean = load_audio(FSDD / "7_jackson_32.wav", 8000)
    noisy = mix_at_snr(clean, snr, np.random.default_rng(0))
    noise = (noisy - clean).double()
    measured = 10 * np.log10(float(clean.double().square().mean() / noise.square().mean()))
    assert measured == pytest.approx(snr, abs=0.5)
    assert abs(float(noise.mean())) < 0.05 * float(noise.std())  # zero-mean white noise


def test_image_noise_and_occlusion_do_what_they_say(fake_fsdd):
    noisy = digits_av(seed=0, fsdd_dir=str(fake_fsdd), image_noise=0.3, image_occlusion=0)
    residual = torch.cat(
        [
            s.inputs["image"] - torch.from_numpy(DIGITS.images[parse(s.id)[3]] / 16.0).float()
            for s in samples(noisy, "test")
        ]
    )
    assert float(residual.std()) == pytest.approx(0.3, rel=0.05)
    assert abs(float(residual.mean())) < 0.02
    blocked = digits_av(seed=0, fsdd_dir=str(fake_fsdd), image_noise=0.0, image_occlusion=3)
    for s in samples(blocked, "test"):
        clean = torch.from_numpy(DIGITS.images[parse(s.id)[3]] / 16.0).float()
        image = s.inputs["image"][0]
        changed = (image != clean).nonzero()
        if len(changed):  # pixels that changed lie in one 3x3 square and are now 0
            span = changed.max(dim=0).values - changed.min(dim=0).values
            assert span.max() <= 2
            assert float(image[image != clean].abs().max()) == 0.0
        zero_windows = F.avg_pool2d((image == 0).float()[None, None], 3, stride=1)
        assert float(zero_windows.max()) == 1.0  # a full 3x3 square of zeros exists


def test_image_size_upsamples_bilinearly(fake_fsdd):
    small = digits_av(seed=0, fsdd_dir=str(fake_fsdd), val_fraction=0.0)
    large = digits_av(seed=0, fsdd_dir=str(fake_fsdd), val_fraction=0.0, image_size=16)
    assert "val" not in large.splits
    assert large.info.modalities["image"].shape == (1, 16, 16)
    x, y = samples(small, "test")[0].inputs["image"], samples(large, "test")[0].inputs["image"]
    expected = F.interpolate(x[None], size=(16, 16), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(y, expected)


def test_audio_standardised_with_train_statistics_and_state_reused(fake_fsdd):
    bundle = digits_av(seed=0, fsdd_dir=str(fake_fsdd), n_mels=16)
    frames = torch.cat([s.inputs["audio"] for s in samples(bundle, "train")])  # [sum T, M]
    torch.testing.assert_close(frames.mean(0), torch.zeros(16), atol=1e-4, rtol=0)
    torch.testing.assert_close(frames.std(0, correction=0), torch.ones(16), atol=1e-4, rtol=0)
    raw = digits_av(seed=1, fsdd_dir=str(fake_fsdd), n_mels=16, normalize_audio=False)
    reused = digits_av(seed=1, fsdd_dir=str(fake_fsdd), n_mels=16, state=bundle.state)
    mean, std = torch.tensor(bundle.state["audio_mean"]), torch.tensor(bundle.state["audio_std"])
    x, y = samples(raw, "test")[4].inputs["audio"], samples(reused, "test")[4].inputs["audio"]
    torch.testing.assert_close(y, (x - mean) / std)
    with pytest.raises(DataError, match="mel bins"):
        digits_av(seed=0, fsdd_dir=str(fake_fsdd), n_mels=8, state=bundle.state)


def test_info_and_registry(fake_fsdd):
    info = digits_av(seed=0, fsdd_dir=str(fake_fsdd)).info
    assert info.modalities["image"].shape == (1, 8, 8)
    assert info.modalities["audio"].shape == (-1, 40)
    assert info.modalities["audio"].meta["sample_rate"] == 8000
    assert info.task.num_outputs == 10
    assert info.task.class_names == tuple("0123456789")
    params = DATASETS.params_model("digits-av")
    assert params(test_speakers=["theo"], audio_snr_db=None).test_speakers == ["theo"]
    with pytest.raises(ValueError, match="test_speakers"):
        params(test_speakers="theo")


@pytest.mark.shared_data
def test_real_fsdd_defaults_leave_each_modality_below_ceiling():
    if not FSDD.is_dir():
        pytest.skip(f"real FSDD recordings not found at {FSDD} (../shared/data is absent)")
    start = time.perf_counter()
    bundle = digits_av(seed=0, fsdd_dir=str(FSDD))
    print(f"digits-av: 3,000 recordings built in {time.perf_counter() - start:.2f} s")
    assert {k: len(v) for k, v in bundle.splits.items()} == {"train": 2430, "val": 270, "test": 300}

    def table(split):
        items = samples(bundle, split)
        image = np.stack([s.inputs["image"].numpy().reshape(-1) for s in items])
        audio = np.stack(
            [
                np.r_[s.inputs["audio"].numpy().mean(0), s.inputs["audio"].numpy().std(0)]
                for s in items
            ]
        )
        return image, audio, np.array([int(s.target) for s in items])

    (img, aud, y), (img_t, aud_t, y_t) = table("train"), table("test")

    def score(x, x_t):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        with threadpool_limits(1):  # small BLAS problems: threads only add overhead
            return float(model.fit(x, y).score(x_t, y_t))

    image, audio, both = (
        score(img, img_t),
        score(aud, aud_t),
        score(np.c_[img, aud], np.c_[img_t, aud_t]),
    )
    print(f"digits-av defaults, logistic: image {image:.3f} audio {audio:.3f} both {both:.3f}")
    assert 0.6 <= image <= 0.87
    assert 0.6 <= audio <= 0.87
    assert both >= max(image, audio) + 0.08


def test_audio_standardisation_equals_its_former_per_dataset_code(fake_fsdd):
    """The code the shared standardize_mels replaced: mean / population std (float64, floor
    1e-3) over every training frame, then ``(x - mean) / std`` on every sample of every split."""
    raw = digits_av(seed=2, fsdd_dir=str(fake_fsdd), n_mels=12, normalize_audio=False)
    normalised = digits_av(seed=2, fsdd_dir=str(fake_fsdd), n_mels=12)
    train = [s.inputs["audio"].numpy().astype(np.float64) for s in samples(raw, "train")]
    frames = np.concatenate(train)  # [sum T_i, M]
    np.testing.assert_allclose(normalised.state["audio_mean"], frames.mean(0), rtol=1e-6)
    std = np.maximum(frames.std(0), 1e-3)
    np.testing.assert_allclose(normalised.state["audio_std"], std, rtol=1e-6)
    mean = torch.tensor(normalised.state["audio_mean"])
    saved_std = torch.tensor(normalised.state["audio_std"])
    for split in raw.splits:
        for x, y in zip(samples(raw, split), samples(normalised, split), strict=True):
            assert x.id == y.id
            expected = (x.inputs["audio"] - mean) / saved_std
            torch.testing.assert_close(y.inputs["audio"], expected, rtol=0, atol=0)
            torch.testing.assert_close(y.inputs["image"], x.inputs["image"], rtol=0, atol=0)
