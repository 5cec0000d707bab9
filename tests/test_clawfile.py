from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib import clawfile, dockerfile
from lib.errors import InputError
from tests.harness.dockerfile import as_stored, docker_label_pairs, final_labels

BASIC = """\
FROM openclaw:latest
CLAW_TYPE openclaw
RUN echo hi
"""


def parse(text: str) -> clawfile.Clawfile:
    return clawfile.parse(text, "Clawfile")


# --------------------------------------------------------------------------
# Directives and their labels
# --------------------------------------------------------------------------


def test_every_directive_becomes_its_label() -> None:
    text = """\
FROM openclaw
CLAW_TYPE OpenClaw
AGENT AGENTS.md
MODEL primary openai/gpt-4o
MODEL fallback anthropic/claude
CLLAMA passthrough
CLLAMA policy/strict
PERSONA registry.example/personas/crusher:v2
HANDLE Discord
HANDLE slack
SURFACE volume://shared-data read-only
SURFACE service://fleet-api
SURFACE host:///srv/data read-write
INVOKE 0 9 * * 1-5 tweet-cycle --now
INVOKE */15 0-6,22-23 1 jan,JUL sun run hourly
PRIVILEGE worker root
PRIVILEGE runtime user 1000:1000
CONFIGURE openclaw config set agents.defaults.heartbeat 30m
CONFIGURE echo done
TRACK apt pip
TRACK npm
SKILL skills/one.md
SKILL skills/two.md
"""
    assert parse(text).labels == {
        "claw.type": "openclaw",
        "claw.agent.file": "AGENTS.md",
        "claw.model.primary": "openai/gpt-4o",
        "claw.model.fallback": "anthropic/claude",
        "claw.cllama.0": "passthrough",
        "claw.cllama.1": "policy/strict",
        "claw.persona.default": "registry.example/personas/crusher:v2",
        "claw.handle.discord": "true",
        "claw.handle.slack": "true",
        "claw.surface.0": "volume://shared-data read-only",
        "claw.surface.1": "service://fleet-api",
        "claw.surface.2": "host:///srv/data read-write",
        "claw.invoke.0": "0 9 * * 1-5\ttweet-cycle --now",
        "claw.invoke.1": "*/15 0-6,22-23 1 jan,JUL sun\trun hourly",
        "claw.privilege.worker": "root",
        "claw.privilege.runtime": "user 1000:1000",
        "claw.configure.0": "openclaw config set agents.defaults.heartbeat 30m",
        "claw.configure.1": "echo done",
        "claw.track.0": "apt",
        "claw.track.1": "pip",
        "claw.track.2": "npm",
        "claw.skill.0": "skills/one.md",
        "claw.skill.1": "skills/two.md",
    }


