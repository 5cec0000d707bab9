"""Hostile and broken input, through the whole CLI: never a traceback, always a place.

Every case runs `claw` in-process against a Docker endpoint that does not exist:
input claw refuses exits 2 naming the file (and the line or key) before docker is
contacted; input claw accepts reaches docker, which fails with exit 1 and the
one-line engine error. The hand-written cases say which they are; a generated one
is accepted exactly when claw's own reader accepts it (hypothesis). The count of
inputs tried goes to the reliability tally printed at the end of the run.
"""

from __future__ import annotations

import ast
import contextlib
import io
import string
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import claw
from lib import clawfile, config, dockerfile, runners, target
from lib.errors import InputError
from tests.conftest import NO_ENGINE, tally
from tests.harness.dockerfile import as_stored, docker_label_pairs

ROOT = Path(__file__).resolve().parent.parent
NASTY = "$`\"'\\;|&<>(){}[]*?!#~\n\r\t\x00\x7f ☃\u2028\u202e"
NASTY_TEXT = st.text(
    alphabet=st.sampled_from(NASTY + string.ascii_letters + string.digits + ":/.-_="), max_size=60
)
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _crash_logs_stay_here(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="claw-hostile-") as directory:
        yield Path(directory)


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = claw.main(list(args))
    tally("hostile inputs tried")
    return code, out.getvalue(), err.getvalue()


def assert_clean_refusal(code: int, err: str, *places: str) -> None:
    """Exit 2 before the engine is contacted, one `error:` line naming the file (and place)."""
    assert "Traceback" not in err
    assert "unexpected error" not in err
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert any(place in errors[0] for place in places), err


def assert_reached_engine(code: int, err: str) -> None:
    """Input claw accepts: every check passes and the first docker call meets the missing engine."""
    assert "Traceback" not in err
    assert code == 1, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: cannot reach the Docker engine (DOCKER_HOST={NO_ENGINE}): "), err


def accepted(read: Callable[[], object]) -> bool:
    """Whether claw's own reader takes the input (the oracle for generated cases)."""
    try:
        read()
    except InputError:
        return False
    return True


# --------------------------------------------------------------------------
# Clawfiles
# --------------------------------------------------------------------------

REFUSED_CLAWFILES = [
    "",
    "CLAW_TYPE openclaw\n",  # no FROM
    "FROM openclaw\n",  # no CLAW_TYPE
    "FROM openclaw\nCLAW_TYPE openclaw\nCLAW_TYPE nanobot\n",
    "FROM openclaw\nCLAW_TYPE open;claw\n",
    "FROM openclaw\nCLAW_TYPE openclaw\nCLAW_SECRET x\n",
    "FROM openclaw\nCLAW_TYPE openclaw\nMODEL $(id) openai/gpt\n",
    "FROM openclaw\nCLAW_TYPE openclaw\nHANDLE 'discord\n",
    "FROM openclaw\nCLAW_TYPE openclaw\nINVOKE 99 * * * * run\n",
    "FROM openclaw\nCLAW_TYPE openclaw\nSURFACE nowhere read-only\n",
    "FROM a b c d\nCLAW_TYPE openclaw\n",
    "FROM openclaw\nCLAW_TYPE openclaw\nRUN <<EOF\nnever closed\n",
]

# Hostile-looking but valid: claw reads them, and `claw build` goes on to docker.
ACCEPTED_CLAWFILES = {
    "continuation at the end": "FROM openclaw\nCLAW_TYPE openclaw\nRUN echo \\\n",
    "BOM and CRLF": "\ufeffFROM openclaw\r\nCLAW_TYPE openclaw\r\n",
    "a 1 MB line": "FROM openclaw\nCLAW_TYPE openclaw\nCONFIGURE " + "x" * 1_000_000 + "\n",
    "20,000 lines": "FROM openclaw\nCLAW_TYPE openclaw\n" + "SKILL s\n" * 20_000,
}


@pytest.mark.parametrize("text", REFUSED_CLAWFILES, ids=range(len(REFUSED_CLAWFILES)))
def test_hand_written_clawfiles(text: str) -> None:
    with workspace() as work:
        (work / "Clawfile").write_text(text)
        code, _, err = run("build", str(work / "Clawfile"))
    assert_clean_refusal(code, err, f"{work / 'Clawfile'}:", f"{work / 'Clawfile'}: ")


