"""Tiny "upstream" images made from busybox and pushed to the private registry.

No internet: the root filesystem is the static busybox binary with a link per
applet, plus whatever files a test adds (say, a fake runtime that prints its
version). ``docker import`` turns it into an image; ``docker push`` publishes
it, which is how tests simulate an upstream release.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Mapping
from pathlib import Path

from tests.harness.engine import Engine


def _busybox() -> Path:
    found = shutil.which("busybox")
    if found is None:
        raise RuntimeError("busybox is not installed (Debian: busybox-static)")
    return Path(found)


def rootfs(files: Mapping[str, str] | None = None) -> bytes:
    """A tar of busybox (/bin/*) plus ``files`` (path -> text; under a bin/ dir = executable)."""
    busybox = _busybox()
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp", "etc", "usr", "usr/local", "usr/local/bin"):
            _add(tar, directory, b"", tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755)
        _add(tar, "bin/busybox", busybox.read_bytes(), tarfile.REGTYPE, 0o755)
        for applet in applets:
            if applet != "busybox":
                _add(tar, f"bin/{applet}", b"", tarfile.SYMTYPE, 0o777, link="busybox")
        for path, text in (files or {}).items():
            mode = 0o755 if "/bin/" in f"/{path.lstrip('/')}" else 0o644
            _add(tar, path.lstrip("/"), text.encode(), tarfile.REGTYPE, mode)
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes, kind: bytes, mode: int, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, len(data), link
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def docker(engine: Engine, *argv: str, stdin: bytes | None = None) -> str:
    """The harness's own docker calls (claw's go through lib.docker)."""
    result = subprocess.run(
        ["docker", *argv], input=stdin, capture_output=True, env={**os.environ, **engine.env}, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(argv)}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode().strip()


def make_image(
    engine: Engine, ref: str, files: Mapping[str, str] | None = None, cmd: str = '["/bin/sh"]'
) -> str:
    """Import a busybox image as ``ref`` into the private engine; returns its ID."""
    return docker(engine, "import", "--change", f"CMD {cmd}", "-", ref, stdin=rootfs(files))


def publish(
    engine: Engine, name: str, tag: str, files: Mapping[str, str] | None = None, cmd: str = '["/bin/sh"]'
) -> str:
    """Push a busybox image to the private registry as an upstream release.

    Returns the registry ref. The local copy is removed, as on a fresh host."""
    ref = f"{engine.registry}/upstream/{name}:{tag}"
    make_image(engine, ref, files, cmd)
    docker(engine, "push", ref)
    docker(engine, "image", "rm", ref)
    return ref
