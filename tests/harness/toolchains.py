"""The two docker toolchains the integration tests run under (SPEC §8.1).

- ``legacy+v1``: no buildx, so ``docker build`` uses the engine's legacy
  builder; ``docker compose`` does not answer, so compose is the standalone
  ``docker-compose`` 1.x (Debian 12's package).
- ``buildkit+v2``: the ``docker-buildx`` and ``docker-compose`` v2 CLI plugins,
  so ``docker build`` goes through BuildKit (the engine's embedded one, the
  ``default`` builder) and compose is ``docker compose`` 2.x.

Debian 12 packages neither plugin; Debian 13 does, and its two packages need
only libc6 >= 2.34. ``ensure()`` downloads them through apt with a private,
throwaway sources list, state and cache (nothing under /etc/apt, /var/lib/apt
or /var/lib/dpkg is read for packages or written), unpacks them with
``dpkg -x`` and keeps the two binaries in ``<cache>/cli-plugins/``.

Each toolchain gets a private ``DOCKER_CONFIG`` (never the operator's
~/.docker): ``buildkit+v2``'s holds links to the two plugins; ``legacy+v1``'s
holds none, and where the host itself has system-wide plugins it holds
deliberately broken stand-ins of the same names, which the docker CLI finds
first and then treats as absent.

Usage as a script: python -m tests.harness.toolchains [CACHE_DIR]
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

LEGACY = "legacy+v1"
BUILDKIT = "buildkit+v2"
IDS = (LEGACY, BUILDKIT)

SUITE = "trixie"  # Debian 13: the first release that packages both plugins
PLUGINS = ("docker-compose", "docker-buildx")  # package name == binary name
PLUGIN_PATH_IN_DEB = Path("usr/libexec/docker/cli-plugins")
# Where the docker CLI looks for plugins after $DOCKER_CONFIG/cli-plugins (docker/cli, Linux).
SYSTEM_PLUGIN_DIRS = (
    Path("/usr/local/lib/docker/cli-plugins"),
    Path("/usr/local/libexec/docker/cli-plugins"),
    Path("/usr/lib/docker/cli-plugins"),
    Path("/usr/libexec/docker/cli-plugins"),
)
# Variables that would pick another builder or break the private config.
SELECTORS = ("DOCKER_BUILDKIT", "BUILDX_BUILDER", "DOCKER_CONTEXT")
MANIFEST = ".fetched.json"
APT_TIMEOUT = 900.0
PROBE_TIMEOUT = 30.0
LOCK_TIMEOUT = 300  # seconds apt waits for a dpkg lock held by another apt run
APT_SOURCES = Path("/etc/apt/sources.list")
APT_SOURCE_PARTS = Path("/etc/apt/sources.list.d")
OS_RELEASE = Path("/etc/os-release")
NOT_A_PLUGIN = "#!/bin/sh\n# Hides a system-wide docker CLI plugin: it answers no metadata, so the CLI skips it.\nexit 1\n"

# toolchain id -> what describe() printed for it this run (for a test-summary line).
DESCRIBED: dict[str, str] = {}


class ToolchainUnavailable(RuntimeError):
    """The buildkit+v2 plugins could not be fetched (and why, in apt's words where apt failed)."""


# --------------------------------------------------------------------------
# Toolchains
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Toolchain:
    id: str
    config: Path  # the private DOCKER_CONFIG its docker calls use

    @property
    def buildkit(self) -> bool:
        return self.id == BUILDKIT

    def env(self, base_env: Mapping[str, str]) -> dict[str, str]:
        """``base_env`` with this toolchain's DOCKER_CONFIG and no builder selectors."""
        env = {key: value for key, value in base_env.items() if key not in SELECTORS}
        env["DOCKER_CONFIG"] = str(self.config)
        return env

    def describe(self, base_env: Mapping[str, str]) -> str:
        text = describe(self.env(base_env))
        DESCRIBED[self.id] = text
        return text


def prepare(toolchain_id: str, config: Path, plugins: Path | None = None) -> Toolchain:
    """Make the private DOCKER_CONFIG ``config`` for ``toolchain_id``.

    ``plugins`` is the folder ``ensure()`` returned; ``buildkit+v2`` needs it."""
    if toolchain_id not in IDS:
        raise ValueError(f"unknown toolchain {toolchain_id!r} (known: {', '.join(IDS)})")
    config = config.absolute()
    shutil.rmtree(config / "cli-plugins", ignore_errors=True)
    (config / "cli-plugins").mkdir(parents=True)
    (config / "config.json").write_text("{}\n")  # also keeps docker-py (compose v1) off ~/.docker
    if toolchain_id == BUILDKIT:
        if plugins is None or not _complete(plugins):
            raise ValueError(f"{BUILDKIT} needs the folder ensure() returned, got {plugins}")
        for name in PLUGINS:
            (config / "cli-plugins" / name).symlink_to(plugins.absolute() / "cli-plugins" / name)
    else:
        for name in system_plugins():
            stand_in = config / "cli-plugins" / name
            stand_in.write_text(NOT_A_PLUGIN)
            stand_in.chmod(0o755)
    return Toolchain(toolchain_id, config)


def system_plugins() -> list[str]:
    """The plugin names of ours that the host has installed system-wide."""
    return [name for name in PLUGINS if any((d / name).exists() for d in SYSTEM_PLUGIN_DIRS)]


def describe(env: Mapping[str, str]) -> str:
    """Which docker CLI runs under ``env``, and what it, compose v2, compose v1 and buildx say their
    versions are (one line each; a failing command shows its exit status and first error line)."""
    docker = shutil.which("docker", path=env.get("PATH", os.defpath)) or "docker (not found)"
    lines = [f"docker: {docker}"]
    for argv in (
        ("docker", "--version"),
        ("docker", "compose", "version"),
        ("docker-compose", "version", "--short"),
        ("docker", "buildx", "version"),
    ):
        lines.append(f"{' '.join(argv)}: {_answer(argv, env)}")
    return "\n".join(lines)


def _answer(argv: tuple[str, ...], env: Mapping[str, str]) -> str:
    try:
        result = subprocess.run(
            argv, env=dict(env), capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(does not run: {exc})"
    out = result.stdout.strip().splitlines()
    if result.returncode == 0 and out:
        return out[0]
    err = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return f"(exit {result.returncode}: {err[0] if err else 'no output'})"


# --------------------------------------------------------------------------
# Fetching the plugins
# --------------------------------------------------------------------------


def ensure(cache_dir: Path) -> Path:
    """Return ``cache_dir``, holding ``cli-plugins/docker-compose`` and ``cli-plugins/docker-buildx``.

    Fetches them the first time; once they are there, returns without asking anything."""
    cache_dir = cache_dir.absolute()
    if _complete(cache_dir):
        return cache_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / ".lock"):
        if _complete(cache_dir):  # another process fetched them while we waited
            return cache_dir
        _clear(cache_dir)
        scratch = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache_dir))
        try:
            scratch.chmod(0o755)  # apt's download sandbox user must reach the lists and .debs
            started = time.monotonic()
            manifest = _fetch(scratch)
            manifest["seconds"] = round(time.monotonic() - started, 1)
            (scratch / "cli-plugins" / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            (scratch / "cli-plugins").rename(cache_dir / "cli-plugins")  # the commit point
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return cache_dir


def fetched(cache_dir: Path) -> dict[str, object]:
    """What ``ensure()`` recorded about its fetch (packages, versions, sizes, time)."""
    data: dict[str, object] = json.loads((cache_dir / "cli-plugins" / MANIFEST).read_text())
    return data


def _complete(cache_dir: Path) -> bool:
    folder = cache_dir / "cli-plugins"
    try:
        sizes = json.loads((folder / MANIFEST).read_text())["sizes"]
        return all(
            (folder / name).is_file()
            and os.access(folder / name, os.X_OK)
            and (folder / name).stat().st_size == sizes[name]
            for name in PLUGINS
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _clear(cache_dir: Path) -> None:
    """Remove what an earlier, interrupted fetch left behind."""
    shutil.rmtree(cache_dir / "cli-plugins", ignore_errors=True)
    for leftover in cache_dir.glob(".fetch-*"):
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch(scratch: Path) -> dict[str, object]:
    """Download, unpack and check the plugins; leave them in ``scratch/cli-plugins``."""
    for program in ("apt-get", "dpkg", "dpkg-deb"):
        if shutil.which(program) is None:
            raise ToolchainUnavailable(f"{program} is not installed: the plugins come from Debian packages")
    mirror = debian_mirror()
    config = _apt_tree(scratch, mirror)
    debs = scratch / "debs"
    debs.mkdir()
    _give_to_sandbox_user(debs)
    apt = ["apt-get", "-q", "-c", str(config), "-o", f"DPkg::Lock::Timeout={LOCK_TIMEOUT}"]
    update = _run([*apt, "--error-on=any", "update"], scratch, f"apt-get update ({SUITE} from {mirror.uris})")
    download = _run([*apt, "download", *PLUGINS], debs, f"apt-get download {' '.join(PLUGINS)}")
    unpacked = scratch / "unpacked"
    out = scratch / "cli-plugins"
    out.mkdir()
    versions: dict[str, str] = {}
    for deb in sorted(debs.glob("*.deb")):
        fields = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"], scratch, f"dpkg-deb -f {deb.name}")
        info = dict(line.split(": ", 1) for line in fields.stdout.splitlines() if ": " in line)
        versions[info.get("Package", deb.name)] = info.get("Version", "?")
        _run(["dpkg", "-x", str(deb), str(unpacked)], scratch, f"dpkg -x {deb.name}")
    sizes: dict[str, int] = {}
    digests: dict[str, str] = {}
    for name in PLUGINS:
        source = unpacked / PLUGIN_PATH_IN_DEB / name
        if not source.is_file():
            raise ToolchainUnavailable(f"the {name} package has no {PLUGIN_PATH_IN_DEB / name}")
        shutil.copyfile(source, out / name)
        (out / name).chmod(0o755)
        _check_plugin(out / name)
        sizes[name] = (out / name).stat().st_size
        digests[name] = hashlib.sha256((out / name).read_bytes()).hexdigest()
    return {
        "suite": SUITE,
        "mirror": mirror.uris,
        "packages": versions,
        "sizes": sizes,
        "sha256": digests,
        "downloaded_bytes": _fetched_bytes(update.stdout) + _fetched_bytes(download.stdout),
        "debs_bytes": sum(deb.stat().st_size for deb in debs.glob("*.deb")),
    }


def _check_plugin(binary: Path) -> None:
    """A plugin answers its metadata call; this also proves it runs on this libc."""
    argv = [str(binary), "docker-cli-plugin-metadata"]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False)
        json.loads(result.stdout)["SchemaVersion"]
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError) as exc:
        raise ToolchainUnavailable(f"{binary.name} does not run on this host: {exc}") from exc
    if result.returncode != 0:
        raise ToolchainUnavailable(f"{binary.name} does not run on this host: {result.stderr.strip()}")