@pytest.mark.parametrize("text", ACCEPTED_CLAWFILES.values(), ids=ACCEPTED_CLAWFILES.keys())
def test_hand_written_clawfiles_claw_accepts(text: str) -> None:
    with workspace() as work:
        (work / "Clawfile").write_text(text)
        code, _, err = run("build", str(work / "Clawfile"))
    assert_reached_engine(code, err)


def test_clawfile_that_is_not_text() -> None:
    with workspace() as work:
        (work / "Clawfile").write_bytes(b"\xff\xfe\x00FROM x\x80")
        code, _, err = run("pull", str(work / "Clawfile"))
    assert code == 2
    assert f"{work / 'Clawfile'}: cannot read Clawfile" in err


LINES = st.sampled_from(
    ["FROM openclaw", "CLAW_TYPE openclaw", "RUN x", "MODEL a b/c", "HANDLE x", "INVOKE * * * * * go",
     "CLLAMA p", "SURFACE volume://v read-only", "\\"]
)  # fmt: skip


ONE_LINE = st.text(
    alphabet=st.sampled_from(
        NASTY.translate({ord(c): None for c in "\n\r\x00\u2028\\"}) + string.ascii_letters
    ),
    min_size=1,
    max_size=40,
)
VALUED = st.sampled_from(
    ["AGENT", "PERSONA", "CONFIGURE", "RUN", "MODEL primary", "HANDLE", "CLLAMA", "SKILL"]
)


@FEW
@given(st.booleans(), st.lists(LINES, max_size=8), st.lists(NASTY_TEXT, max_size=8))
def test_generated_clawfiles(prelude: bool, lines: list[str], noise: list[str]) -> None:
    """``prelude``: a valid start (FROM, CLAW_TYPE), so that valid Clawfiles come up too."""
    start = "FROM openclaw\nCLAW_TYPE openclaw\n" if prelude else ""
    text = start + "\n".join(a + " " + b for a, b in zip(lines, noise + [""] * len(lines), strict=False))
    check_generated_clawfile(text)


@FEW
@given(st.lists(st.tuples(VALUED, ONE_LINE), max_size=6))
def test_generated_clawfile_values(lines: list[tuple[str, str]]) -> None:
    """Hostile values in directives that take one: most are taken, and mean what they say."""
    body = "".join(f"{keyword} {value}\n" for keyword, value in lines)
    check_generated_clawfile("FROM openclaw\nCLAW_TYPE openclaw\n" + body)


def labels_read(text: str) -> dict[str, str]:
    """The labels docker reads from the last stage of ``text``: each LABEL instruction as
    its logical line (a line before it may end in a continuation)."""
    escape, items = dockerfile.lex(text, "Dockerfile")
    last = max(index for index, item in enumerate(items) if item.keyword == "FROM")
    labels: dict[str, str] = {}
    for item in items[last:]:
        if item.keyword == "LABEL":
            labels.update(docker_label_pairs(f"LABEL {item.args}\n", escape))
    return labels


def check_generated_clawfile(text: str) -> None:
    with workspace() as work:
        (work / "Clawfile").write_text(text, encoding="utf-8", errors="surrogatepass")
        valid = accepted(lambda: target.read_clawfile(work / "Clawfile"))
        code, _, err = run("build", str(work / "Clawfile"))
        parsed = target.read_clawfile(work / "Clawfile").clawfile if valid else None
    if parsed is None:
        assert_clean_refusal(code, err, f"{work / 'Clawfile'}")
        return
    assert_reached_engine(code, err)
    # what it means: the one CLAW_TYPE written, and labels docker reads back as claw parsed
    # them (a control character as the visible escape docker would store)
    assert parsed.claw_type == "openclaw"
    assert parsed.labels["claw.type"] == "openclaw"
    emitted = labels_read(clawfile.emit(parsed))
    stored = {key: as_stored(value, parsed.escape) for key, value in parsed.labels.items()}
    assert {key: emitted.get(key) for key in parsed.labels} == stored


# --------------------------------------------------------------------------
# Pod files
# --------------------------------------------------------------------------

