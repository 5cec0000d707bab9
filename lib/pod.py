"""claw-pod.yml (SPEC §2.2): a compose file read into a typed plan.

A service with ``build:`` is owned by ``claw build``; one with only ``image:``
by ``claw pull``. Every error names the file, the service and the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import refs
from .errors import InputError
from .files import read_input

if TYPE_CHECKING:
    from .engine.argv import BuildArg

POD_FILES = ("claw-pod.yml", "claw-pod.yaml")
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MERGE = "tag:yaml.org,2002:merge"
_SERVICE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*\Z")  # as compose accepts


@dataclass(frozen=True)
class BuildSpec:
    context: Path
    file: Path
    is_clawfile: bool
    args: tuple[BuildArg, ...] = ()
    target: str | None = None
    text: str | None = field(default=None, repr=False)  # the build file, when read to classify it


@dataclass(frozen=True)
class Service:
    name: str
    ref: str  # the image claw manages for it: `image:`, or claw-local/<pod>-<service>:latest
    image: str | None = None  # as written in the pod
    build: BuildSpec | None = None
    cllama: tuple[str, ...] = ()
    dashboard: bool = False
    ignored: tuple[str, ...] = ()  # x-claw keys claw accepts but does not act on

    @property
    def owner(self) -> str:
        return "build" if self.build is not None else "registry"

    def infra(self) -> tuple[str, ...]:
        """The pinned infra components this service uses, sorted."""
        names = {infra_for_cllama(kind) for kind in self.cllama}
        if self.dashboard:
            names.add("clawdash")
        return tuple(sorted(names))


@dataclass(frozen=True)
class Pod:
    path: Path
    name: str
    services: tuple[Service, ...]
    document: Mapping[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()  # pod-level x-claw keys not acted on
    slips: tuple[str, ...] = ()  # what looks like a typo of a key claw reads (warned, not refused)

    @property
    def built(self) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.build is not None)

    @property
    def pulled(self) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.build is None)

    def not_acted_on(self) -> tuple[str, ...]:
        """The x-claw keys (pod and services) claw accepts and leaves alone."""
        return self.ignored + tuple(key for service in self.services for key in service.ignored)

    def infra(self) -> tuple[str, ...]:
        """The pinned infra components this pod uses, in a stable order."""
        return tuple(sorted({name for service in self.services for name in service.infra()}))


def infra_for_cllama(kind: str) -> str:
    """A ``policy`` cllama type runs on cllama-policy; every other type on cllama."""
    return "cllama-policy" if kind == "policy" or kind.startswith("policy/") else "cllama"


def find(directory: Path) -> Path | None:
    """Auto-resolution: claw-pod.yml, then claw-pod.yaml, in ``directory``."""
    return next((directory / n for n in POD_FILES if (directory / n).is_file()), None)


def load(
    path: Path, detail: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None
) -> Pod:
    """Read a pod; ``detail`` (shown with -v) hears of each x-claw key left alone, ``warn``
    of each key that looks like a typo of ``x-claw``."""
    the_pod = parse(read_input(path, "pod file"), path)
    if detail is not None:
        for key in the_pod.not_acted_on():
            detail(f"{path}: {key}: accepted, not acted on by claw")
    if warn is not None:
        for slip in the_pod.slips:
            warn(slip)
    return the_pod


def parse(text: str, path: Path) -> Pod:
    document = _yaml(text, path)
    check = _Checker(path)
    if not isinstance(document, dict):
        check.fail("", "expected a compose file (a mapping at the top level)")
    x_claw = document.get("x-claw", {})
    check.mapping(x_claw, "x-claw")
    name = _pod_name(check, x_claw, document, path)
    services = document.get("services")
    if not isinstance(services, dict) or not services:
        check.fail("services", "expected a mapping of one or more services")
    parsed = tuple(_service(check, str(key), body, name) for key, body in services.items())
    ignored = tuple(f"x-claw.{k}" for k in x_claw if k != "pod")
    return Pod(path, name, parsed, document, ignored, _near_x_claw(document, text, path))


def _near_x_claw(document: dict[Any, Any], text: str, path: Path) -> tuple[str, ...]:
    """Top-level keys that look like a typo of ``x-claw`` (``x-clw``, ``x_claw``): compose
    ignores any ``x-`` key, so without a word the pod's settings would vanish silently."""
    import difflib

    slips = []
    for key in document:
        if not isinstance(key, str) or key == "x-claw":
            continue
        if key.lower() != "x-claw" and not difflib.get_close_matches(key.lower(), ["x-claw"], 1, 0.8):
            continue
        line = next(
            (f":{number}" for number, written in enumerate(text.split("\n"), 1)
             if written.startswith(key) and written[len(key) :].lstrip(" \t").startswith(":")),
            "",
        )  # fmt: skip
        slips.append(f"{path}{line}: top-level key {key!r} is not read by claw: did you mean 'x-claw'?")
    return tuple(slips)


