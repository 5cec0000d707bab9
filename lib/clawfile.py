"""Clawfile: parse (SPEC §2.1) and emit ``Dockerfile.generated``. Pure functions.

The lexer follows docker's Dockerfile parser closely enough that everything the
operator wrote survives byte for byte: parser directives (``# syntax=``,
``# escape=``), comments, blank lines, line continuations and heredocs. Only
``\\n`` ends a line, as in docker (not the other separators ``str.splitlines``
knows). Claw directives are recognised as whole logical lines and dropped from
the output; their values become ``claw.*`` labels appended to the stage that is built
(a pod's ``build.target``, else the final stage).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from . import cron
from .errors import InputError

DIRECTIVES = (
    "CLAW_TYPE", "AGENT", "MODEL", "CLLAMA", "PERSONA", "HANDLE", "SURFACE",
    "INVOKE", "PRIVILEGE", "CONFIGURE", "TRACK", "SKILL",
)  # fmt: skip
HEREDOC_INSTRUCTIONS = {"RUN", "COPY", "ADD"}
INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)  # fmt: skip
"""Dockerfile's own instructions: with ``DIRECTIVES``, every keyword a Clawfile may use."""

_PARSER_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"(?:^|\s)\d*<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2(?=\s|$)")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SURFACE = re.compile(r"^([a-z][a-z0-9+.-]*)://(\S+)$")
SURFACE_MODES = ("read-only", "read-write")
MODAL_SURFACES = ("volume", "host")


@dataclass(frozen=True)
class Item:
    """One piece of the file: an instruction (all its physical lines, heredoc
    bodies included), a comment, a blank line or a parser directive."""

    lineno: int
    text: str
    keyword: str | None = None  # upper-cased; None for comments and blank lines
    args: str = ""  # the logical line after the keyword, continuations joined
    dangling: bool = False  # ends in a line continuation at end of file


@dataclass(frozen=True)
class Stage:
    item: int  # index into Clawfile.items
    lineno: int
    image: str
    platform: str | None
    name: str | None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Clawfile:
    name: str  # as shown in messages: the path the operator gave
    escape: str
    items: tuple[Item, ...]
    stages: tuple[Stage, ...]
    claw_type: str
    labels: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------
# Lexing
# --------------------------------------------------------------------------


def _physical_lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _continues(line: str, escape: str) -> bool:
    body = line.rstrip("\r\n").rstrip(" \t")
    return body.endswith(escape)


def _is_comment(line: str) -> bool:
    return line.lstrip(" \t").startswith("#")


def _is_blank(line: str) -> bool:
    return not line.strip(" \t\r\n")


def lex(text: str, name: str) -> tuple[str, list[Item]]:
    """Split ``text`` into items; returns the escape character and the items."""
    lines = _physical_lines(text.removeprefix("\ufeff"))
    escape = "\\"
    items: list[Item] = []
    index = 0
    while index < len(lines) and (match := _PARSER_DIRECTIVE.match(lines[index].rstrip("\r\n"))):
        if match[1].lower() == "escape":
            if match[2] not in ("\\", "`"):
                raise InputError(f"{name}:{index + 1}: invalid escape directive {match[2]!r} (use \\ or `)")
            escape = match[2]
        items.append(Item(index + 1, lines[index]))
        index += 1
    while index < len(lines):
        start = index
        line = lines[index]
        if _is_blank(line) or _is_comment(line):
            items.append(Item(index + 1, line))
            index += 1
            continue
        logical: list[str] = []
        continued = True
        while continued and index < len(lines):
            line = lines[index]
            index += 1
            if len(logical) and (_is_comment(line) or _is_blank(line)):
                continue  # docker drops these inside a continuation
            continued = _continues(line, escape)
            logical.append(_strip_escape(line, escape) if continued else line.rstrip("\r\n"))
        joined = "".join(logical).strip()
        if not joined:  # only line continuations: nothing for docker to run
            items.append(Item(start + 1, "".join(lines[start:index]), dangling=continued))
            continue
        keyword, args = _split_keyword(joined)
        if keyword in HEREDOC_INSTRUCTIONS:
            index = _consume_heredocs(lines, index, args, name, start)
        items.append(Item(start + 1, "".join(lines[start:index]), keyword, args, dangling=continued))
    return escape, items


def _split_keyword(logical: str) -> tuple[str, str]:
    parts = logical.split(None, 1)
    return parts[0].upper(), (parts[1].strip() if len(parts) > 1 else "")


