"""The operator's input files (errors name the file), and where claw keeps its logs."""

from __future__ import annotations

import os
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


def state_dir() -> Path:
    """Where claw keeps logs for the operator: ``$XDG_STATE_HOME/claw`` (``~/.local/state/claw``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "claw"