def test_directives_are_case_insensitive_and_may_continue_lines() -> None:
    text = "FROM openclaw\nclaw_type openclaw\ncllama one \\\n  # a comment inside\n  two\nModel main x/y\n"
    cf = parse(text)
    assert cf.claw_type == "openclaw"
    assert cf.labels["claw.cllama.0"] == "one"
    assert cf.labels["claw.cllama.1"] == "two"
    assert cf.labels["claw.model.main"] == "x/y"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM a\nCLAW_TYPE x\nRUN true\nCLAW_TYPE y\n", "Clawfile:4: duplicate CLAW_TYPE directive"),
        ("FROM a\nRUN true\n", "Clawfile: missing CLAW_TYPE directive"),
        ("CLAW_TYPE x\nRUN true\n", "Clawfile: no FROM instruction"),
        ("FROM a\nCLAW_TYPE\n", "Clawfile:2: CLAW_TYPE expects one driver name"),
        ("FROM a\nCLAW_TYPE x y\n", "Clawfile:2: CLAW_TYPE expects one driver name"),
        ("FROM a\nCLAW_TYPE x;rm\n", "Clawfile:2: invalid driver name 'x;rm'"),
        ("FROM a\nCLAW_TYPE x\nCLAW_BOGUS 1\n", "Clawfile:3: unknown directive CLAW_BOGUS"),
        ("FROM a\nCLAW_TYPE x\nAGENT a.md\nAGENT b.md\n", "Clawfile:4: duplicate AGENT directive"),
        ("FROM a\nCLAW_TYPE x\nAGENT\n", "Clawfile:3: AGENT expects one file"),
        ("FROM a\nCLAW_TYPE x\nMODEL primary\n", "Clawfile:3: MODEL expects <slot> <provider/model>"),
        ("FROM a\nCLAW_TYPE x\nMODEL p a/b\nMODEL p c/d\n", "Clawfile:4: duplicate MODEL slot 'p'"),
        ("FROM a\nCLAW_TYPE x\nMODEL p=1 a/b\n", "Clawfile:3: invalid model slot 'p=1'"),
        ("FROM a\nCLAW_TYPE x\nCLLAMA\n", "Clawfile:3: CLLAMA expects <type>"),
        ("FROM a\nCLAW_TYPE x\nPERSONA a\nPERSONA b\n", "Clawfile:4: duplicate PERSONA directive"),
        (
            "FROM a\nCLAW_TYPE x\nHANDLE slack\nHANDLE SLACK\n",
            "Clawfile:4: duplicate HANDLE platform 'slack'",
        ),
        ("FROM a\nCLAW_TYPE x\nHANDLE a b\n", "Clawfile:3: HANDLE expects one platform"),
        ("FROM a\nCLAW_TYPE x\nSURFACE data\n", "Clawfile:3: SURFACE expects <scheme://target>"),
        ("FROM a\nCLAW_TYPE x\nSURFACE volume://d rw\n", "Clawfile:3: unknown SURFACE mode 'rw'"),
        (
            "FROM a\nCLAW_TYPE x\nSURFACE service://api read-only\n",
            "Clawfile:3: a mode is only allowed on volume:// and host:// surfaces",
        ),
        ("FROM a\nCLAW_TYPE x\nINVOKE 0 9 * *\n", "Clawfile:3: INVOKE expects 5 cron fields and a command"),
        ("FROM a\nCLAW_TYPE x\nINVOKE 60 9 * * * job\n", "Clawfile:3: invalid cron minute '60'"),
        ("FROM a\nCLAW_TYPE x\nINVOKE 0 24 * * * job\n", "Clawfile:3: invalid cron hour '24'"),
        ("FROM a\nCLAW_TYPE x\nINVOKE 0 0 0 * * job\n", "Clawfile:3: invalid cron day of month '0'"),
        ("FROM a\nCLAW_TYPE x\nINVOKE 0 0 * foo * job\n", "Clawfile:3: invalid cron month 'foo'"),
        ("FROM a\nCLAW_TYPE x\nINVOKE 0 0 * * 8 job\n", "Clawfile:3: invalid cron day of week '8'"),
        ("FROM a\nCLAW_TYPE x\nINVOKE */0 0 * * * job\n", "Clawfile:3: invalid cron minute '*/0'"),
        (
            "FROM a\nCLAW_TYPE x\nINVOKE 5-1 0 * * * job\n",
            "Clawfile:3: invalid cron minute '5-1': range runs",
        ),
        ("FROM a\nCLAW_TYPE x\nPRIVILEGE root\n", "Clawfile:3: PRIVILEGE expects <mode> <spec>"),
        ("FROM a\nCLAW_TYPE x\nPRIVILEGE m a\nPRIVILEGE m b\n", "Clawfile:4: duplicate PRIVILEGE mode 'm'"),
        ("FROM a\nCLAW_TYPE x\nCONFIGURE\n", "Clawfile:3: CONFIGURE expects a command"),
        ("FROM a\nCLAW_TYPE x\nTRACK\n", "Clawfile:3: TRACK expects one or more package managers"),
        ("FROM a\nCLAW_TYPE x\nSKILL a b\n", "Clawfile:3: SKILL expects one path"),
        ("FROM a\nCLAW_TYPE x\nRUN <<EOF\necho\n", "Clawfile:3: unterminated heredoc <<EOF"),
        ("# escape=|\nFROM a\nCLAW_TYPE x\n", "Clawfile:1: invalid escape directive '|'"),
        ("FROM a b\nCLAW_TYPE x\n", "Clawfile:1: FROM expects IMAGE [AS NAME]"),
    ],
)
def test_errors_name_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(text)
    assert caught.value.message.startswith(message), caught.value.message


