"""Reading the operator's input files, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

from lib.errors import InputError


def read_input(path: Path, what: str) -> str:
    """The text of ``path``; a missing or unreadable file is an InputError."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read {what}: {exc}") from None
