"""Dockerfile text as docker's parser reads it, and written back. Pure functions.

The lexer keeps everything as written, byte for byte: parser directives (``# syntax=``,
``# escape=``), comments, blank lines, line continuations and heredocs. Only ``\\n``
ends a line, as in docker (not the other separators ``str.splitlines`` knows). On it:
a file's stages, the images it builds from (FROM, ``COPY --from``, ``RUN --mount
from=``) and the ARGs it declares; the same text with those images replaced (a locked
build) or with labels appended as one LABEL instruction. A Clawfile is lexed here too
(``clawfile.py`` reads its directives); recipes and plain Dockerfiles only ever here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .errors import InputError

HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)  # fmt: skip
"""Dockerfile's own instructions (a Clawfile adds claw's directives to them)."""

_PARSER_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"(?:^|\s)\d*<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2(?=\s|$)")


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
    item: int  # index of its FROM among the file's items
    lineno: int
    image: str
    platform: str | None
    name: str | None
    flags: tuple[str, ...] = ()


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


def stages(items: list[Item], name: str) -> Iterator[Stage]:
    """The stages of lexed ``items``, one per FROM; a FROM of the wrong shape is bad input."""
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
    texts = [as_written(item, escape) for item in items]
    for index, written, image in _image_words(items):
        if image not in images:
            continue
        item = items[index]
        if item.keyword == "FROM":
            stage = next(s for s in stages([item], name))
            texts[index] = from_line(stage, images[image])
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


# --------------------------------------------------------------------------
# Writing it back
# --------------------------------------------------------------------------


def labelled(text: str, labels: Mapping[str, str], name: str) -> str:
    """The Dockerfile ``text`` with ``labels`` added to its final stage, as one LABEL
    instruction at the end (an open continuation there closed first). The legacy
    builder makes each ``--label`` a step of its own, a container and a commit each;
    one instruction is one step, and BuildKit reads both alike."""
    escape, items = lex(text, name)
    pieces = labels_appended([(as_written(item, escape), item.lineno) for item in items], labels, escape)
    return "".join(piece for piece, _ in pieces)


def as_written(item: Item, escape: str) -> str:
    """An item's text, a continuation left open at the end of the file closed."""
    return _close_continuation(item.text, escape) if item.dangling else item.text


def labels_appended(
    pieces: list[tuple[str, int | None]], labels: Mapping[str, str], escape: str
) -> list[tuple[str, int | None]]:
    """``pieces`` of a Dockerfile, the last ended by a newline, then one LABEL instruction
    of ``labels`` (none when there are none)."""
    if pieces and not pieces[-1][0].endswith("\n"):
        pieces[-1] = (pieces[-1][0] + "\n", pieces[-1][1])
    if labels:
        pieces.append((label_instruction(labels, escape), None))
    return pieces


def from_line(stage: Stage, image: str) -> str:
    """The FROM line of ``stage`` building from ``image`` instead, its flags and name kept."""
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