def test_error_uses_the_name_it_was_given() -> None:
    with pytest.raises(InputError, match=r"^agents/bot/Clawfile:2: duplicate CLAW_TYPE"):
        clawfile.parse("CLAW_TYPE a\nCLAW_TYPE b\nFROM x\n", "agents/bot/Clawfile")


# --------------------------------------------------------------------------
# Emitting: everything docker needs survives, claw directives go
# --------------------------------------------------------------------------

PRESERVED = """\
# syntax=docker/dockerfile:1.7
# check=skip=all

# a comment that stays
FROM --platform=linux/amd64 node:22 AS build
CLAW_TYPE openclaw
RUN apt-get update && \\
    # comment inside a continuation
    apt-get install -y curl

RUN <<EOF
CLAW_TYPE not-a-directive-inside-a-heredoc
echo "$HOME"
EOF
COPY <<-"EOT" <<TWO /etc/
\tbody line
\tEOT
second heredoc
TWO
FROM openclaw:latest
AGENT AGENTS.md
  run   echo lower-case keyword, odd spacing\t
"""


def test_emit_preserves_every_docker_line_and_drops_claw_directives() -> None:
    cf = parse(PRESERVED)
    expected = PRESERVED.replace("CLAW_TYPE openclaw\n", "").replace("AGENT AGENTS.md\n", "")
    assert clawfile.emit(cf, labels={}) == expected


def test_heredoc_body_is_not_read_as_directives() -> None:
    cf = parse(PRESERVED)
    assert cf.claw_type == "openclaw"
    assert cf.labels["claw.agent.file"] == "AGENTS.md"
    assert "CLAW_TYPE not-a-directive-inside-a-heredoc" in clawfile.emit(cf)


def test_labels_go_after_the_final_stage() -> None:
    out = clawfile.emit(parse(BASIC), labels={"claw.type": "openclaw", "claw.a": "b"})
    assert out == 'FROM openclaw:latest\nRUN echo hi\nLABEL claw.type="openclaw" \\\n      claw.a="b"\n'


def test_default_labels_are_the_clawfile_labels() -> None:
    assert clawfile.emit(parse(BASIC)).endswith('LABEL claw.type="openclaw"\n')


def test_missing_final_newline_and_crlf() -> None:
    out = clawfile.emit(parse("FROM a\r\nCLAW_TYPE x\r\nRUN true"), labels={"k": "v"})
    assert out == 'FROM a\r\nRUN true\nLABEL k="v"\n'


def test_dangling_continuation_at_end_cannot_swallow_the_label() -> None:
    out = clawfile.emit(
        parse("FROM a\nCLAW_TYPE x\nRUN echo one \\\n# trailing comment\n"), labels={"k": "v"}
    )
    assert out == 'FROM a\nRUN echo one \n# trailing comment\nLABEL k="v"\n'


def test_escape_directive_backtick() -> None:
    text = "# escape=`\nFROM a\nCLAW_TYPE x\nRUN echo `\n  more\n"
    cf = parse(text)
    assert cf.escape == "`"
    assert cf.items[-1].args == "echo   more"
    out = clawfile.emit(cf, labels={"k": 'a"b`c', "j": "x"})
    assert out.endswith('LABEL k="a`"b``c" `\n      j="x"\n')