REFUSED_PODS = [
    "",
    "services: []\n",
    "services:\n  web: {}\n",
    "services:\n  web:\n    image: 'UPPER/Case'\n",
    "services:\n  'web; rm -rf /':\n    image: nginx\n",
    "services:\n  '$(id)':\n    image: nginx\n",
    'services:\n  "a\\nb":\n    image: nginx\n',
    "services:\n  ☃:\n    image: nginx\n",
    "services:\n  web:\n    image: nginx\n  web:\n    image: redis\n",
    "x-claw: {pod: 'Bad Name'}\nservices:\n  web:\n    image: nginx\n",
    "services:\n  a:\n    build: /nonexistent\n",
    "services:\n  a:\n    image: nginx\n    x-claw: {cllama: [1, 2]}\n",
    "services:\n  a:\n    image: nginx\n    x-claw: {dashboard: 'yes'}\n",
    "services:\n  a: &x\n    image: nginx\n  b: *x\n  c: !!python/object:os.system 'id'\n",
    "services:\n  a:\n    image: nginx\n" + "    labels: {k: v}\n" * 2,
    "{{{{",
]

# Valid, only large: `claw up --check` goes on to docker (one inspect for all 5000).
ACCEPTED_PODS = {
    "5000 services": "services:\n" + "".join(f"  s{i}:\n    image: nginx:{i}\n" for i in range(5000)),
}


@pytest.mark.parametrize("text", REFUSED_PODS, ids=range(len(REFUSED_PODS)))
def test_hand_written_pods(text: str) -> None:
    with workspace() as work:
        (work / "claw-pod.yml").write_text(text)
        code, _, err = run("up", "--check", "-f", str(work / "claw-pod.yml"))
    assert_clean_refusal(code, err, str(work / "claw-pod.yml"))


@pytest.mark.parametrize("text", ACCEPTED_PODS.values(), ids=ACCEPTED_PODS.keys())
def test_hand_written_pods_claw_accepts(text: str) -> None:
    with workspace() as work:
        (work / "claw-pod.yml").write_text(text)
        code, _, err = run("up", "--check", "-f", str(work / "claw-pod.yml"))
    assert_reached_engine(code, err)


@pytest.mark.parametrize("name", ["web; rm -rf /", "$(id)", "a\nb", "☃", "-flag", "a b", ""])
def test_service_names_compose_would_refuse_are_refused_first(name: str) -> None:
    with workspace() as work:
        (work / "claw-pod.yml").write_text(yaml.safe_dump({"services": {name: {"image": "nginx"}}}))
        code, _, err = run("up", "--check", "-f", str(work / "claw-pod.yml"))
    assert code == 2, err
    assert f"{work / 'claw-pod.yml'}: services.{name!r}: a service name may hold only" in err


def yaml_values() -> st.SearchStrategy[object]:
    scalars = st.none() | st.booleans() | st.integers() | NASTY_TEXT
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NASTY_TEXT, inner, max_size=3), max_leaves=12)  # fmt: skip


REFS = st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9]{1,8})?(:[A-Za-z0-9_.-]{1,8})?", fullmatch=True)
NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True) | NASTY_TEXT
SERVICE = st.fixed_dictionaries(
    {"image": REFS | NASTY_TEXT},
    optional={
        "labels": st.dictionaries(NAMES, NASTY_TEXT, max_size=3),
        "environment": st.lists(NASTY_TEXT, max_size=3),
    },
)


@FEW
@given(
    st.dictionaries(NASTY_TEXT, yaml_values(), max_size=4)
    | st.dictionaries(NAMES, SERVICE, min_size=1, max_size=4)
)
def test_generated_services(services: dict[str, object]) -> None:
    text = yaml.safe_dump({"x-claw": {"pod": "fuzz"}, "services": services}, allow_unicode=True)
    with workspace() as work:
        (work / "claw-pod.yml").write_text(text)
        valid = accepted(lambda: pod_jobs(work / "claw-pod.yml"))
        code, _, err = run("pull", "--dry-run", "-f", str(work / "claw-pod.yml"))
        the_pod = target.target_of(None, str(work / "claw-pod.yml"), work) if valid else None
    if not isinstance(the_pod, target.PodTarget):
        assert not valid
        assert_clean_refusal(code, err, str(work / "claw-pod.yml"))
        return
    if code != 0:  # a valid pod of registry images only needs no docker for a dry run
        assert_reached_engine(code, err)
    # what it means: the services written, each registry service on the image written
    assert the_pod.pod.name == "fuzz"
    assert sorted(s.name for s in the_pod.pod.services) == sorted(services)
    for service in the_pod.pod.services:
        written = services[service.name]
        assert isinstance(written, dict)
        if service.build is None:
            assert service.ref == service.image == written["image"]


