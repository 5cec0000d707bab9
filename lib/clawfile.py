"""The Clawfile (SPEC §2.1): its directives read, and the Dockerfile it generates. Pure.

A Clawfile is a Dockerfile (lexed by ``dockerfile.py``, so everything the operator
wrote survives byte for byte) with claw's directives. ``parse`` reads the directives
into ``claw.*`` label values and the file's stages; ``emit`` writes
``Dockerfile.generated``: the directives dropped, chosen FROM images replaced, and the
labels appended to the stage that is built (a pod's ``build.target``, else the final
stage).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from . import cron, dockerfile
from .dockerfile import INSTRUCTIONS, Item, Stage, as_written, from_line, labels_appended
from .errors import InputError

DIRECTIVES = (
    "CLAW_TYPE", "AGENT", "MODEL", "CLLAMA", "PERSONA", "HANDLE", "SURFACE",
    "INVOKE", "PRIVILEGE", "CONFIGURE", "TRACK", "SKILL",
)  # fmt: skip
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SURFACE = re.compile(r"^([a-z][a-z0-9+.-]*)://(\S+)$")
SURFACE_MODES = ("read-only", "read-write")
MODAL_SURFACES = ("volume", "host")


@dataclass(frozen=True)
class Clawfile:
    name: str  # as shown in messages: the path the operator gave
    escape: str
    items: tuple[Item, ...]
    stages: tuple[Stage, ...]
    claw_type: str
    labels: Mapping[str, str] = field(default_factory=dict)


def mentions_claw_type(text: str, name: str) -> bool:
    """Whether a build file has a CLAW_TYPE directive (outside heredoc bodies)."""
    _, items = dockerfile.lex(text, name)
    return any(item.keyword == "CLAW_TYPE" for item in items)


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


def parse(text: str, name: str = "Clawfile") -> Clawfile:
    escape, items = dockerfile.lex(text, name)
    labels: dict[str, str] = {}
    counters: dict[str, int] = {}
    claw_type: str | None = None
    for item in items:
        if item.keyword is None:
            continue
        if item.keyword.startswith("CLAW_") and item.keyword != "CLAW_TYPE":
            raise InputError(f"{name}:{item.lineno}: unknown directive {item.keyword}")
        if item.keyword not in DIRECTIVES and item.keyword not in INSTRUCTIONS:
            raise InputError(f"{name}:{item.lineno}: {_unknown_instruction(item.keyword)}")
        if item.keyword not in DIRECTIVES:
            continue
        where = f"{name}:{item.lineno}"
        for key, value in _DIRECTIVE_PARSERS[item.keyword](item.args, where):
            if "<i>" in key:
                number = counters.get(key, 0)
                counters[key] = number + 1
                key = key.replace("<i>", str(number))
            elif key in labels:
                raise InputError(f"{where}: {_duplicate_message(item.keyword, key)}")
            labels[key] = value
        if item.keyword == "CLAW_TYPE":
            claw_type = labels["claw.type"]
    if claw_type is None:
        raise InputError(f"{name}: missing CLAW_TYPE directive")
    stages = tuple(dockerfile.stages(items, name))
    if not stages:
        raise InputError(f"{name}: no FROM instruction")
    return Clawfile(name, escape, tuple(items), stages, claw_type, labels)


def _unknown_instruction(keyword: str) -> str:
    import difflib

    close = difflib.get_close_matches(keyword, (*INSTRUCTIONS, *DIRECTIVES), n=1, cutoff=0.6)
    guess = f" (did you mean {close[0]}?)" if close else ""
    return (
        f"unknown instruction {keyword}{guess}: a Clawfile takes Dockerfile's instructions "
        "and claw's directives"
    )


def from_slip(clawfile: Clawfile, alias: str) -> InputError | None:
    """A FROM that was meant to name the runner base ``alias`` of the Clawfile's
    CLAW_TYPE, when no FROM names it: a near miss of the alias (``opencalw``), or the
    driver where the alias differs (``FROM nanoclaw`` for ``nanoclaw-orchestrator``).
    Caught here, it is bad input; left alone, docker would ask Docker Hub for it."""
    import difflib

    stages: set[str] = set()
    candidates: list[tuple[Stage, str]] = []
    for stage in clawfile.stages:
        written = stage.image.lower()
        name = re.split(r"[@:]", written, maxsplit=1)[0]
        if written not in stages:
            if name == alias:
                return None
            candidates.append((stage, name))
        if stage.name:
            stages.add(stage.name.lower())
    for stage, name in candidates:
        if "/" in name or "$" in name:
            continue  # a registry's image, or one named by an ARG: meant as written
        if (name == clawfile.claw_type and name != alias) or difflib.get_close_matches(name, [alias], 1, 0.8):
            return InputError(
                f"{clawfile.name}:{stage.lineno}: FROM {stage.image}: did you mean {alias}? "
                f"(CLAW_TYPE {clawfile.claw_type} builds on the runner base {alias}; "
                f"docker would ask a registry for {name})"
            )
    return None


def _duplicate_message(keyword: str, key: str) -> str:
    detail = {"MODEL": "slot", "HANDLE": "platform", "PRIVILEGE": "mode"}.get(keyword)
    if detail:
        return f"duplicate {keyword} {detail} {key.rsplit('.', 1)[1]!r}"
    return f"duplicate {keyword} directive"


Pairs = list[tuple[str, str]]


def _words(args: str, where: str, keyword: str, count: int | None, usage: str) -> list[str]:
    words = args.split()
    if not words or (count is not None and len(words) != count):
        raise InputError(f"{where}: {keyword} expects {usage}")
    return words


def _name(value: str, where: str, what: str) -> str:
    if not _NAME.match(value):
        raise InputError(f"{where}: invalid {what} {value!r} (letters, digits, '.', '_', '-')")
    return value


def _claw_type(args: str, where: str) -> Pairs:
    (driver,) = _words(args, where, "CLAW_TYPE", 1, "one driver name")
    return [("claw.type", _name(driver.lower(), where, "driver name"))]


def _agent(args: str, where: str) -> Pairs:
    (path,) = _words(args, where, "AGENT", 1, "one file")
    return [("claw.agent.file", path)]


def _keyed_rest(keyword: str, what: str, usage: str) -> Callable[[str, str], Pairs]:
    """``KEYWORD <key> <value...>``: the value is the rest of the line, verbatim (spaces,
    quotes, ``$``, backslashes), as upstream reads it; the label escapes it on output."""

    def parse_keyed(args: str, where: str) -> Pairs:
        parts = args.split(None, 1)
        if len(parts) < 2:
            raise InputError(f"{where}: {keyword} expects {usage}")
        return [(f"claw.{keyword.lower()}.{_name(parts[0], where, what)}", parts[1].strip())]

    return parse_keyed


def _cllama(args: str, where: str) -> Pairs:
    return [("claw.cllama.<i>", kind) for kind in _words(args, where, "CLLAMA", None, "<type>")]


def _persona(args: str, where: str) -> Pairs:
    (ref,) = _words(args, where, "PERSONA", 1, "one reference")
    return [("claw.persona.default", ref)]


def _handle(args: str, where: str) -> Pairs:
    (platform,) = _words(args, where, "HANDLE", 1, "one platform")
    return [(f"claw.handle.{_name(platform.lower(), where, 'platform')}", "true")]


def _surface(args: str, where: str) -> Pairs:
    words = _words(args, where, "SURFACE", None, "<scheme://target> [read-only|read-write]")
    match = _SURFACE.match(words[0])
    if match is None or len(words) > 2:
        raise InputError(f"{where}: SURFACE expects <scheme://target> [read-only|read-write]")
    if len(words) == 2:
        if words[1] not in SURFACE_MODES:
            raise InputError(f"{where}: unknown SURFACE mode {words[1]!r} (read-only or read-write)")
        if match[1] not in MODAL_SURFACES:
            raise InputError(f"{where}: a mode is only allowed on volume:// and host:// surfaces")
    return [("claw.surface.<i>", " ".join(words))]


def _invoke(args: str, where: str) -> Pairs:
    parts = args.split(None, 5)
    if len(parts) < 6:
        raise InputError(f"{where}: INVOKE expects 5 cron fields and a command")
    for text, spec in zip(parts[:5], cron.FIELDS, strict=True):
        cron.check_field(text, spec, where)
    return [("claw.invoke.<i>", " ".join(parts[:5]) + "\t" + parts[5].strip())]


def _rest(keyword: str, key: str, usage: str) -> Callable[[str, str], Pairs]:
    def parse_rest(args: str, where: str) -> Pairs:
        if not args.strip():
            raise InputError(f"{where}: {keyword} expects {usage}")
        return [(key, args.strip())]

    return parse_rest


def _track(args: str, where: str) -> Pairs:
    managers = _words(args, where, "TRACK", None, "one or more package managers")
    return [("claw.track.<i>", _name(m.lower(), where, "package manager")) for m in managers]


def _skill(args: str, where: str) -> Pairs:
    (path,) = _words(args, where, "SKILL", 1, "one path")
    return [("claw.skill.<i>", path)]


_DIRECTIVE_PARSERS: Mapping[str, Callable[[str, str], Pairs]] = {
    "CLAW_TYPE": _claw_type,
    "AGENT": _agent,
    "MODEL": _keyed_rest("MODEL", "model slot", "<slot> <provider/model>"),
    "CLLAMA": _cllama,
    "PERSONA": _persona,
    "HANDLE": _handle,
    "SURFACE": _surface,
    "INVOKE": _invoke,
    "PRIVILEGE": _keyed_rest("PRIVILEGE", "privilege mode", "<mode> <spec>"),
    "CONFIGURE": _rest("CONFIGURE", "claw.configure.<i>", "a command"),
    "TRACK": _track,
    "SKILL": _skill,
}


# --------------------------------------------------------------------------
# Emitting Dockerfile.generated
# --------------------------------------------------------------------------


def emit(
    clawfile: Clawfile,
    *,
    labels: Mapping[str, str] | None = None,
    from_images: Mapping[int, str] | None = None,
    target: str | None = None,
) -> str:
    """The Dockerfile docker builds: claw directives removed, chosen FROM images
    replaced (``from_images`` maps a stage index to its new image) and
    ``labels`` (default: the Clawfile's own) appended to the stage that is built:
    the one named ``target`` (a pod's ``build.target``), else the final stage."""
    return "".join(text for text, _ in _emitted(clawfile, labels, from_images, target))


def source_lines(
    clawfile: Clawfile,
    *,
    labels: Mapping[str, str] | None = None,
    from_images: Mapping[int, str] | None = None,
    target: str | None = None,
) -> list[int | None]:
    """For each line of what ``emit`` writes (index 0 is line 1), the Clawfile line it
    came from; ``None`` for the appended LABEL instruction."""
    lines: list[int | None] = []
    for text, start in _emitted(clawfile, labels, from_images, target):
        count = text.count("\n") + (0 if text.endswith("\n") else 1)
        lines += [None if start is None else start + i for i in range(count)]
    return lines


def _emitted(
    clawfile: Clawfile,
    labels: Mapping[str, str] | None,
    from_images: Mapping[int, str] | None,
    target: str | None = None,
) -> list[tuple[str, int | None]]:
    """The pieces of the generated file, each with the Clawfile line it starts at."""
    rewrites = from_images or {}
    stage_of = {stage.item: (number, stage) for number, stage in enumerate(clawfile.stages)}
    ends = _stage_end(clawfile, target)  # the item the built stage ends before, if not the last
    wanted = clawfile.labels if labels is None else labels
    out: list[tuple[str, int | None]] = []
    for index, item in enumerate(clawfile.items):
        if index == ends:
            out = labels_appended(out, wanted, clawfile.escape)
        if item.keyword in DIRECTIVES:
            continue
        number, stage = stage_of.get(index, (-1, None))
        if stage is not None and number in rewrites:
            text = from_line(stage, rewrites[number])
        else:
            text = as_written(item, clawfile.escape)
        out.append((text, item.lineno))
    if ends is not None:
        return out
    return labels_appended(out, wanted, clawfile.escape)


def _stage_end(clawfile: Clawfile, target: str | None) -> int | None:
    """The index of the FROM item that follows the stage named ``target`` (docker reads
    stage names case-insensitively); None when that stage is the last one, or no stage is
    named so (docker then refuses the target itself)."""
    if target is None:
        return None
    for number, stage in enumerate(clawfile.stages):
        if stage.name is not None and stage.name.lower() == target.lower():
            following = clawfile.stages[number + 1 :]
            return following[0].item if following else None
    return None