@pytest.mark.parametrize(
    ("line", "image", "platform", "name"),
    [
        ("FROM openclaw", "openclaw", None, None),
        ("FROM openclaw:latest", "openclaw:latest", None, None),
        ("from --platform=linux/arm64 openclaw:latest as base", "openclaw:latest", "linux/arm64", "base"),
        ("FROM ${BASE}", "${BASE}", None, None),
    ],
)
def test_stages(line: str, image: str, platform: str | None, name: str | None) -> None:
    (stage,) = parse(f"{line}\nCLAW_TYPE x\n").stages
    assert (stage.image, stage.platform, stage.name, stage.lineno) == (image, platform, name, 1)


def test_from_rewrite_of_a_later_stage() -> None:
    text = "FROM node:22 AS deps\nRUN true\nFROM --platform=$BUILDPLATFORM openclaw:latest AS app\nCLAW_TYPE openclaw\n"
    cf = parse(text)
    assert [s.image for s in cf.stages] == ["node:22", "openclaw:latest"]
    out = clawfile.emit(cf, labels={}, from_images={1: "openclaw:v0.5.0"})
    assert out == "FROM node:22 AS deps\nRUN true\nFROM --platform=$BUILDPLATFORM openclaw:v0.5.0 AS app\n"


def test_mentions_claw_type() -> None:
    assert clawfile.mentions_claw_type("FROM a\n  claw_type x\n", "f")
    assert not clawfile.mentions_claw_type("FROM a\nRUN <<EOF\nCLAW_TYPE x\nEOF\n", "f")


# --------------------------------------------------------------------------
# Hostile label values: a model of docker's lexer reads them back
# --------------------------------------------------------------------------


HOSTILE = [
    'he said "hi"',
    "back\\slash at end\\",
    "$HOME ${PATH} $(id) `id`",
    'line one\nLABEL injected="yes"\nRUN rm -rf /',
    '" injected="1',
    "\\\n",
    "cr\rlf\r\n",
    "tab\there",
    "nul\x00bell\x07del\x7f",
    "unicode ☃ \u2028 sep \x85 next",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("escape", ["\\", "`"])
def test_hostile_values_stay_inside_their_label(value: str, escape: str) -> None:
    instruction = dockerfile.label_instruction({"claw.x": value, "claw.after": "ok"}, escape)
    assert docker_label_pairs(instruction, escape) == {"claw.x": as_stored(value, escape), "claw.after": "ok"}


@given(st.text(), st.sampled_from(["\\", "`"]))
def test_any_value_reads_back(value: str, escape: str) -> None:
    instruction = dockerfile.label_instruction({"claw.v": value}, escape)
    assert docker_label_pairs(instruction, escape) == {"claw.v": as_stored(value, escape)}


def test_unsafe_label_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="unsafe label key"):
        dockerfile.label_instruction({'a="b" c': "x"})


@pytest.mark.parametrize("text", ["\\ ", "\\\n", "FROM x\nCLAW_TYPE openclaw\n\\\n\\ "])
def test_lines_of_only_continuations_are_nothing(text: str) -> None:
    _, items = dockerfile.lex(text, "Clawfile")
    assert all(item.keyword is None for item in items if "FROM" not in item.text and "CLAW" not in item.text)