def _fetched_bytes(apt_output: str) -> int:
    """The sum of apt's "Fetched 9820 kB in 3s" lines (apt's units are powers of 1000)."""
    scale = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9}
    found = re.findall(r"^Fetched ([\d.]+) ([kMG]?)B\b", apt_output, flags=re.MULTILINE)
    return sum(int(float(number) * scale[unit]) for number, unit in found)


def _give_to_sandbox_user(folder: Path) -> None:
    """apt downloads as its sandbox user when run as root; let it write the .debs here."""
    if os.geteuid() != 0:
        return
    with contextlib.suppress(KeyError, OSError):
        os.chown(folder, pwd.getpwnam("_apt").pw_uid, -1)


def _run(argv: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C", "LANGUAGE": ""}
    try:
        result = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolchainUnavailable(f"{what} took longer than {APT_TIMEOUT:g}s") from exc
    except OSError as exc:
        raise ToolchainUnavailable(f"{what}: {exc}") from exc
    if result.returncode != 0:
        raise ToolchainUnavailable(f"{what} failed (exit {result.returncode}): {_apt_words(result)}")
    return result


def _apt_words(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines() if line.strip()]
    said = [
        line
        for line in lines
        if line.startswith(("E:", "W:", "Err:", "dpkg")) and "unsandboxed" not in line  # not the cause
    ]
    return " | ".join(said or lines[-5:]) or "no output"


# --------------------------------------------------------------------------
# The private apt tree
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    uris: str  # space-separated, as in a deb822 URIs field
    signed_by: tuple[str, ...] = ()  # the Signed-By value: a keyring path or fingerprints, or an inline key


def debian_mirror() -> Source:
    """The host's Debian mirror: the first ``deb`` source for the host's own release."""
    release = _os_release()
    if release.get("ID") != "debian":
        raise ToolchainUnavailable(
            f"the plugins come from Debian {SUITE}; this host is {release.get('PRETTY_NAME', 'not Debian')}"
        )
    codename = release.get("VERSION_CODENAME", "")
    files = [APT_SOURCES] if APT_SOURCES.is_file() else []
    if APT_SOURCE_PARTS.is_dir():
        files += sorted(p for p in APT_SOURCE_PARTS.iterdir() if p.suffix in (".list", ".sources"))
    for path in files:
        entries = _deb822(path.read_text()) if path.suffix == ".sources" else _one_line(path.read_text())
        for types, uris, suites, signed_by in entries:
            if "deb" in types and codename in suites and uris:
                return Source(" ".join(uris), signed_by)
    raise ToolchainUnavailable(
        f"no deb source for {codename or 'this release'} in {APT_SOURCES} or {APT_SOURCE_PARTS}/"
    )


Entry = tuple[list[str], list[str], list[str], tuple[str, ...]]  # types, uris, suites, signed-by


def _one_line(text: str) -> list[Entry]:
    entries: list[Entry] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        match = re.match(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
        if match is None:
            continue
        kind, options, uri, suite = match.groups()
        signed = re.search(r"(?:^|\s)signed-by=(\S+)", options or "")
        entries.append(([kind], [uri], [suite], (signed.group(1),) if signed else ()))
    return entries


def _deb822(text: str) -> list[Entry]:
    entries: list[Entry] = []
    for paragraph in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, list[str]] = {}
        key = ""
        for line in paragraph.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, value = (part.strip() for part in line.split(":", 1))
                key = key.lower()
                fields[key] = [value] if value else []
        if not fields or " ".join(fields.get("enabled", ["yes"])).lower() == "no":
            continue
        signed = tuple(fields.get("signed-by", []))
        words = {k: " ".join(v).split() for k, v in fields.items() if k != "signed-by"}
        entries.append((words.get("types", []), words.get("uris", []), words.get("suites", []), signed))
    return entries


def _os_release() -> dict[str, str]:
    values: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in OS_RELEASE.read_text().splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip().strip("\"'")
    return values


def _apt_tree(scratch: Path, mirror: Source) -> Path:
    """Private sources, preferences, lists, status, cache and log; returns the apt config file."""
    etc, state, cache = scratch / "etc", scratch / "state", scratch / "cache"
    for folder in (etc / "sources.list.d", etc / "preferences.d", state / "lists" / "partial",
                   cache / "archives" / "partial", scratch / "log"):  # fmt: skip
        folder.mkdir(parents=True)
        folder.chmod(0o755)
    (state / "status").write_text("")  # no installed packages: the host's dpkg database is not read
    sources = f"Types: deb\nURIs: {mirror.uris}\nSuites: {SUITE}\nComponents: main\n"
    if mirror.signed_by:
        sources += "Signed-By: " + "\n ".join(mirror.signed_by) + "\n"
    (etc / f"{SUITE}.sources").write_text(sources)
    settings = {
        "Dir::Etc::sourcelist": etc / f"{SUITE}.sources",
        "Dir::Etc::sourceparts": etc / "sources.list.d",
        "Dir::Etc::preferences": etc / "preferences",
        "Dir::Etc::preferencesparts": etc / "preferences.d",
        "Dir::State": state,
        "Dir::State::lists": state / "lists",
        "Dir::State::status": state / "status",
        "Dir::State::extended_states": state / "extended_states",
        "Dir::Cache": cache,
        "Dir::Cache::archives": cache / "archives",
        "Dir::Log": scratch / "log",
    }
    lines = [f'{key} "{value}";' for key, value in settings.items()]
    # The host's own hooks (say, telling PackageKit its lists changed) are not for this update.
    lines += [f"#clear APT::Update::{hook};" for hook in ("Pre-Invoke", "Post-Invoke", "Post-Invoke-Success")]
    config = etc / "apt.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


def main(argv: list[str]) -> int:
    cache = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / ".cache" / "toolchains"
    try:
        folder = ensure(cache)
    except ToolchainUnavailable as exc:
        print(f"toolchains: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(fetched(folder), indent=2))
    with tempfile.TemporaryDirectory(prefix="claw-toolchains-") as scratch:
        for toolchain_id in IDS:
            toolchain = prepare(toolchain_id, Path(scratch) / toolchain_id, folder)
            print(f"{toolchain_id}:\n  " + toolchain.describe(os.environ).replace("\n", "\n  "))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