def _pod_name(check: _Checker, x_claw: dict[str, Any], document: dict[str, Any], path: Path) -> str:
    if "pod" in x_claw:
        name = x_claw["pod"]
        if not isinstance(name, str) or not _PROJECT.match(name):
            check.fail("x-claw.pod", "expected a name of lower-case letters, digits, '_' and '-'")
        return str(name)
    if isinstance(document.get("name"), str) and _PROJECT.match(document["name"]):
        return str(document["name"])
    fallback = refs.sanitize_name(path.resolve().parent.name).replace(".", "-")
    return fallback or "pod"


def _service(check: _Checker, name: str, body: Any, pod: str) -> Service:
    if not _SERVICE.match(name):
        check.fail(f"services.{name!r}", "a service name may hold only letters, digits, '.', '_' and '-'")
    key = f"services.{name}"
    check.mapping(body, key)
    image = body.get("image")
    if image is not None and (not isinstance(image, str) or not refs.is_valid(image)):
        check.fail(f"{key}.image", f"not a valid image reference: {image!r}")
    build = _build(check, key, body["build"]) if "build" in body else None
    if build is None and image is None:
        check.fail(key, "needs `build:` or `image:`")
    x_claw = body.get("x-claw", {})
    check.mapping(x_claw, f"{key}.x-claw")
    cllama = _cllama(check, f"{key}.x-claw.cllama", x_claw.get("cllama", ()))
    dashboard = x_claw.get("dashboard", False)
    if not isinstance(dashboard, bool):
        check.fail(f"{key}.x-claw.dashboard", "expected true or false")
    ref = image if image is not None else managed_ref(pod, name)
    if not refs.is_valid(ref):
        check.fail(key, f"cannot derive a valid image name from pod {pod!r} and service {name!r}")
    ignored = tuple(f"{key}.x-claw.{k}" for k in x_claw if k not in ("cllama", "dashboard"))
    return Service(name, ref, image, build, cllama, dashboard, ignored)


def managed_ref(pod: str, service: str) -> str:
    return f"claw-local/{refs.sanitize_name(f'{pod}-{service}')}:latest"


def _cllama(check: _Checker, key: str, value: Any) -> tuple[str, ...]:
    kinds = [value] if isinstance(value, str) else value
    if not isinstance(kinds, (list, tuple)) or not all(isinstance(k, str) and k.strip() for k in kinds):
        check.fail(key, "expected a type or a list of types")
    return tuple(k.strip() for k in kinds)


def _build(check: _Checker, key: str, value: Any) -> BuildSpec:
    spec = {"context": value} if isinstance(value, str) else value
    check.mapping(spec, f"{key}.build")
    context_text = spec.get("context", ".")
    if not isinstance(context_text, str):
        check.fail(f"{key}.build.context", "expected a path")
    context = (check.path.parent / context_text).resolve()
    if not context.is_dir():
        check.fail(f"{key}.build.context", f"directory not found: {context}")
    target = spec.get("target")
    if target is not None and not isinstance(target, str):
        check.fail(f"{key}.build.target", "expected a stage name")
    file = _build_file(check, key, context, spec.get("dockerfile"))
    is_clawfile, text = _is_clawfile(check, key, file)
    return BuildSpec(context, file, is_clawfile, _args(check, key, spec.get("args")), target, text)


def _build_file(check: _Checker, key: str, context: Path, dockerfile: Any) -> Path:
    if dockerfile is not None:
        if not isinstance(dockerfile, str):
            check.fail(f"{key}.build.dockerfile", "expected a path")
        file = context / dockerfile
        if not file.is_file():
            check.fail(f"{key}.build.dockerfile", f"file not found: {file}")
        return file
    for candidate in ("Clawfile", "Dockerfile"):
        if (context / candidate).is_file():
            return context / candidate
    check.fail(f"{key}.build", f"no Clawfile or Dockerfile in {context}")


