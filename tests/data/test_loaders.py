"""Tests of polymodal.data.loaders (text, image, tabular) on files written by the tests and on
real photos of ../shared/data/flickr8k-1k, checked against numpy / Pillow references."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.data.loaders import load_image, load_tabular, load_text, parse_number
from polymodal.errors import DataError

FLICKR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "flickr8k-1k"


# ---------------------------------------------------------------------------------------- text


def test_text_inline_is_returned_unchanged() -> None:
    assert load_text("Une phrase, déjà.") == "Une phrase, déjà."


def test_text_file_utf8_and_bom(tmp_path: Path) -> None:
    plain = tmp_path / "a.txt"
    plain.write_text("naïve café\nline 2", encoding="utf-8")
    bom = tmp_path / "b.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + "naïve".encode())
    assert load_text(str(plain), is_path=True) == "naïve café\nline 2"
    assert load_text(bom, is_path=True) == "naïve"  # BOM dropped


def test_text_file_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes("abc café".encode("latin-1"))  # é = 0xE9, invalid in UTF-8 at offset 7
    with pytest.raises(DataError) as info:
        load_text(str(latin), is_path=True)
    message = str(info.value)
    assert "not valid UTF-8" in message
    assert "offset 7" in message
    assert str(latin) in message
    assert "fix:" in message


def test_text_errors_for_missing_file_and_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="text file not found"):
        load_text(str(tmp_path / "nope.txt"), is_path=True)
    with pytest.raises(DataError, match="expected text"):
        load_text(3.5)


# --------------------------------------------------------------------------------------- image


def _rgb_array(height: int = 5, width: int = 7) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def test_image_png_rgb_values_and_layout(tmp_path: Path) -> None:
    array = _rgb_array()
    path = tmp_path / "x.png"
    Image.fromarray(array, mode="RGB").save(path)
    out = load_image(path)
    assert out.dtype == torch.float32
    assert out.shape == (3, 5, 7)  # [C, H, W]
    expected = torch.from_numpy(array.astype(np.float32) / 255.0).permute(2, 0, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_image_grey_from_rgb_matches_pillow_luma(tmp_path: Path) -> None:
    array = _rgb_array()
    path = tmp_path / "x.png"
    Image.fromarray(array, mode="RGB").save(path)
    out = load_image(path, channels=1)
    # Pillow's L = R * 299/1000 + G * 587/1000 + B * 114/1000 (ITU-R 601-2), rounded
    luma = np.asarray(Image.fromarray(array).convert("L"), dtype=np.float32) / 255.0
    assert out.shape == (1, 5, 7)
    torch.testing.assert_close(out[0], torch.from_numpy(luma), rtol=0, atol=0)
    r, g, b = (array[..., i].astype(np.float64) for i in range(3))
    by_hand = (r * 299 + g * 587 + b * 114) / 1000 / 255
    assert np.abs(out[0].numpy() - by_hand).max() <= 1 / 255 + 1e-6


def test_image_grey_png_as_rgb_repeats_the_channel(tmp_path: Path) -> None:
    grey = _rgb_array()[..., 0]
    path = tmp_path / "g.png"
    Image.fromarray(grey, mode="L").save(path)
    out = load_image(path, channels=3)
    expected = torch.from_numpy(grey.astype(np.float32) / 255.0)
    for c in range(3):
        torch.testing.assert_close(out[c], expected, rtol=0, atol=0)


def test_image_rgba_drops_alpha(tmp_path: Path) -> None:
    array = _rgb_array()
    rgba = np.concatenate([array, np.full((5, 7, 1), 17, dtype=np.uint8)], axis=2)
    path = tmp_path / "a.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    expected = torch.from_numpy(array.astype(np.float32) / 255.0).permute(2, 0, 1)
    torch.testing.assert_close(load_image(path), expected, rtol=0, atol=0)


def test_image_16_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 65535], [32768, 255, 256]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)  # a 16-bit greyscale PNG
    out = load_image(path, channels=1)
    torch.testing.assert_close(out[0], torch.from_numpy(values.astype(np.float32) / 65535.0))


def test_image_exif_orientation_is_applied(tmp_path: Path) -> None:
    array = _rgb_array(2, 3)
    image = Image.fromarray(array, mode="RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: the stored image must be turned 90 degrees clockwise
    path = tmp_path / "rotated.png"
    image.save(path, exif=exif)
    out = load_image(path)
    upright = np.rot90(array, k=-1)  # numpy: k=-1 turns clockwise
    assert out.shape == (3, 3, 2)
    expected = torch.from_numpy(upright.astype(np.float32) / 255.0).permute(2, 0, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_image_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    with pytest.raises(DataError, match="image file not found") as info:
        load_image(missing)
    assert str(missing) in str(info.value)

    not_image = tmp_path / "text.png"
    not_image.write_text("hello")
    with pytest.raises(DataError, match="not a readable image"):
        load_image(not_image)

    full = tmp_path / "full.png"
    Image.fromarray(_rgb_array(64, 64), mode="RGB").save(full)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(DataError, match="cannot decode image") as info:
        load_image(truncated)
    assert str(truncated) in str(info.value)


def test_image_real_flickr_photos_match_pillow() -> None:
    if not (FLICKR / "captions.csv").is_file():
        pytest.skip(f"needs {FLICKR} (the shared flickr8k-1k data set), absent here")
    with (FLICKR / "captions.csv").open(encoding="utf-8") as handle:
        names = list(dict.fromkeys(row["image"] for row in csv.DictReader(handle)))[:3]
    for name in names:
        path = FLICKR / "images" / name
        out = load_image(path)
        with Image.open(path) as image:
            reference = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        assert out.shape == (3, *reference.shape[:2])
        assert float(out.min()) >= 0.0
        assert float(out.max()) <= 1.0
        torch.testing.assert_close(out.permute(1, 2, 0), torch.from_numpy(reference))


# ------------------------------------------------------------------------------------- tabular


def test_tabular_numbers_in_column_order() -> None:
    row = {"b": "2.5", "a": 3, "c": True, "d": np.float64(-1.25), "e": " 1e3 "}
    out = load_tabular(row, ["a", "b", "c", "d", "e"])
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([3.0, 2.5, 1.0, -1.25, 1000.0]))


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("abc", "expected a number"),
        (float("nan"), "not finite"),
        ("NaN", "not finite"),
        (math.inf, "not finite"),
        ("-inf", "not finite"),
        ([1, 2], "expected a number"),
    ],
)
def test_tabular_bad_values_name_the_column(value: object, fragment: str) -> None:
    with pytest.raises(DataError, match=fragment) as info:
        load_tabular({"ok": 1.0, "age": value}, ["ok", "age"])
    assert "'age'" in str(info.value)


def test_tabular_empty_cell_names_the_column() -> None:
    with pytest.raises(DataError, match="column 'height' is empty"):
        load_tabular({"height": None}, ["height"])
    assert parse_number("7", "x") == 7.0