def _strip_escape(line: str, escape: str) -> str:
    body = line.rstrip("\r\n").rstrip(" \t")
    return body[: -len(escape)]


def _consume_heredocs(lines: list[str], index: int, args: str, name: str, start: int) -> int:
    for match in _HEREDOC.finditer(args):
        strip_tabs, delimiter = match[1] == "-", match[3]
        while True:
            if index >= len(lines):
                raise InputError(f"{name}:{start + 1}: unterminated heredoc <<{delimiter}")
            body = lines[index].rstrip("\r\n")
            index += 1
            if (body.lstrip("\t") if strip_tabs else body) == delimiter:
                break
    return index


def mentions_claw_type(text: str, name: str) -> bool:
    """Whether a build file has a CLAW_TYPE directive (outside heredoc bodies)."""
    _, items = lex(text, name)
    return any(item.keyword == "CLAW_TYPE" for item in items)


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------


def parse(text: str, name: str = "Clawfile") -> Clawfile:
    escape, items = lex(text, name)
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
    stages = tuple(_stages(items, name))
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


def base_images(text: str, name: str) -> list[str]:
    """The images a Dockerfile builds from, in order, each once: every FROM that names an
    image (not an earlier stage, not ``scratch``), every ``COPY --from=<image>`` and every
    ``RUN --mount=...,from=<image>``. ``${ARG}`` in a name is filled from the ARGs before
    the first FROM; an image that still holds a ``$`` is returned as written (the caller
    cannot ask about it)."""
    _, items = lex(text, name)
    return list(dict.fromkeys(image for _, _, image in _image_words(items)))


def with_images(text: str, name: str, images: Mapping[str, str]) -> str:
    """``text`` with every image of ``base_images`` that ``images`` maps replaced by its
    value (a locked build: each FROM, ``COPY --from`` and ``RUN --mount from=`` to its
    digest ref). Stages, ``scratch`` and unmapped images stay as written."""
    escape, items = lex(text, name)
    texts = [_as_written(item, escape) for item in items]
    for index, written, image in _image_words(items):
        if image not in images:
            continue
        item = items[index]
        if item.keyword == "FROM":
            stage = next(s for s in _stages([item], name))
            texts[index] = _from_line(stage, images[image])
        else:
            pattern = rf"(?<=from=){re.escape(written)}(?=[\s,]|$)"
            texts[index] = re.sub(
                pattern, images[image].replace("\\", "\\\\"), texts[index], flags=re.MULTILINE
            )
    return "".join(texts)


