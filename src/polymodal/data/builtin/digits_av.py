"""``digits-av``: real handwritten digits paired with real spoken digits, with degradations.

Built like AV-MNIST (Vielzeuf et al., *CentralNet: a Multilayer Approach for Multimodal
Fusion*, ECCV Workshops 2018): each sample is a spoken digit and an image of the same digit, and
each modality is degraded so that neither alone reaches the ceiling.

- audio: one sample per recording of the Free Spoken Digit Dataset (FSDD, Jakobovski et al.,
  CC BY-SA 4.0), files ``{digit}_{speaker}_{take}.wav`` (a 480-file sample ships with polymodal,
  the full set the user downloads); the waveform is
  read at ``sample_rate`` (mono), cut to its first ``max_seconds``, mixed with white Gaussian noise
  at ``audio_snr_db`` dB SNR (noise scaled so that ``10 log10(P_signal / P_noise)`` is exactly the
  target over the cut waveform), then turned into a log-mel ``[T, n_mels]`` (25 ms window, 10 ms
  hop). With ``normalize_audio`` each mel bin is standardised with the training split's mean and
  std, kept in the bundle's ``state``.
- image: scikit-learn's 1,797 handwritten digits (``sklearn.datasets.load_digits``, 8x8, values
  0-16), scaled to [0, 1], then degraded at their native 8x8 size: a random square of
  ``image_occlusion`` pixels a side set to 0, then Gaussian noise of std ``image_noise`` (values
  are not clipped, so they may leave [0, 1]); finally resized bilinearly to ``image_size`` when it
  is not 8. Shape ``[1, image_size, image_size]``.

Splits. Images are split first, stratified by digit and seeded: ``image_test_fraction`` for test,
then ``val_fraction`` of the rest for val. Recordings are split by FSDD's own convention (takes 0-4
are test) or, with ``test_speakers``, by speaker (every recording of those speakers is test, so
test voices are unseen); ``val_fraction`` of the remaining recordings, stratified by digit, is val.
Each recording is paired with an image of the same digit from the same split: per split and
digit, the images are shuffled (seeded) and handed out in turn, so each is used equally often.
Sample ids are ``{recording}+img{index}`` with ``index`` the row in ``load_digits()``.
Degradations are drawn per sample from ``numpy.random.default_rng((seed, k, m))`` (``k`` the
recording's index in sorted order, ``m`` 0 for the image and 1 for the audio), so they do not
depend on the split.

Default degradations (image noise 0.3, occlusion 2, audio at 3 dB SNR), measured on the 3,000
FSDD recordings of 6 speakers with takes 0-4 as test (300 test samples): test accuracy for seeds
0 / 1 / 2 of scikit-learn reference models fitted on the training split, on standardised
features: the 64 pixels (image), the per-bin mean and std over time of the log-mel (audio), both
concatenated (image + audio):

=======================  ========  =================  =================  =================
setting                  model     image              audio              image + audio
=======================  ========  =================  =================  =================
no degradation           logistic  0.963 0.980 0.960  0.943 0.943 0.943  0.997 0.997 0.997
defaults                 logistic  0.753 0.777 0.750  0.783 0.807 0.800  0.910 0.923 0.927
defaults                 RBF SVM   0.823 0.840 0.833  0.823 0.820 0.850  0.930 0.943 0.943
defaults, test speaker   logistic  0.740 0.792 0.760  0.422 0.402 0.456  0.780 0.742 0.756
theo (500 test samples)
=======================  ========  =================  =================  =================

Unseen voices make audio much harder: pooled log-mel features do not carry over between speakers.
With polymodal's scratch encoders (``cnn``, ``audio_conv``, ``concat`` fusion, 10 epochs, lr
2e-3, seed 0) the val accuracy was 0.822 (image), 0.856 (audio) and 0.915 (both).
Building the dataset from the 3,000 WAVs takes 2-3 s on two busy CPU cores.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor
from torch.utils.data import Dataset

from polymodal.data.bundle import DataBundle, ListDataset
from polymodal.data.loaders.audio import load_audio
from polymodal.data.schema import DatasetInfo, ModalitySpec, Sample, TaskSpec
from polymodal.data.transforms.audio import LogMelSpectrogram, standardize_mels
from polymodal.errors import ConfigError, DataError
from polymodal.registry import DATASETS

ENV_VAR = "POLYMODAL_FSDD_DIR"
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset"
FSDD_SAMPLE = Path(__file__).with_name("fsdd_sample")
"""The FSDD sample packaged with polymodal: 480 recordings, the default folder (its README.md)."""
FSDD_TEST_TAKES = range(5)  # the dataset's own convention: takes 0-4 are its test split
_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")
_HOW_TO = (
    f"download the Free Spoken Digit Dataset ({FSDD_URL}) and point at its recordings/ folder "
    f"with data.fsdd_dir=/path/to/recordings or the environment variable {ENV_VAR}"
)


@dataclass(frozen=True)
class Recording:
    """One FSDD file: ``{digit}_{speaker}_{take}.wav``."""

    path: Path
    digit: int
    speaker: str
    take: int

    @property
    def stem(self) -> str:
        return self.path.stem


def find_recordings(fsdd_dir: str | None) -> list[Recording]:
    """The FSDD recordings in ``fsdd_dir`` (or its ``recordings/``), sorted by file name.

    ``fsdd_dir`` None reads the environment variable ``POLYMODAL_FSDD_DIR``, and without it
    uses the packaged sample :data:`FSDD_SAMPLE`.

    Raises:
        DataError: the folder does not exist, or it holds no
            ``{digit}_{speaker}_{take}.wav`` file; the message says what to download and how to
            point at it.
    """
    chosen = fsdd_dir if fsdd_dir is not None else os.environ.get(ENV_VAR) or str(FSDD_SAMPLE)
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        raise DataError(
            f"FSDD folder {str(folder)!r} does not exist", where="data.fsdd_dir", fix=_HOW_TO
        )
    for candidate in (folder, folder / "recordings"):
        found = sorted(_parse(p) for p in candidate.glob("*.wav") if _NAME.match(p.name))
        if found:
            return [r for _, r in found]
    raise DataError(
        f"no {{digit}}_{{speaker}}_{{take}}.wav file in {str(folder)!r} or its recordings/ folder",
        where="data.fsdd_dir",
        fix=_HOW_TO,
    )


def _parse(path: Path) -> tuple[str, Recording]:
    match = _NAME.match(path.name)
    assert match is not None  # filtered by the caller
    digit, speaker, take = match.groups()
    return path.name, Recording(path, int(digit), speaker, int(take))


def mix_at_snr(signal: Tensor, snr_db: float, rng: np.random.Generator) -> Tensor:
    """``signal [L]`` plus white Gaussian noise at exactly ``snr_db`` dB.

    The noise draw is rescaled so that ``10 * log10(mean(signal**2) / mean(noise**2))`` equals
    ``snr_db`` (up to float rounding). A silent signal is returned unchanged.
    """
    x = signal.detach().cpu().numpy().astype(np.float64)  # [L]
    noise = rng.standard_normal(x.shape[-1])
    power = float(np.mean(x**2))
    if power == 0.0:
        return signal.clone()
    target = power / 10.0 ** (snr_db / 10.0)
    noise *= np.sqrt(target / np.mean(noise**2))
    return torch.from_numpy(x + noise).to(signal.dtype)


def degrade_image(image: Tensor, noise: float, occlusion: int, rng: np.random.Generator) -> Tensor:
    """Occlude a random ``occlusion x occlusion`` square of ``image [H, W]`` with 0, then add
    Gaussian noise of std ``noise``. Returns a new float32 ``[H, W]`` tensor."""
    out = image.clone()
    height, width = out.shape
    if occlusion > 0:
        top = int(rng.integers(0, height - occlusion + 1))
        left = int(rng.integers(0, width - occlusion + 1))
        out[top : top + occlusion, left : left + occlusion] = 0.0
    if noise > 0:
        out += noise * torch.from_numpy(rng.standard_normal((height, width))).float()
    return out


def split_recordings(
    recordings: list[Recording], test_speakers: list[str] | None, val_fraction: float, seed: int
) -> dict[str, list[int]]:
    """Indices of ``recordings`` per split: test by takes 0-4 or by speaker, val from the rest."""
    speakers = sorted({r.speaker for r in recordings})
    if test_speakers is None:
        is_test = [r.take in FSDD_TEST_TAKES for r in recordings]
    else:
        unknown = sorted(set(test_speakers) - set(speakers))
        if unknown:
            raise DataError(
                f"unknown speakers in test_speakers: {', '.join(unknown)}",
                where="data.test_speakers",
                fix=f"use speakers of the folder: {', '.join(speakers)}",
            )
        is_test = [r.speaker in test_speakers for r in recordings]
    rest = [i for i, t in enumerate(is_test) if not t]
    test = [i for i, t in enumerate(is_test) if t]
    if not rest or not test:
        raise DataError(
            "the recordings split leaves no training or no test recording",
            where="data.test_speakers",
            fix=f"name some but not all speakers ({', '.join(speakers)}) as test_speakers",
        )
    rng = np.random.default_rng((seed, 0))
    train, val = _stratified(rest, [recordings[i].digit for i in rest], val_fraction, rng)
    return {"train": train, "val": val, "test": test}


def _stratified(
    items: list[int], labels: list[int], fraction: float, rng: np.random.Generator
) -> tuple[list[int], list[int]]:
    """Split ``items`` into (rest, part): ``round(fraction * count)`` of each label go to part."""
    part: list[int] = []
    for label in sorted(set(labels)):
        members = [i for i, lab in zip(items, labels, strict=True) if lab == label]
        keep = round(fraction * len(members))
        part.extend(members[j] for j in rng.permutation(len(members))[:keep])
    chosen = set(part)
    return [i for i in items if i not in chosen], sorted(part)


def split_images(
    labels: np.ndarray, test_fraction: float, val_fraction: float, seed: int
) -> dict[str, list[int]]:
    """Row indices of ``load_digits()`` per split, stratified by digit and seeded."""
    rng = np.random.default_rng((seed, 1))
    rest, test = _stratified(list(range(len(labels))), labels.tolist(), test_fraction, rng)
    train, val = _stratified(rest, labels[rest].tolist(), val_fraction, rng)
    return {"train": train, "val": val, "test": test}


def pair_by_label(
    recording_digits: list[int],
    image_rows: list[int],
    image_labels: np.ndarray,
    rng: np.random.Generator,
) -> list[int]:
    """For each recording digit, an image row of the same digit, each image used in turn.

    Per digit, the images are shuffled with ``rng`` and handed out cyclically in recording
    order, so their use differs by at most one.
    """
    pools: dict[int, list[int]] = {}
    for digit in range(10):
        rows = [r for r in image_rows if image_labels[r] == digit]
        pools[digit] = [rows[i] for i in rng.permutation(len(rows))]
    used = dict.fromkeys(range(10), 0)
    paired = []
    for digit in recording_digits:
        if not pools[digit]:
            raise DataError(
                f"no image of digit {digit} in this split to pair with",
                where="data",
                fix="lower image_test_fraction or val_fraction",
            )
        paired.append(pools[digit][used[digit] % len(pools[digit])])
        used[digit] += 1
    return paired


def _check(
    sample_rate: int,
    n_mels: int,
    max_seconds: float,
    image_size: int,
    image_noise: float,
    image_occlusion: int,
    image_test_fraction: float,
    val_fraction: float,
) -> None:
    problems = []
    if sample_rate < 1000:
        problems.append(f"data.sample_rate: must be at least 1000 Hz, got {sample_rate}")
    if n_mels < 1:
        problems.append(f"data.n_mels: must be at least 1, got {n_mels}")
    if max_seconds <= 0:
        problems.append(f"data.max_seconds: must be > 0, got {max_seconds}")
    if image_size < 1:
        problems.append(f"data.image_size: must be at least 1, got {image_size}")
    if image_noise < 0:
        problems.append(f"data.image_noise: must be >= 0, got {image_noise}")
    if not 0 <= image_occlusion <= 8:
        problems.append(f"data.image_occlusion: must be in [0, 8] pixels, got {image_occlusion}")
    if not 0 < image_test_fraction < 1:
        problems.append(f"data.image_test_fraction: must be in (0, 1), got {image_test_fraction}")
    if not 0 <= val_fraction < 1:
        problems.append(f"data.val_fraction: must be in [0, 1), got {val_fraction}")
    if problems:
        raise ConfigError(problems, source="data (digits-av)")


@DATASETS.register("digits-av")
def digits_av(
    seed: int,
    state: dict[str, Any] | None = None,
    fsdd_dir: str | None = None,
    image_noise: float = 0.3,
    image_occlusion: int = 2,
    audio_snr_db: float | None = 3.0,
    test_speakers: list[str] | None = None,
    sample_rate: int = 8000,
    n_mels: int = 40,
    max_seconds: float = 1.0,
    image_size: int = 8,
    image_test_fraction: float = 0.25,
    val_fraction: float = 0.1,
    normalize_audio: bool = True,
) -> DataBundle:
    """Real spoken digits (FSDD: a packaged sample or your folder) paired with digit images.

    Args:
        seed: seed of the image split, the val split, the pairing and the degradations.
        state: ``{"audio_mean": [M], "audio_std": [M]}`` from an earlier build, reused for
            normalisation instead of this build's training statistics.
        fsdd_dir: folder of FSDD's ``{digit}_{speaker}_{take}.wav`` files (its ``recordings/``,
            or the repository root that holds it); None reads ``POLYMODAL_FSDD_DIR``, and
            without it the 480 recordings packaged in ``data/builtin/fsdd_sample``
            (CC BY-SA 4.0; 120 test samples; the module docstring says how they were drawn).
        image_noise: std of Gaussian noise added to images scaled to [0, 1] (0: none).
        image_occlusion: side in pixels (of 8) of a random square set to 0 (0: none).
        audio_snr_db: SNR in dB of white noise mixed into each recording (None: none).
        test_speakers: speakers whose recordings form the test split (unseen voices); None uses
            FSDD's own split, takes 0-4.
        sample_rate: rate in Hz the audio is read at (FSDD is recorded at 8000).
        n_mels: mel bins of the log-mel.
        max_seconds: recordings are cut to their first ``max_seconds``.
        image_size: side of the returned images (8: native; otherwise bilinear resize).
        image_test_fraction: share of the 1,797 images kept for test pairs.
        val_fraction: share of the non-test recordings (and images) used for val.
        normalize_audio: standardise each mel bin with the training split's mean and std.
    """
    sizes = (sample_rate, n_mels, max_seconds, image_size)
    _check(*sizes, image_noise, image_occlusion, image_test_fraction, val_fraction)
    recordings = find_recordings(fsdd_dir)
    degradation = Degradation(image_noise, image_occlusion, audio_snr_db)
    build = _builder(seed, degradation, sample_rate, n_mels, max_seconds, image_size)
    record_splits = split_recordings(recordings, test_speakers, val_fraction, seed)
    samples = _paired_samples(build, recordings, record_splits, image_test_fraction, val_fraction)
    out_state = _standardize_audio(samples, state, n_mels) if normalize_audio else {}
    splits: dict[str, Dataset[Sample]] = {
        split: ListDataset(items) for split, items in samples.items() if items
    }
    info = _info(sample_rate, n_mels, image_size, build.mel, len(recordings))
    return DataBundle(info=info, splits=splits, state=out_state)


def _standardize_audio(
    samples: dict[str, list[Sample]], state: dict[str, Any] | None, n_mels: int
) -> dict[str, Any]:
    """Standardise every log-mel in place with the saved or the training split's statistics
    (:func:`~polymodal.data.transforms.audio.standardize_mels`); returns them as state."""
    audio = [s.inputs["audio"] for items in samples.values() for s in items]  # each [T_i, M]
    train = [s.inputs["audio"] for s in samples["train"]]
    return standardize_mels(audio, train, state, n_mels)


def _builder(
    seed: int,
    degradation: Degradation,
    sample_rate: int,
    n_mels: int,
    max_seconds: float,
    image_size: int,
) -> _SplitBuilder:
    """The sample maker: scikit-learn's digits, the degradations and the log-mel (25 ms window,
    10 ms hop)."""
    digits = load_digits()
    return _SplitBuilder(
        seed=seed,
        images=torch.from_numpy(digits.images.astype(np.float32) / 16.0),  # [1797, 8, 8]
        labels=np.asarray(digits.target),
        degradation=degradation,
        sample_rate=sample_rate,
        max_samples=max(1, round(max_seconds * sample_rate)),
        image_size=image_size,
        mel=LogMelSpectrogram(
            sample_rate,
            n_mels=n_mels,
            n_fft=round(0.025 * sample_rate),
            hop_length=round(0.010 * sample_rate),
        ),
    )


def _paired_samples(
    build: _SplitBuilder,
    recordings: list[Recording],
    record_splits: dict[str, list[int]],
    image_test_fraction: float,
    val_fraction: float,
) -> dict[str, list[Sample]]:
    """Each split's samples: its recordings, each paired with an image of the same digit from
    the same split (images split by :func:`split_images`, paired by :func:`pair_by_label`)."""
    labels = build.labels
    image_splits = split_images(labels, image_test_fraction, val_fraction, build.seed)
    samples: dict[str, list[Sample]] = {}
    for number, (split, indices) in enumerate(record_splits.items()):
        pair_rng = np.random.default_rng((build.seed, 2, number))
        digits_of = [recordings[k].digit for k in indices]
        rows = pair_by_label(digits_of, image_splits[split], labels, pair_rng)
        samples[split] = build([recordings[k] for k in indices], indices, rows)
    return samples


@dataclass(frozen=True)
class Degradation:
    """What is done to each sample: image noise std, occlusion side (pixels), audio SNR (dB)."""

    image_noise: float
    image_occlusion: int
    audio_snr_db: float | None


@dataclass
class _SplitBuilder:
    """Turns recordings and their paired image rows into samples (see the module docstring)."""

    seed: int
    images: Tensor  # [1797, 8, 8] in [0, 1]
    labels: np.ndarray  # [1797] digit of each image
    degradation: Degradation
    sample_rate: int
    max_samples: int
    image_size: int
    mel: LogMelSpectrogram

    def __call__(self, records: list[Recording], keys: list[int], rows: list[int]) -> list[Sample]:
        if not records:
            return []
        d = self.degradation
        waves, pictures = [], []
        for record, k, row in zip(records, keys, rows, strict=True):
            wave = load_audio(record.path, self.sample_rate)[: self.max_samples]  # [L]
            if d.audio_snr_db is not None:
                wave = mix_at_snr(wave, d.audio_snr_db, np.random.default_rng((self.seed, k, 1)))
            waves.append(wave)
            rng = np.random.default_rng((self.seed, k, 0))
            pictures.append(degrade_image(self.images[row], d.image_noise, d.image_occlusion, rng))
        stacked = torch.stack(pictures)[:, None]  # [N, 1, 8, 8]
        if self.image_size != 8:
            size = (self.image_size, self.image_size)
            stacked = F.interpolate(stacked, size=size, mode="bilinear", align_corners=False)
        logmels = self.mel.forward_many(waves)  # each [T_i, M]
        return [
            Sample(
                f"{record.stem}+img{row:04d}",
                {"image": stacked[i], "audio": logmels[i]},  # [1, S, S], [T_i, M]
                torch.tensor(record.digit),
            )
            for i, (record, row) in enumerate(zip(records, rows, strict=True))
        ]


def _info(
    sample_rate: int, n_mels: int, image_size: int, mel: LogMelSpectrogram, n_recordings: int
) -> DatasetInfo:
    audio_meta = {"sample_rate": sample_rate, "n_fft": mel.n_fft, "hop_length": mel.hop_length}
    return DatasetInfo(
        name="digits-av",
        modalities={
            "image": ModalitySpec("image", "image", (1, image_size, image_size)),
            "audio": ModalitySpec("audio", "audio", (-1, n_mels), meta=audio_meta),
        },
        task=TaskSpec("multiclass", 10, class_names=tuple(str(d) for d in range(10))),
        description=(
            f"{n_recordings} FSDD spoken digits paired by label with scikit-learn digit images"
        ),
    )
