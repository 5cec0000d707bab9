"""Labels as docker reads them from a Dockerfile: a model of its parser and shell lexer,
for tests that check what claw writes (and for in-memory engines, which read the labels
of what they "build" from the Dockerfile they are given)."""

from __future__ import annotations

from pathlib import Path

from lib import dockerfile


def docker_label_pairs(instruction: str, escape: str) -> dict[str, str]:
    """Read a LABEL instruction the way docker's parser and shell lexer do.

    Continuations (escape + newline) join lines; any other raw newline would
    end the instruction, so it must not occur. Inside double quotes only
    ``"``, ``$`` and the escape character are un-escaped; a bare ``$`` would be
    expanded, so it must not occur either.
    """
    assert instruction.startswith("LABEL ")
    assert instruction.endswith("\n")
    body = instruction[len("LABEL ") : -1].replace(f"{escape}\n", "")
    assert "\n" not in body, "a raw newline would end the LABEL instruction"
    pairs: dict[str, str] = {}
    i = 0
    while i < len(body):
        if body[i] in " \t":
            i += 1
            continue
        eq = body.index("=", i)
        key = body[i:eq]
        assert body[eq + 1] == '"'
        i, value = eq + 2, []
        while body[i] != '"':
            char = body[i]
            assert char != "$", "an unescaped $ would be expanded"
            if char == escape and body[i + 1] in ('"', "$", escape):
                value.append(body[i + 1])
                i += 2
            else:
                value.append(char)
                i += 1
        pairs[key] = "".join(value)
        i += 1
    return pairs


def as_stored(value: str, escape: str) -> str:
    """What docker stores: line breaks and other controls become visible escapes."""
    out = []
    for char in value:
        if char == "\n":
            out.append(escape + "n")
        elif char == "\r":
            out.append(escape + "r")
        elif (ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F:
            out.append(f"{escape}x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def final_labels(text: str, name: str = "Dockerfile") -> dict[str, str]:
    """The labels of the LABEL instructions of ``text``'s last stage, later ones winning."""
    escape, items = dockerfile.lex(text, name)
    last = max((index for index, item in enumerate(items) if item.keyword == "FROM"), default=0)
    labels: dict[str, str] = {}
    for item in items[last:]:
        if item.keyword == "LABEL":
            labels.update(docker_label_pairs(item.text.rstrip("\n") + "\n", escape))
    return labels


def labels_built(dockerfile: Path | None, dockerfile_text: str | None) -> dict[str, str]:
    """What an image built from this Dockerfile (a file, or text on stdin) is labelled."""
    text = dockerfile_text if dockerfile_text is not None else dockerfile.read_text() if dockerfile else ""
    return final_labels(text)