def _image_words(items: list[Item]) -> Iterator[tuple[int, str, str]]:
    """(item index, the image as written, with ARGs filled) for every image an instruction
    builds from or copies from; earlier stages and ``scratch`` are left out."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    seen_from = False
    for index, item in enumerate(items):
        if item.keyword == "ARG" and not seen_from:
            key, _, value = item.args.strip().partition("=")
            args[key.strip()] = value.strip().strip("\"'")
        words: list[str] = []
        if item.keyword == "FROM":
            seen_from = True
            rest = [w for w in item.args.split() if not w.startswith("--")]
            words = rest[:1]
            if len(rest) == 3:
                stages.add(rest[2].lower())
        elif item.keyword == "COPY":
            words = [w.split("=", 1)[1] for w in item.args.split() if w.startswith("--from=")]
        elif item.keyword == "RUN":
            mounts = [w.split("=", 1)[1] for w in item.args.split() if w.startswith("--mount=")]
            words = [part[5:] for mount in mounts for part in mount.split(",") if part.startswith("from=")]
        for word in words:
            image = _substitute(word, args)
            if not (image.lower() in stages or image.lower() == "scratch" or image.isdigit()):
                yield index, word, image


def declared_args(text: str, name: str) -> set[str]:
    """The names every ``ARG`` instruction of a Dockerfile declares, in any stage."""
    _, items = lex(text, name)
    declared: set[str] = set()
    for item in items:
        if item.keyword == "ARG":
            declared.update(word.partition("=")[0] for word in item.args.split())
    return declared


def _substitute(word: str, args: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        return args.get(match[1] or match[2], match[0])

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", value, word)


def _duplicate_message(keyword: str, key: str) -> str:
    detail = {"MODEL": "slot", "HANDLE": "platform", "PRIVILEGE": "mode"}.get(keyword)
    if detail:
        return f"duplicate {keyword} {detail} {key.rsplit('.', 1)[1]!r}"
    return f"duplicate {keyword} directive"


def _stages(items: list[Item], name: str) -> Iterator[Stage]:
    for index, item in enumerate(items):
        if item.keyword != "FROM":
            continue
        words = item.args.split()
        flags = tuple(w for w in words if w.startswith("--"))
        rest = [w for w in words if not w.startswith("--")]
        if len(rest) not in (1, 3) or (len(rest) == 3 and rest[1].upper() != "AS"):
            raise InputError(f"{name}:{item.lineno}: FROM expects IMAGE [AS NAME]")
        platform = next((f.split("=", 1)[1] for f in flags if f.startswith("--platform=")), None)
        yield Stage(index, item.lineno, rest[0], platform, rest[2] if len(rest) == 3 else None, flags)


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
            out = _labels_appended(out, wanted, clawfile.escape)
        if item.keyword in DIRECTIVES:
            continue
        number, stage = stage_of.get(index, (-1, None))
        if stage is not None and number in rewrites:
            text = _from_line(stage, rewrites[number])
        else:
            text = _as_written(item, clawfile.escape)
        out.append((text, item.lineno))
    if ends is not None:
        return out
    return _labels_appended(out, wanted, clawfile.escape)


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


def labelled(text: str, labels: Mapping[str, str], name: str) -> str:
    """The Dockerfile ``text`` with ``labels`` added to its final stage, as one LABEL
    instruction at the end (an open continuation there closed first). The legacy
    builder makes each ``--label`` a step of its own, a container and a commit each;
    one instruction is one step, and BuildKit reads both alike."""
    escape, items = lex(text, name)
    pieces = _labels_appended([(_as_written(item, escape), item.lineno) for item in items], labels, escape)
    return "".join(piece for piece, _ in pieces)


def _as_written(item: Item, escape: str) -> str:
    """An item's text, a continuation left open at the end of the file closed."""
    return _close_continuation(item.text, escape) if item.dangling else item.text


def _labels_appended(
    pieces: list[tuple[str, int | None]], labels: Mapping[str, str], escape: str
) -> list[tuple[str, int | None]]:
    """``pieces`` of a Dockerfile, the last ended by a newline, then one LABEL instruction
    of ``labels`` (none when there are none)."""
    if pieces and not pieces[-1][0].endswith("\n"):
        pieces[-1] = (pieces[-1][0] + "\n", pieces[-1][1])
    if labels:
        pieces.append((label_instruction(labels, escape), None))
    return pieces


def _from_line(stage: Stage, image: str) -> str:
    alias = f" AS {stage.name}" if stage.name else ""
    return " ".join(("FROM", *stage.flags, image)) + alias + "\n"


def _close_continuation(text: str, escape: str) -> str:
    # A continuation left open at end of file would swallow the LABEL appended
    # after it; docker ignores it there, so dropping it changes nothing else.
    lines = _physical_lines(text)
    last = max(i for i, line in enumerate(lines) if not (_is_comment(line) or _is_blank(line)))
    lines[last] = _strip_escape(lines[last], escape) + "\n"
    return "".join(lines)


def label_instruction(labels: Mapping[str, str], escape: str = "\\") -> str:
    """One LABEL instruction, a ``key="value"`` pair per line."""
    pairs = [f"{_label_key(key)}={quote_label_value(value, escape)}" for key, value in labels.items()]
    return "LABEL " + f" {escape}\n      ".join(pairs) + "\n"


def _label_key(key: str) -> str:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", key):
        raise ValueError(f"unsafe label key: {key!r}")
    return key


def quote_label_value(value: str, escape: str = "\\") -> str:
    """A double-quoted Dockerfile word that reads back as ``value``.

    Inside double quotes docker's lexer un-escapes only ``"``, ``$`` and the
    escape character; every other escape pair is kept as written. So those
    three are escaped, and characters that would end the line (or confuse the
    parser) are written as visible escape sequences (``\\n``, ``\\r``,
    ``\\x00``): the label then holds those characters literally. Nothing in a
    value can end the quoted word, the line or the instruction.
    """
    quoted = (escape + char if char in ('"', "$", escape) else _visible(char, escape) for char in value)
    return '"' + "".join(quoted) + '"'


def _visible(char: str, escape: str) -> str:
    if char == "\n":
        return escape + "n"
    if char == "\r":
        return escape + "r"
    if (ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F:
        return f"{escape}x{ord(char):02x}"
    return char
