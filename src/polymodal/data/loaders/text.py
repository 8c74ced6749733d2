"""Text loader: inline text, or the contents of a UTF-8 text file."""

from __future__ import annotations

from pathlib import Path

from polymodal.errors import DataError


def read_text_file(path: str | Path) -> str:
    """The contents of a UTF-8 text file (a leading byte-order mark is dropped).

    Raises:
        DataError: the file is missing, unreadable, or not valid UTF-8 (the message gives the
            byte offset of the first invalid byte).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DataError(
            "text file not found", where=str(p), fix="check the path, relative to the manifest"
        ) from None
    except OSError as exc:
        raise DataError(
            f"cannot read text file ({exc.strerror or exc.__class__.__name__})",
            where=str(p),
            fix="check that the path is a readable file",
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"text file is not valid UTF-8 (invalid byte at offset {exc.start})",
            where=str(p),
            fix="re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`",
        ) from None


def load_text(value: object, *, is_path: bool = False) -> str:
    """Inline text (``is_path`` False) or the contents of the UTF-8 file ``value`` names.

    Args:
        value: a string (inline text, or a path already resolved by the caller).
        is_path: read ``value`` as a file path.

    Raises:
        DataError: ``value`` is not a string, or the file cannot be read as UTF-8.
    """
    if isinstance(value, Path) and is_path:
        return read_text_file(value)
    if not isinstance(value, str):
        raise DataError(
            f"expected text (a string), got {type(value).__name__} {value!r}",
            fix="write the text (or its file path) as a string",
        )
    return read_text_file(value) if is_path else value