def pod_jobs(path: Path) -> object:
    """The pod as `claw pull` reads it: the pod file, then the build files of its services."""
    where = target.target_of(None, str(path), path.parent)
    return where.jobs if isinstance(where, target.PodTarget) else where


# --------------------------------------------------------------------------
# Config files
# --------------------------------------------------------------------------

CONFIGS = [
    "[runners.openclaw]\nrecipe = 'missing.Dockerfile'\n",
    "[runners.openclaw]\nprobe = 'openclaw --version'\n",
    "[runners.openclaw]\nprobe_timeout = -1\n",
    "[runners.mybot]\nalias = 'My Bot'\n",
    "[runners.mybot]\nalias = 'x;y'\nrecipe = 'r'\n",
    "[pull]\njobs = 0\n",
    "[pull]\njobs = true\n",
    "[pull]\nretries = 'three'\n",
    "[infra]\ncllama = 'not a ref!'\n",
    "[infra]\nunknown = 'x'\n",
    "[unknown]\n",
    "a = 1\na = 2\n",
    "[[runners]]\n",
    "\x00\x01",
]


@pytest.mark.parametrize("text", CONFIGS, ids=range(len(CONFIGS)))
def test_hand_written_configs(text: str) -> None:
    with workspace() as work:
        (work / "claw.toml").write_text(text)
        (work / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\n")
        code, _, err = run("--config", str(work / "claw.toml"), "pull", "--dry-run", str(work / "Clawfile"))
    assert code == 2, err
    assert_clean_refusal(code, err, str(work / "claw.toml"))


@FEW
@given(st.text(max_size=200))
def test_generated_configs(text: str) -> None:
    with workspace() as work:
        (work / "claw.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
        (work / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\n")
        valid = accepted(lambda: runners.table(config.load(str(work / "claw.toml"))))
        code, _, err = run("--config", str(work / "claw.toml"), "pull", "--dry-run", str(work / "Clawfile"))
    if valid:  # the dry run asks docker what the runner base is now
        assert_reached_engine(code, err)
    else:
        assert_clean_refusal(code, err, str(work / "claw.toml"))


# --------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["build", ".", "-t", "Bad Tag"], "-t: not a valid image reference: 'Bad Tag'"),
        (["build", ".", "-t", "x:1;rm -rf /"], "-t: not a valid image reference: 'x:1;rm -rf /'"),
        (["pull", "--jobs", "0"], "error: invalid value for '--jobs': 0"),
        (["pull", "no/such/Clawfile"], "no/such/Clawfile: Clawfile not found"),
        (["up", "Clawfile"], "Clawfile: not a pod file"),
        (["down", "-f", "missing.yml"], "missing.yml: pod file not found"),
        (["up", "-f", "a.yml", "b.yml"], "either with -f or as an argument, not both"),
    ],
)
def test_bad_arguments(args: list[str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused with exit 2, and the message names the argument (and the value) at fault."""
    (tmp_path / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(*args)
    assert code == 2, err
    assert "Traceback" not in err
    assert named in err, err


# --------------------------------------------------------------------------
# Nothing goes through a shell
# --------------------------------------------------------------------------


def test_only_the_engine_runs_programs_and_never_through_a_shell() -> None:
    programs = {"subprocess", "sh", "os.system", "os.popen", "pty", "commands"}
    for path in [*sorted((ROOT / "lib").rglob("*.py")), ROOT / "claw.py"]:
        tree = ast.parse(path.read_text())
        imported = {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        calls = {
            f"{node.func.value.id}.{node.func.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
        }  # fmt: skip
        found = (imported | calls) & programs
        if path == ROOT / "lib" / "engine" / "process.py":  # where the engine starts its children
            assert found == {"sh"}, path
        else:
            assert not found, f"{path} runs programs itself: {found}"
        assert "shell=True" not in path.read_text()
