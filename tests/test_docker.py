"""The choke point: argv builders, the classification table, and the ``Engine``
run against a stand-in executable that replays output recorded from real docker."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tenacity

from lib.classify import classify
from lib.engine.argv import ComposeCli, build_args_for, probe_args
from lib.engine.docker import Engine
from lib.errors import (
    ClawError,
    DockerError,
    DockerMissing,
    DockerTimeout,
    EngineUnreachable,
    Interrupted,
    NoSuchImage,
    PermanentError,
    RegistryBlocked,
    TransientError,
)
from tests.harness.fake_docker import SAFETY, FakeDocker


def quick(context: str | None = None, **options: Any) -> Engine:
    """An engine that retries without waiting."""
    return Engine(context, retry_wait=tenacity.wait_none(), **options)


@pytest.fixture
def docker_engine(fake: FakeDocker) -> Engine:
    """The default engine (no context), talking to the stand-in."""
    return quick()


@pytest.fixture(autouse=True)
def _no_held_stand_in_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    fake: FakeDocker | None = request.getfixturevalue("fake") if "fake" in request.fixturenames else None
    yield
    if fake is not None:
        fake.release()


@pytest.fixture
def recorded(fixtures: Path) -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((fixtures / "docker" / f"{name}.json").read_text())
        return data

    return load


# --------------------------------------------------------------------------
# The classification table
# --------------------------------------------------------------------------

CASES: list[tuple[str, type[DockerError] | type[EngineUnreachable]]] = [
    (
        "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?",
        EngineUnreachable,
    ),
    (
        "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
        EngineUnreachable,
    ),
    (
        'Failed to initialize: unable to resolve docker endpoint: context "x": context not found: open',
        EngineUnreachable,
    ),
    (
        'error during connect: Get "http://%2F%2F.%2Fpipe%2Fdocker_engine/v1.24/version": open //./pipe',
        EngineUnreachable,
    ),
    (
        'Error response from daemon: Head "https://registry-1.docker.io/v2/x/manifests/1": net/http: TLS handshake timeout',
        TransientError,
    ),
    (
        'failed to fetch oauth token: Post "https://auth.docker.io/token": read: connection reset by peer',
        TransientError,
    ),
    ("dial tcp 1.2.3.4:443: i/o timeout", TransientError),
    ("net/http: request canceled (Client.Timeout exceeded while awaiting headers)", TransientError),
    ("context deadline exceeded", TransientError),
    ("unexpected EOF", TransientError),
    (
        'Error response from daemon: Head "https://registry-1.docker.io/v2/x/manifests/latest": EOF',
        TransientError,
    ),
    (
        "error pulling image configuration: received unexpected HTTP status: 503 Service Unavailable",
        TransientError,
    ),
    ("received unexpected HTTP status: 502 Bad Gateway", TransientError),
    ("expected HTTP 206 from byte range request", TransientError),
    ("filesystem layer verification failed for digest sha256:abc", TransientError),
    ('Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused', TransientError),
    ("dial tcp: lookup registry.example on 127.0.0.53:53: no such host", PermanentError),
    ("dial tcp: lookup registry.example on 127.0.0.53:53: server misbehaving", TransientError),
    ("dial tcp: lookup registry.example: Temporary failure in name resolution", TransientError),
    (
        "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating",
        RegistryBlocked,
    ),
    (
        "failed to authorize: failed to fetch oauth token: unexpected status: 429 Too Many Requests",
        RegistryBlocked,
    ),
    ("Error response from daemon: unauthorized", RegistryBlocked),
    ("unauthorized: authentication required", RegistryBlocked),
    ("Error response from daemon: denied", RegistryBlocked),
    (
        "Error response from daemon: manifest for x:1 not found: manifest unknown: manifest unknown",
        PermanentError,
    ),
    ('failed to resolve reference "docker.io/library/x:1": docker.io/library/x:1: not found', PermanentError),
    (
        "pull access denied for openclaw, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
        PermanentError,
    ),
    ("no matching manifest for linux/amd64 in the manifest list entries", PermanentError),
    ("invalid reference format: repository name must be lowercase", PermanentError),
    ("write /var/lib/docker/tmp/x: no space left on device", PermanentError),
    ("The command '/bin/sh -c curl https://x' returned a non-zero code: 7", PermanentError),
    (
        'ERROR: failed to solve: process "/bin/sh -c apt-get update" did not complete successfully: exit code: 100',
        PermanentError,
    ),
    ("Error response from daemon: No such image: nope:1", NoSuchImage),
    ("something nobody has seen before", PermanentError),
]


@pytest.mark.parametrize(("stderr", "kind"), CASES)
def test_classification_table(stderr: str, kind: type[DockerError] | type[EngineUnreachable]) -> None:
    error = classify(("docker", "pull", "x"), 1, "", stderr + "\n")
    assert type(error) is kind
    assert error.reason == stderr


def test_a_failing_run_step_is_permanent_even_if_it_printed_network_words() -> None:
    stderr = "curl: (56) Recv failure: connection reset by peer\nThe command '/bin/sh -c curl x' returned a non-zero code: 56\n"
    assert type(classify(("docker", "build", "."), 56, "", stderr)) is PermanentError


def test_legacy_builder_notice_is_not_the_reason() -> None:
    stderr = (
        "DEPRECATED: The legacy builder is deprecated and will be removed in a future release.\n"
        "            Install the buildx component to build images with BuildKit:\n"
        "            https://docs.docker.com/go/buildx/\n\nmanifest unknown\n"
    )
    error = classify(("docker", "build", "."), 1, "", stderr)
    assert error.reason == "manifest unknown"
    assert error.message == "`docker build .` failed (exit 1): manifest unknown"


def test_rarely_healing_errors_have_a_tighter_cap() -> None:
    refused = classify(("docker", "pull", "x"), 1, "", "connect: connection refused")
    reset = classify(("docker", "pull", "x"), 1, "", "connection reset by peer")
    assert isinstance(refused, TransientError)
    assert refused.max_attempts == 2
    assert isinstance(reset, TransientError)
    assert reset.max_attempts is None


def test_hints() -> None:
    blocked = classify(("docker", "pull", "x"), 1, "", "toomanyrequests: slow down")
    assert blocked.hint is not None
    assert "docker login" in blocked.hint
    local = classify(("docker", "pull", "openclaw"), 1, "", "pull access denied for openclaw")
    assert local.hint is not None
    assert "claw pull" in local.hint


# --------------------------------------------------------------------------
# Pure argv builders
# --------------------------------------------------------------------------


def test_build_argv_buildkit_and_legacy() -> None:
    common = dict(iidfile=Path("/t/iid"), tag="a:1", labels={"k": "v w"}, pull=True, no_cache=True)
    assert ("docker", *build_args_for(Path("ctx"), buildkit=True, from_stdin=True, **common)) == (  # type: ignore[arg-type]
        "docker", "build", "--iidfile", "/t/iid", "--progress=plain", "--pull", "--no-cache",
        "--tag", "a:1", "--file", "-", "--label", "k=v w", "ctx",
    )  # fmt: skip
    legacy = ("docker", *build_args_for(
        Path("ctx"), iidfile=Path("/t/iid"), buildkit=False, dockerfile=Path("ctx/Dockerfile.generated"),
        target="runtime", build_args=[("A", "1"), ("PASS", None)],
    ))  # fmt: skip
    assert legacy == (
        "docker", "build", "--iidfile", "/t/iid", "--force-rm", "--file", "ctx/Dockerfile.generated",
        "--target", "runtime", "--build-arg", "A=1", "--build-arg", "PASS", "ctx",
    )  # fmt: skip


def test_probe_argv() -> None:
    assert ("docker", *probe_args("img:tmp", ["python", "-c", "print(1)"], "claw-probe-1")) == (
        "docker", "run", "--rm", "--init", "--network", "none", "--pull", "never",
        "--name", "claw-probe-1", "--entrypoint", "python", "img:tmp", "-c", "print(1)",
    )  # fmt: skip


# --------------------------------------------------------------------------
# run() and the verbs, on the stand-in
# --------------------------------------------------------------------------


def test_inspect_many_refs_is_one_call_and_missing_is_data(
    fake: FakeDocker, recorded: Callable[[str], dict[str, Any]], docker_engine: Engine
) -> None:
    fake.replay(recorded("inspect-two-found-one-missing"))
    images = docker_engine.inspect_images(
        ["claw-fixture/one:1", "nope:1", "claw-fixture/two:2", "claw-fixture/one:1"]
    )
    assert set(images) == {"claw-fixture/one:1", "claw-fixture/two:2"}
    assert images["claw-fixture/one:1"].repo_tags == ("claw-fixture/one:1",)
    assert {"claw-fixture/two:2", "claw-fixture/two:latest"} <= set(images["claw-fixture/two:2"].repo_tags)
    assert images["claw-fixture/one:1"].id != images["claw-fixture/two:2"].id
    assert all(image.layers for image in images.values())
    assert len(fake.calls) == 1


def test_inspect_all_missing(
    fake: FakeDocker, recorded: Callable[[str], dict[str, Any]], docker_engine: Engine
) -> None:
    fake.replay(recorded("inspect-all-missing"))
    assert docker_engine.inspect_images(["nope", "nope:1"]) == {}


def test_inspect_nothing_calls_nothing(fake: FakeDocker, docker_engine: Engine) -> None:
    assert docker_engine.inspect_images([]) == {}
    assert fake.calls == []


def test_inspect_when_the_engine_is_down(
    fake: FakeDocker, recorded: Callable[[str], dict[str, Any]], docker_engine: Engine
) -> None:
    down = recorded("version-engine-unreachable")
    fake.answer(["image", "inspect"], stderr=down["stderr"], code=1)
    with pytest.raises(
        EngineUnreachable, match=r"cannot reach the Docker engine \(DOCKER_HOST=.*\): Cannot connect"
    ):
        docker_engine.inspect_images(["a"])


def test_check_engine(
    fake: FakeDocker, recorded: Callable[[str], dict[str, Any]], docker_engine: Engine
) -> None:
    fake.replay(recorded("version"))
    info = docker_engine.check()
    assert info.client_version == "28.2.2"
    assert info.server_version.startswith("20.10")
    fake.replay(recorded("version-engine-unreachable"))
    with pytest.raises(EngineUnreachable):
        docker_engine.check()


def test_pull_retries_transient_errors_then_succeeds(fake: FakeDocker, docker_engine: Engine) -> None:
    for _ in range(2):
        fake.answer(["pull"], stderr="received unexpected HTTP status: 503 Service Unavailable\n", code=1)
    fake.answer(["pull"], stdout="done\n")
    notices: list[int] = []
    docker_engine.pull("r/x:1", attempts=3, on_retry=lambda exc, attempt, wait: notices.append(attempt))
    assert len(fake.calls) == 3
    assert notices == [1, 2]


def test_pull_gives_up_after_the_budget(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(["pull"], sticky=True, stderr="read: connection reset by peer\n", code=1)
    with pytest.raises(TransientError):
        docker_engine.pull("r/x:1", attempts=3)
    assert len(fake.calls) == 3


def test_connection_refused_is_retried_only_once(
    fake: FakeDocker, recorded: Callable[[str], dict[str, Any]], docker_engine: Engine
) -> None:
    refused = recorded("pull-connection-refused")
    fake.answer(["pull"], sticky=True, stderr=refused["stderr"], code=1)
    with pytest.raises(TransientError):
        docker_engine.pull("r/x:1", attempts=5)
    assert len(fake.calls) == 2


@pytest.mark.parametrize(
    ("recording_or_text", "kind"),
    [("pull-manifest-unknown", PermanentError), ("toomanyrequests: rate limit\n", RegistryBlocked)],
)
def test_permanent_and_blocking_errors_are_never_retried(
    fake: FakeDocker,
    recorded: Callable[[str], dict[str, Any]],
    recording_or_text: str,
    kind: type[DockerError],
    docker_engine: Engine,
) -> None:
    text = recorded(recording_or_text)["stderr"] if "\n" not in recording_or_text else recording_or_text
    fake.answer(["pull"], sticky=True, stderr=text, code=1)
    with pytest.raises(kind):
        docker_engine.pull("r/x:1", attempts=5)
    assert len(fake.calls) == 1


def test_a_build_is_tried_again_only_when_its_caller_asks(
    fake: FakeDocker, tmp_path: Path, docker_engine: Engine
) -> None:
    """A service build (one attempt) is never repeated; the refresh's, which may fetch FROM
    images whether it pulls or not, is tried again on a transient error."""
    fake.answer(["build"], sticky=True, stderr="i/o timeout\n", code=1)
    fake.answer(["buildx"], sticky=True, stderr="docker: unknown command: docker buildx\n", code=1)
    with pytest.raises(TransientError):
        docker_engine.build(tmp_path, dockerfile_text="FROM x\n")
    assert sum(call[1] == "build" for call in fake.calls) == 1
    with pytest.raises(TransientError):
        docker_engine.build(tmp_path, dockerfile_text="FROM x\n", attempts=3)
    assert sum(call[1] == "build" for call in fake.calls) == 4
    assert not any("--pull" in call for call in fake.calls)


def test_streaming_keeps_the_text_for_errors(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(["pull"], stdout="layer: Pulling\n", stderr="manifest unknown\n", code=1)
    lines: list[str] = []
    with pytest.raises(PermanentError) as caught:
        docker_engine.pull("r/x:1", on_line=lines.append)
    assert sorted(lines) == ["layer: Pulling", "manifest unknown"]
    assert caught.value.stderr == "manifest unknown\n"


def test_a_broken_sink_does_not_hide_the_result(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(["pull"], stdout="fine\n")

    def broken(line: str) -> None:
        raise RuntimeError("sink failed")

    docker_engine.pull("r/x:1", on_line=broken)
    assert len(fake.calls) == 1


def test_probe_timeout_removes_the_container(fake: FakeDocker, docker_engine: Engine) -> None:
    """The probe never answers (held, never released): claw's timeout stops it, however
    far the stand-in got, and the probe's container goes by the name it was given."""
    fake.answer(["run"], hold="never")
    fake.answer(["rm", "--force"])
    with pytest.raises(DockerTimeout, match=r"did not finish within 0\.5s") as caught:
        docker_engine.run_probe("img", ["x", "--version"], timeout=0.5)
    run = list(caught.value.argv)
    name = run[run.index("--name") + 1]
    assert name.startswith("claw-probe-")
    *before, removed = fake.calls
    assert removed == ["docker", "rm", "--force", name]
    assert before in ([], [run]), "the probe (if it got as far as saying so), then its removal"