def test_source_lines_map_the_generated_file_back_to_the_clawfile() -> None:
    text = "# syntax=docker/dockerfile:1\nFROM openclaw\nCLAW_TYPE openclaw\nMODEL primary x/y\n\n"
    text += "RUN echo \\\n  hi\nUSER bad"
    parsed = clawfile.parse(text, "Clawfile")
    out = clawfile.emit(parsed, from_images={0: "openclaw:v1"})
    lines = clawfile.source_lines(parsed, from_images={0: "openclaw:v1"})
    assert len(lines) == len(out.splitlines())
    assert list(zip(out.splitlines(), lines, strict=True))[:6] == [
        ("# syntax=docker/dockerfile:1", 1),
        ("FROM openclaw:v1", 2),
        ("", 5),
        ("RUN echo \\", 6),
        ("  hi", 7),
        ("USER bad", 8),
    ]
    assert lines[6:] == [None, None]  # the appended LABEL instruction


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        (
            "Error response from daemon: dockerfile parse error line 6: unknown instruction: RUNN",
            "a/Clawfile:8: Error response from daemon: dockerfile parse error line 6: unknown instruction:"
            " RUNN (line 6 of Dockerfile.generated)",
        ),
        (
            "ERROR: failed to solve: dockerfile parse error on line 6: unknown instruction: RUNN",
            "a/Clawfile:8: ERROR: failed to solve: dockerfile parse error on line 6: unknown instruction:"
            " RUNN (line 6 of Dockerfile.generated)",
        ),
        ("Dockerfile.generated:7", "Dockerfile.generated:7 (in Dockerfile.generated)"),
        ("manifest unknown", "manifest unknown"),
    ],
)
def test_docker_errors_about_the_generated_file_name_the_clawfile_line(reason: str, said: str) -> None:
    from pathlib import Path

    from lib.verbs import build

    lines: list[int | None] = [1, 2, 5, 6, 7, 8, None, None]
    generated = Path("a/Dockerfile.generated")
    assert build.against_source(reason, Path("a/Clawfile"), generated, lines) == said
    assert build.against_source(reason, Path("a/Dockerfile"), None, []) == reason


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("MODEL primary anthropic/claude sonnet 4", "claw.model.primary", "anthropic/claude sonnet 4"),
        ('MODEL fast  openai/gpt "mini"  $HOME \\x ', "claw.model.fast", 'openai/gpt "mini"  $HOME \\x'),
        (
            "PRIVILEGE worker user 1000:1000 --cap-add NET_ADMIN",
            "claw.privilege.worker",
            "user 1000:1000 --cap-add NET_ADMIN",
        ),
        ("PRIVILEGE runtime 'root' \"$UID\"", "claw.privilege.runtime", "'root' \"$UID\""),
    ],
)
def test_model_and_privilege_take_the_rest_of_the_line_verbatim(line: str, key: str, value: str) -> None:
    """As upstream reads them: the value is everything after the slot or mode (inner spacing,
    quotes, `$`, backslashes kept); the label carries it out unchanged."""
    parsed = parse(f"FROM a\nCLAW_TYPE x\n{line}\n")
    assert parsed.labels[key] == value
    instruction = dockerfile.label_instruction({key: value})
    assert docker_label_pairs(instruction, "\\") == {key: value}


@pytest.mark.parametrize(
    ("recipe", "body"),
    [("FROM a\nRUN true\n", "FROM a\nRUN true\n"),
     ("FROM a\nRUN true", "FROM a\nRUN true\n"),
     ("FROM a\nRUN echo \\\n", "FROM a\nRUN echo \n"),
     ("# escape=`\nFROM a\nRUN echo `\n\n# end\n", "# escape=`\nFROM a\nRUN echo \n\n# end\n"),
     ("FROM a AS one\nLABEL claw.base.driver=old\nFROM b\nRUN <<EOF\necho hi\nEOF",
      "FROM a AS one\nLABEL claw.base.driver=old\nFROM b\nRUN <<EOF\necho hi\nEOF\n")],
)  # fmt: skip
def test_labels_join_a_recipe_as_one_instruction_of_its_final_stage(recipe: str, body: str) -> None:
    """One LABEL instruction (the legacy builder makes a step of each `--label`), never
    swallowed by a continuation left open at the end, read back as docker reads it."""
    labels = {"claw.base.driver": "openclaw", "claw.base.note": 'a "b" $c'}
    text = dockerfile.labelled(recipe, labels, "openclaw.Dockerfile")
    escape, _ = dockerfile.lex(recipe, "openclaw.Dockerfile")
    assert text == body + dockerfile.label_instruction(labels, escape)
    assert final_labels(text) == labels
    assert dockerfile.labelled(recipe, {}, "openclaw.Dockerfile") == body
