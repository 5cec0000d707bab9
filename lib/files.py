"""The operator's input files (errors name the file), where claw keeps its logs, and the
data that ships with claw."""

from __future__ import annotations

import datetime
import os
import threading
from pathlib import Path
from typing import IO

from .errors import ClawError, InputError

DATA = Path(__file__).resolve().parent / "data"  # runners.toml, recipes/, infra.toml


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


class OutputLog:
    """The full output of long docker work (a refresh, a build), kept for the operator
    when it fails: ``$XDG_STATE_HOME/claw/logs/<name>-<time>-<pid>.log``."""

    def __init__(self, name: str) -> None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
        safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in name)
        self.path = state_dir() / "logs" / f"{safe}-{stamp}-{os.getpid()}.log"
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None

    def __enter__(self) -> OutputLog:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8")
        except OSError:
            self._handle = None  # no log beats no refresh
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()

    @property
    def kept(self) -> bool:
        return self._handle is not None

    def write(self, text: str) -> None:
        with self._lock:
            if self._handle is not None and text:
                self._handle.write(text if text.endswith("\n") else text + "\n")
                self._handle.flush()  # an operator may be following it

    def discard(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
                self.path.unlink(missing_ok=True)


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    import tempfile

    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise ClawError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        raise ClawError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