def _is_clawfile(check: _Checker, key: str, file: Path) -> tuple[bool, str | None]:
    """Whether the build file is a Clawfile, and its text when it had to be read to tell."""
    if file.name.startswith("Clawfile"):
        return True, None
    from . import clawfile  # a build file not named Clawfile*: only its text tells

    try:
        text = read_input(file, "build file")
        return clawfile.mentions_claw_type(text, str(file)), text
    except InputError as exc:  # say which service points at the broken file
        check.fail(f"{key}.build", exc.message)


def _args(check: _Checker, key: str, value: Any) -> tuple[BuildArg, ...]:
    where = f"{key}.build.args"
    if value is None:
        return ()
    if isinstance(value, dict):
        return tuple((str(k), _scalar(check, f"{where}.{k}", v)) for k, v in value.items())
    if isinstance(value, list):
        pairs = []
        for item in value:
            if not isinstance(item, str) or not item.split("=", 1)[0]:
                check.fail(where, f"expected KEY or KEY=VALUE, got {item!r}")
            name, eq, rest = item.partition("=")
            pairs.append((name, rest if eq else None))
        return tuple(pairs)
    check.fail(where, "expected a mapping or a list")


def _scalar(check: _Checker, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    check.fail(key, "expected a string or a number")


@dataclass(frozen=True)
class _Checker:
    path: Path

    def fail(self, key: str, message: str) -> NoReturn:
        where = f"{self.path}: {key}" if key else str(self.path)
        raise InputError(f"{where}: {message}")

    def mapping(self, value: Any, key: str) -> None:
        if not isinstance(value, dict):
            self.fail(key, "expected a mapping")


def _yaml(text: str, path: Path, *, pure: bool = False) -> Any:
    """Compose's YAML: safe types only, duplicate keys refused; libyaml's parser when
    PyYAML has it (``pure``: never), with the same constructors, so the same rules."""
    import yaml

    base = yaml.SafeLoader if pure else getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[valid-type,misc]
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == MERGE:  # `<<: *defaults`: merged below, explicit keys win
                continue
            key = loader.construct_object(key_node)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise InputError(f"{path}:{line}: duplicate key {key!r}")
            seen.add(key)
        return loader.construct_mapping(node)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        document = yaml.load(text, Loader=Loader)  # noqa: S506 - a safe loader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{_line_of(mark.line, text)}" if mark else ""
        raise InputError(f"{path}{line}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {exc}") from None
    if "*" in text and _expanded_size(document) > MAX_EXPANDED:
        raise InputError(
            f"{path}: its aliases expand it to more than {MAX_EXPANDED:,} values (an alias bomb?); "
            "compose refuses such files too: write the repeated parts out, or alias less deeply"
        )
    return document


def _line_of(index: int, text: str) -> int:
    """The line (from 1) of YAML's 0-based ``index``. A problem found at the end of the
    file is marked past its last line: it is said of the last line that holds something."""
    lines = text.split("\n")
    if index < len(lines) and lines[index].strip():
        return index + 1
    filled = [number for number, line in enumerate(lines[: index + 1]) if line.strip()]
    return (filled[-1] if filled else 0) + 1


MAX_EXPANDED = 1_000_000  # values a pod may expand to through aliases; real pods are far below


def _expanded_size(document: Any) -> int:
    """How many values the document has once every alias is written out. An alias is the
    same Python object again, so this counts each distinct container once (linear in the
    file), where walking the expanded tree would take time exponential in its nesting."""
    sizes: dict[int, int] = {}
    pending: list[tuple[Any, bool]] = [(document, False)]
    while pending:  # post-order without recursion: nesting cannot exhaust the stack
        node, children_done = pending.pop()
        if id(node) in sizes or not isinstance(node, (dict, list)):
            continue
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        if children_done:
            sizes[id(node)] = min(1 + sum(sizes.get(id(c), 1) for c in children), MAX_EXPANDED + 1)
        else:
            pending.append((node, True))
            pending.extend((c, False) for c in children if isinstance(c, (dict, list)))
    return sizes.get(id(document), 1)