def test_probe_exit_codes_are_errors(
    fake: FakeDocker, recorded: Callable[[str], dict[str, Any]], docker_engine: Engine
) -> None:
    missing = recorded("run-missing-executable")
    fake.answer(["run"], stderr=missing["stderr"], code=missing["code"])
    with pytest.raises(PermanentError, match="executable file not found") as caught:
        docker_engine.run_probe("img", ["nope"], timeout=10)
    assert caught.value.returncode == 127


def test_probe_output(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(["run"], stdout="OpenClaw 2026.5.22 (3f2a9c1)\n")
    assert (
        docker_engine.run_probe("img", ["openclaw", "--version"], timeout=10)
        == "OpenClaw 2026.5.22 (3f2a9c1)\n"
    )


def test_verbose_echo_is_shell_quoted(fake: FakeDocker) -> None:
    fake.answer(["image", "tag"])
    echoed: list[str] = []
    quick(echo=echoed.append).tag("a:1", "b:has space")
    assert echoed == ["$ docker image tag a:1 'b:has space'"]


def test_remove_image_that_is_not_there(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(["image", "rm"], stderr="Error response from daemon: No such image: x:1\n", code=1)
    assert docker_engine.remove_image("x:1") is False
    fake.answer(["image", "rm"], stdout="Untagged: x:1\n")
    assert docker_engine.remove_image("x:1") is True


def test_docker_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DockerMissing, match="`docker` was not found on PATH") as caught:
        Engine().check()
    assert caught.value.hint is not None
    assert "apt-get install docker.io" in caught.value.hint


def test_compose_falls_back_to_v1(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(["compose"], stderr="docker: unknown command: docker compose\n", code=1)
    fake.answer(["version", "--short"], stdout="1.29.2\n")
    cli = docker_engine.compose_cli()
    assert cli.argv == ("docker-compose",)
    assert cli.v1
    fake.answer(["--ansi", "never"], stdout="ok\n")
    docker_engine.compose(["ps"], project="fleet", file=Path("compose.generated.yml"))
    assert fake.calls[-1] == [
        "docker-compose", "--ansi", "never", "--project-name", "fleet", "--file", "compose.generated.yml", "ps",
    ]  # fmt: skip


def test_compose_v2_plugin_wins(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(["compose", "version"], stdout="v2.29.1\n")
    cli = docker_engine.compose_cli()
    assert (cli.argv, cli.version, cli.v1) == (("docker", "compose"), "2.29.1", False)


def test_no_compose_names_both(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(["compose"], stderr="docker: unknown command: docker compose\n", code=1)
    fake.answer(["version"], stderr="not here\n", code=127)
    with pytest.raises(
        DockerMissing, match=r"neither `docker compose` \(the v2 plugin\) nor `docker-compose`"
    ):
        docker_engine.compose_cli()


def test_a_child_killed_by_someone_else_is_a_failure(fake: FakeDocker, docker_engine: Engine) -> None:
    fake.answer(["pull"], signal=9)
    with pytest.raises(PermanentError) as caught:
        docker_engine.pull("r/x:1")
    assert caught.value.returncode == -9


def test_stop_all_stops_children_and_they_report_an_interruption(
    fake: FakeDocker, docker_engine: Engine
) -> None:
    fake.answer(["pull"], hold="pull")  # never released: only claw's stop ends it
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            docker_engine.pull("r/x:1")
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    fake.wait_held("pull")
    docker_engine.children.stop_all()
    worker.join(SAFETY)
    assert not worker.is_alive(), f"the pull still runs {SAFETY:g} s after stop_all"
    assert [type(exc) for exc in outcome] == [Interrupted]


def test_a_child_that_answers_claws_stop_with_an_exit_status_was_interrupted(
    fake: FakeDocker, docker_engine: Engine
) -> None:
    """`docker run` hands SIGTERM to its container and exits with the container's status
    (143): claw stopped it, so it is an interruption, never a failed probe."""
    fake.answer(["run"], hold="probe", on_term=143)  # never released: it answers the stop
    fake.answer(["rm"])
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            docker_engine.run_probe("img", ["v", "--version"], timeout=60)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    fake.wait_held("probe")  # said after it armed its answer to SIGTERM
    assert fake.armed == 1, "the stand-in answers SIGTERM with 143"
    docker_engine.children.stop_all()
    worker.join(SAFETY)
    assert not worker.is_alive(), f"the probe still runs {SAFETY:g} s after stop_all"
    assert [type(exc) for exc in outcome] == [Interrupted]
    assert fake.args[-1][:2] == ["rm", "--force"]  # the probe container goes


def test_engine_unreachable_names_host_and_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "ssh://ops@far")
    monkeypatch.setenv("DOCKER_CONTEXT", "prod")
    error = classify(("docker", "version"), 1, "", "error during connect: ssh: connect refused\n")
    assert error.message == (
        "cannot reach the Docker engine (DOCKER_HOST=ssh://ops@far, DOCKER_CONTEXT=prod): "
        "error during connect: ssh: connect refused"
    )


# --------------------------------------------------------------------------
# Listing tags and containers (refresh cleanup, pruning)
# --------------------------------------------------------------------------


def test_list_images_is_one_call_with_full_ids(
    fake: FakeDocker, recorded: Callable[[str], dict[str, Any]], docker_engine: Engine
) -> None:
    fake.replay(recorded("image-ls-references"))
    listed = docker_engine.list_images(["claw-fixture/two", "claw-fixture/one:built-*"])
    refs = {item.ref for item in listed}
    assert refs == {
        "claw-fixture/two:2",
        "claw-fixture/two:latest",
        "claw-fixture/two:v1.2.0",
        "claw-fixture/two:claw-refresh-77-1",
        "claw-fixture/one:built-x",
    }
    assert all(item.id.startswith("sha256:") and len(item.id) == 71 for item in listed)
    assert all(item.created.endswith("UTC") for item in listed)
    assert len(fake.calls) == 1


def test_list_images_without_patterns_lists_nothing(fake: FakeDocker, docker_engine: Engine) -> None:
    assert docker_engine.list_images([]) == []
    assert fake.calls == []


def test_containers_labelled(
    fake: FakeDocker, recorded: Callable[[str], dict[str, Any]], docker_engine: Engine
) -> None:
    fake.replay(recorded("container-ls-labelled"))
    assert docker_engine.containers_labelled("claw.probe=claw-fixture/two") == ["claw-probe-fixture"]


def test_probe_carries_its_labels() -> None:
    argv = ("docker", *probe_args("img", ["v", "--version"], "claw-probe-1", {"claw.probe": "openclaw"}))
    assert argv[argv.index("--label") + 1] == "claw.probe=openclaw"
    assert argv.index("--label") < argv.index("--entrypoint")


def test_once_stopping_long_work_is_not_started_but_cleanup_is(
    fake: FakeDocker, docker_engine: Engine
) -> None:
    fake.answer(["image", "rm"], stdout="Untagged: x:1\n")
    docker_engine.children.stop_all()
    with pytest.raises(Interrupted):
        docker_engine.pull("r/x:1")
    assert fake.calls == []
    assert docker_engine.remove_image("x:1") is True
    assert fake.calls == [["docker", "image", "rm", "x:1"]]


# --------------------------------------------------------------------------
# Engines side by side: one per docker context, nothing shared
# --------------------------------------------------------------------------

NO_BUILDX = "docker: unknown command: docker buildx\n"


def test_each_call_names_its_engines_context_right_after_docker(fake: FakeDocker) -> None:
    alpha, beta = quick("alpha"), quick("beta")
    fake.answer(["--context", "alpha", "image", "tag"])
    fake.answer(["--context", "beta", "image", "tag"])
    fake.answer(["--context", "alpha", "image", "rm"], stdout="Untagged: x:1\n")
    alpha.tag("a:1", "a:2")
    beta.tag("b:1", "b:2")
    assert alpha.remove_image("x:1") is True
    assert fake.calls == [
        ["docker", "--context", "alpha", "image", "tag", "a:1", "a:2"],
        ["docker", "--context", "beta", "image", "tag", "b:1", "b:2"],
        ["docker", "--context", "alpha", "image", "rm", "x:1"],
    ]
    assert (alpha.name, beta.name, quick().name) == ("alpha", "beta", "default")


def test_each_engine_asks_about_buildkit_once_and_keeps_its_own_answer(fake: FakeDocker) -> None:
    alpha, beta = quick("alpha"), quick("beta")
    fake.answer(["--context", "alpha", "buildx", "version"], stdout="github.com/docker/buildx v0.14.1\n")
    fake.answer(["--context", "beta", "buildx", "version"], stderr=NO_BUILDX, code=1)
    assert alpha.buildkit() is True
    assert beta.buildkit() is False
    assert fake.calls == [
        ["docker", "--context", "alpha", "buildx", "version"],
        ["docker", "--context", "beta", "buildx", "version"],
    ]
    fake.answer(["--context", "gamma", "buildx", "version"], stderr=NO_BUILDX, code=1)
    gamma = quick("gamma")
    gamma.prefetch_buildkit()
    assert (alpha.buildkit(), beta.buildkit(), gamma.buildkit()) == (True, False, False)
    assert (alpha.buildkit(), beta.buildkit(), gamma.buildkit()) == (True, False, False)
    assert fake.calls[2:] == [["docker", "--context", "gamma", "buildx", "version"]], "asked once each"


def test_a_named_context_compose_v1_cannot_drive_is_refused(fake: FakeDocker) -> None:
    fake.answer(
        ["--context", "alpha", "compose"], stderr="docker: 'compose' is not a docker command.\n", code=1
    )
    fake.answer(
        ["--context", "alpha", "context", "inspect"],
        stdout=json.dumps(
            {"Name": "alpha", "Endpoints": {"docker": {"Host": "tcp://far:2376", "SkipTLSVerify": True}}}
        ),
    )
    fake.answer(["compose"], sticky=True, stdout="1.29.2\n")  # v1 is there, and would answer
    with pytest.raises(
        DockerMissing, match="docker-compose \\(v1\\) cannot drive it: .*TLS without verification"
    ) as caught:
        quick("alpha").compose_cli()
    assert "compose v2 plugin" in (caught.value.hint or "")


def test_each_engine_finds_its_own_compose(fake: FakeDocker) -> None:
    alpha, beta = quick("alpha"), quick("beta")
    fake.answer(["--context", "alpha", "compose", "version"], stdout="v2.29.1\n")
    fake.answer(["--context", "beta", "compose", "version"], stdout="v2.20.3\n")
    for name in ("alpha", "beta"):
        fake.answer(["--context", name, "compose", "--ansi"], sticky=True, stdout="ok\n")
    assert alpha.compose_cli() == ComposeCli(("docker", "--context", "alpha", "compose"), "2.29.1")
    assert beta.compose_cli() == ComposeCli(("docker", "--context", "beta", "compose"), "2.20.3")
    assert len(fake.calls) == 2
    for engine in (alpha, beta, alpha):
        assert engine.compose_cli().version == {"alpha": "2.29.1", "beta": "2.20.3"}[engine.name]
        engine.compose(["ps"], project="fleet", file=Path("compose.generated.yml"))
    assert fake.calls == [
        ["docker", "--context", "alpha", "compose", "version", "--short"],
        ["docker", "--context", "beta", "compose", "version", "--short"],
        ["docker", "--context", "alpha", "compose", "--ansi", "never", "--project-name", "fleet",
         "--file", "compose.generated.yml", "ps"],
        ["docker", "--context", "beta", "compose", "--ansi", "never", "--project-name", "fleet",
         "--file", "compose.generated.yml", "ps"],
        ["docker", "--context", "alpha", "compose", "--ansi", "never", "--project-name", "fleet",
         "--file", "compose.generated.yml", "ps"],
    ], "each engine asked once, then remembered"  # fmt: skip


def test_stopping_one_engines_children_leaves_the_other_engine_working(fake: FakeDocker) -> None:
    alpha, beta = quick("alpha"), quick("beta")
    fake.answer(["--context", "alpha", "pull"], hold="alpha")  # never released
    fake.answer(["--context", "beta", "pull"], hold="beta", stdout="pulled\n")
    outcomes: dict[str, BaseException | None] = {}

    def work(engine: Engine) -> None:
        try:
            engine.pull("r/x:1")
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcomes[engine.name] = exc
        else:
            outcomes[engine.name] = None

    workers = {engine.name: threading.Thread(target=work, args=(engine,)) for engine in (alpha, beta)}
    for worker in workers.values():
        worker.start()
    fake.wait_held("alpha", "beta")
    assert len(fake.calls) == 2, "both pulls are running"
    alpha.children.stop_all()
    workers["alpha"].join(SAFETY)
    assert not workers["alpha"].is_alive(), f"alpha's pull still runs {SAFETY:g} s after its stop"
    assert type(outcomes["alpha"]) is Interrupted
    assert workers["beta"].is_alive(), "beta's pull still runs"
    assert "beta" not in outcomes
    fake.release("beta")
    workers["beta"].join(SAFETY)
    assert not workers["beta"].is_alive(), f"beta's pull still runs {SAFETY:g} s after its release"
    assert outcomes["beta"] is None, "beta's pull ran to its end"
    assert alpha.children.stopping.is_set()
    assert not beta.children.stopping.is_set()
    fake.answer(["--context", "beta", "pull"], stdout="pulled\n")
    beta.pull("r/x:2")  # long work still starts on beta
    with pytest.raises(Interrupted):
        alpha.pull("r/x:2")
    assert fake.calls[-1] == ["docker", "--context", "beta", "pull", "r/x:2"]


def test_echo_names_the_context(fake: FakeDocker) -> None:
    fake.answer(["--context", "alpha", "image", "tag"])
    echoed: list[str] = []
    quick("alpha", echo=echoed.append).tag("a:1", "b:has space")
    assert echoed == ["$ docker --context alpha image tag a:1 'b:has space'"]


def test_engine_unreachable_is_not_a_docker_error(fake: FakeDocker) -> None:
    fake.answer(
        ["--context", "alpha", "version"],
        stderr='Failed to initialize: unable to resolve docker endpoint: context "alpha": context not found\n',
        code=1,
    )
    try:
        quick("alpha").check()
    except DockerError:
        pytest.fail("`except DockerError` caught an unreachable engine")
    except EngineUnreachable as exc:
        error = exc
    else:
        pytest.fail("an unreachable engine raised nothing")
    assert not isinstance(error, DockerError)
    assert isinstance(error, ClawError)
    assert error.argv == ("docker", "--context", "alpha", "version", "--format", "{{json .}}")
    assert error.message.startswith("cannot reach the Docker engine (context alpha): ")
    assert error.reason.endswith("context not found")
