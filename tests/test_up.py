"""`claw up` checks against an in-memory engine, `up --fix` end to end, and the generated
compose file (pure)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from lib import cli, compose_file, config, infra, invocation, pod, runners, target
from lib.engine.argv import ComposeCli, compose_up_args
from lib.engine.docker import Image
from lib.errors import InputError
from lib.invocation import Invocation
from lib.verbs import up
from tests.harness.invocations import invocation as on_engine
from tests.harness.invocations import making
from tests.harness.model import Model
from tests.harness.waiting import CHILD

BASE_OLD = "sha256:" + "1" * 64
BASE_NEW = "sha256:" + "2" * 64

POD = """\
x-claw: {pod: team, agent: extra}
services:
  analyst:
    build: analyst
    x-claw: {cllama: openai, dashboard: true, count: 2}
    environment: [FOO=bar, PASSED]
    labels: [team=red]
    networks: [backend]
  web:
    image: nginx:1.27
    labels: {tier: front}
networks:
  backend: {}
"""


@pytest.fixture
def pod_file(tmp_path: Path) -> Path:
    (tmp_path / "analyst").mkdir()
    (tmp_path / "analyst" / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\n")
    (tmp_path / "claw-pod.yml").write_text(POD)
    return tmp_path / "claw-pod.yml"


def service_image(base_id: str, against: str) -> Image:
    labels = {"claw.runner.image-id": base_id, "claw.runner.built-against": against}
    return Image("sha256:" + "9" * 64, ("claw-local/team-analyst:latest",), labels)


def all_present(base_id: str = BASE_OLD) -> dict[str, Image]:
    pins = infra.defaults()
    return {
        "claw-local/team-analyst:latest": service_image(BASE_OLD, "openclaw:v0.5.0"),
        "nginx:1.27": Image("sha256:n", ("nginx:1.27",)),
        pins["cllama"]: Image("sha256:c", ()),
        pins["clawdash"]: Image("sha256:d", ()),
        "openclaw:latest": Image(base_id, ("openclaw:latest", "openclaw:v0.5.2")),
    }


def invocation_for(pod_file: Path, host: Model) -> Invocation:
    return on_engine(target.target_of(None, str(pod_file), pod_file.parent), host)


def check(pod_file: Path, host: Model) -> up.Readiness:
    return up.check(invocation_for(pod_file, host))


def test_ready_pod_without_drift(pod_file: Path) -> None:
    images = Model(all_present())
    readiness = check(pod_file, images)
    assert readiness.ready
    assert readiness.drift == ()
    assert len(images.inspected) == 1


def test_drift_line(pod_file: Path) -> None:
    (drift,) = check(pod_file, Model(all_present(base_id=BASE_NEW))).drift
    assert drift.line("claw build") == (
        "analyst: built against openclaw:v0.5.0 (image 111111111111), current is openclaw:v0.5.2 "
        "(image 222222222222); consider running: claw build"
    )


def with_records(image: Image, upstream: str, from_digest: str) -> Image:
    labels = {
        **image.labels,
        "claw.runner.driver": "openclaw",
        "claw.runner.recipe-sha": "sha256:r",
        "claw.base.upstream.0": upstream,
        "claw.base.from.0": f"docker.io/library/node:22-slim@sha256:{from_digest * 64}",
        "claw.base.refreshed-at": "2026-05-22T10:00:00Z",
    }
    return dataclasses.replace(image, labels=labels)


def test_drift_names_what_moved_between_the_two_bases(pod_file: Path) -> None:
    images = all_present(base_id=BASE_NEW)
    service = "claw-local/team-analyst:latest"
    images[service] = with_records(images[service], "npm:openclaw@2026.5.22", "a")
    images["openclaw:latest"] = with_records(images["openclaw:latest"], "npm:openclaw@2026.5.24", "b")
    (drift,) = check(pod_file, Model(images)).drift
    assert drift.line("claw build") == (
        "analyst: built against openclaw:v0.5.0 (image 111111111111), current is openclaw:v0.5.2 "
        "(image 222222222222: npm:openclaw 2026.5.22 → 2026.5.24; node:22-slim moved); consider running: claw build"
    )


def test_up_check_json_gives_each_service_its_provenance(
    pod_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    images = all_present(base_id=BASE_NEW)
    service = "claw-local/team-analyst:latest"
    images[service] = with_records(images[service], "npm:openclaw@2026.5.22", "a")
    monkeypatch.setattr(invocation, "make", making(Model(images)))
    monkeypatch.chdir(pod_file.parent)
    assert cli.main(["up", "--check", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["command"], document["ok"], document["pod"], document["ready"]) == (
        "up",
        True,
        "team",
        True,
    )
    analyst, web = document["services"]
    assert analyst == {
        "name": "analyst",
        "image": service,
        "image_id": "sha256:" + "9" * 64,
        "runner": "openclaw",
        "built_against": "openclaw:v0.5.0",
        "base_image_id": BASE_OLD,
        "recipe_sha": "sha256:r",
        "from": [f"docker.io/library/node:22-slim@sha256:{'a' * 64}"],
        "upstreams": ["npm:openclaw@2026.5.22"],
        "refreshed_at": "2026-05-22T10:00:00Z",
        "drift": {
            "current": "openclaw:v0.5.2",
            "current_image_id": BASE_NEW,
            "moved": [],
            "rolled_back": False,
        },
        "lock": None,  # no claw.lock beside the pod
    }
    assert (web["name"], web["runner"], web["drift"], web["from"]) == ("web", None, None, [])


def test_a_pinned_from_gets_no_drift_hint(pod_file: Path) -> None:
    (pod_file.parent / "analyst" / "Clawfile").write_text("FROM openclaw:v0.5.0\nCLAW_TYPE openclaw\n")
    images = all_present(base_id=BASE_NEW)
    images["openclaw:v0.5.0"] = Image(BASE_OLD, ("openclaw:v0.5.0",))
    assert check(pod_file, Model(images)).drift == ()


@pytest.mark.parametrize(
    ("built_on", "against", "drift"),
    [
        pytest.param(BASE_OLD, "openclaw:v0.5.0", None, id="built-on-the-pin"),
        pytest.param(
            BASE_NEW,
            "openclaw:v0.5.2",
            "openclaw is pinned at v0.5.0, older than v0.5.2, the base this service was built on "
            "(image 222222222222, now image 111111111111)",
            id="built-on-latest",
        ),
    ],
)
def test_drift_is_measured_against_the_pin(
    pod_file: Path, built_on: str, against: str, drift: str | None
) -> None:
    """The config pins openclaw at v0.5.0 and latest has moved on to v0.5.2: a service built
    on the pin has not drifted; one built on latest has, back to the pin."""
    images = all_present(base_id=BASE_NEW)
    images["openclaw:v0.5.0"] = Image(BASE_OLD, ("openclaw:v0.5.0",))
    images["claw-local/team-analyst:latest"] = service_image(built_on, against)
    cfg = config.parse('[runners.openclaw]\npin = "v0.5.0"\n', pod_file.parent / "claw.toml")
    where = target.target_of(None, str(pod_file), pod_file.parent)
    readiness = up.check(on_engine(where, Model(images), cfg=cfg))
    assert readiness.ready
    lines = [d.line("claw build") for d in readiness.drift]
    if drift is None:
        assert lines == []
    else:
        assert lines == [f"analyst: {drift}; consider running: claw build"]


@pytest.mark.parametrize(
    ("gone", "subject", "fix"),
    [
        ("nginx:1.27", "web", "pull"),
        (infra.defaults()["clawdash"], "clawdash (infra)", "pull"),
        ("claw-local/team-analyst:latest", "analyst", "build"),
    ],
)
def test_each_missing_image_and_its_fix(pod_file: Path, gone: str, subject: str, fix: str) -> None:
    images = all_present()
    del images[gone]
    readiness = check(pod_file, Model(images))
    assert [(p.subject, p.fix) for p in readiness.problems] == [(subject, fix)]
    where = target.PodTarget(Path("pods/claw-pod.yml"), True, readiness.pod)
    assert readiness.not_ready(where).hint == f"run: claw {fix} -f pods/claw-pod.yml"


def test_pull_comes_first_and_a_missing_runner_needs_pull(pod_file: Path) -> None:
    images = all_present()
    del images["claw-local/team-analyst:latest"]
    del images["openclaw:latest"]
    readiness = check(pod_file, Model(images))
    (problem,) = readiness.problems
    assert problem.fix == "pull"
    assert "its runner base openclaw:latest is missing" in problem.text
    assert [r.alias for r in readiness.runners_missing] == ["openclaw"]
    error = readiness.not_ready(target.PodTarget(pod_file, False, readiness.pod))
    assert error.exit_code == 3
    assert error.hint == "run: claw up --fix"  # the pull brings the base, then the build
    assert error.message.splitlines() == ["pod team is not ready:", f"  analyst: {problem.text}"]


def test_the_number_of_inspect_calls_does_not_grow_with_the_pod(tmp_path: Path) -> None:
    services = "".join(f"  s{i}:\n    image: nginx:1.{i}\n" for i in range(200))
    (tmp_path / "claw-pod.yml").write_text(f"services:\n{services}")
    images = Model()
    readiness = check(tmp_path / "claw-pod.yml", images)
    assert len(readiness.problems) == 200
    assert len(images.inspected) == 1


SIDECAR_NAME = "services:\n  cllama:\n    image: x\n  a:\n    image: y\n    x-claw: {cllama: passthrough}\n"


def test_check_makes_the_compose_file_checks_before_any_docker_call(tmp_path: Path) -> None:
    path = tmp_path / "claw-pod.yml"
    path.write_text(SIDECAR_NAME)
    host = Model()
    with pytest.raises(InputError) as caught:
        check(path, host)
    assert caught.value.message.startswith(
        f"{path}: services.cllama: the name is taken by the cllama sidecar"
    )
    assert host.inspected == []


def test_up_check_refuses_a_service_named_like_a_sidecar_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the CLI, against an engine that does not exist: refused before docker (else exit 1)."""
    path = tmp_path / "claw-pod.yml"
    path.write_text(SIDECAR_NAME)
    assert cli.main(["up", "--check", "-f", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"error: {path}: services.cllama: the name is taken by the cllama sidecar claw adds "
        "for this pod; rename the service"
    ]


# --------------------------------------------------------------------------
# up --fix: one run reads each input file once
# --------------------------------------------------------------------------

FIX_POD = """\
x-claw: {pod: team}
services:
  analyst:
    build: analyst
  worker:
    build: {context: worker, dockerfile: Dockerfile.worker}
  web:
    image: nginx:1.27
"""


def test_up_fix_reads_the_pod_and_each_clawfile_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "analyst").mkdir()
    (tmp_path / "analyst" / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\n")
    (tmp_path / "worker").mkdir()  # not named Clawfile: read once to tell, and that text is parsed
    (tmp_path / "worker" / "Dockerfile.worker").write_text("FROM openclaw AS runtime\nCLAW_TYPE openclaw\n")
    (tmp_path / "claw-pod.yml").write_text(FIX_POD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CLAW_CONFIG", raising=False)

    host = Model({"openclaw:latest": Image(BASE_OLD, ("openclaw:latest", "openclaw:v0.5.2"))})
    host.publish("nginx:1.27")
    monkeypatch.setattr(invocation, "make", making(host))
    reads: Counter[Path] = Counter()
    read_text = Path.read_text

    def counting(self: Path, *args: Any, **kwargs: Any) -> str:
        reads[self.resolve()] += 1
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)

    assert cli.main(["up", "--fix"]) == 0, capsys.readouterr().err
    assert host.done == [
        "pull nginx:1.27",
        "build claw-local/team-analyst:latest",
        "build claw-local/team-worker:latest",
        "compose up team",
    ]
    inputs = [
        tmp_path / "claw-pod.yml",
        tmp_path / "analyst" / "Clawfile",
        tmp_path / "worker" / "Dockerfile.worker",
    ]
    assert {path.relative_to(tmp_path): reads[path.resolve()] for path in inputs} == {
        Path("claw-pod.yml"): 1,
        Path("analyst/Clawfile"): 1,
        Path("worker/Dockerfile.worker"): 1,
    }
    built = host.image("claw-local/team-analyst:latest")
    assert built is not None
    assert built.labels[runners.RUNNER_BUILT_AGAINST] == "openclaw:v0.5.2"


# --------------------------------------------------------------------------
# compose.generated.yml
# --------------------------------------------------------------------------


def generated(pod_file: Path) -> dict[str, Any]:
    the_pod = pod.load(pod_file)
    text = compose_file.render(compose_file.generate(the_pod, infra.defaults()), the_pod)
    assert text.startswith("# Written by `claw up` from claw-pod.yml")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def test_generated_compose_file(pod_file: Path) -> None:
    document = generated(pod_file)
    assert "x-claw" not in document
    services = document["services"]
    assert set(services) == {"analyst", "web", "cllama", "clawdash"}
    analyst = services["analyst"]
    assert "build" not in analyst
    assert "x-claw" not in analyst
    assert analyst["image"] == "claw-local/team-analyst:latest"
    assert analyst["labels"] == {"team": "red", "claw.pod": "team", "claw.service": "analyst"}
    assert analyst["environment"] == {
        "FOO": "bar",
        "PASSED": None,
        "CLAW_CLAWDASH_URL": "http://clawdash:8082",
        "CLAW_CLLAMA_URL": "http://cllama:8080",
    }
    assert analyst["networks"] == ["backend", "claw"]
    assert services["web"]["labels"] == {"tier": "front", "claw.pod": "team", "claw.service": "web"}
    assert "networks" not in services["web"]
    assert services["cllama"] == {
        "image": infra.defaults()["cllama"],
        "labels": {"claw.pod": "team", "claw.service": "cllama", "claw.infra": "cllama"},
        "networks": ["claw", "default"],
    }
    assert document["networks"] == {"backend": {}, "claw": {"internal": True}}


def test_a_service_named_like_a_sidecar_is_refused(tmp_path: Path) -> None:
    (tmp_path / "claw-pod.yml").write_text(
        "services:\n  cllama:\n    image: x\n  a:\n    image: y\n    x-claw: {cllama: openai}\n"
    )
    with pytest.raises(InputError, match="services.cllama: the name is taken by the cllama sidecar"):
        generated(tmp_path / "claw-pod.yml")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("claw-pod.yml", "compose.generated.yml"), ("claw-pod.yaml", "compose.generated.yml"), ("staging.yml", "staging.compose.generated.yml")],
)  # fmt: skip
def test_generated_file_name(name: str, expected: str) -> None:
    assert compose_file.path_for(Path("pods") / name) == Path("pods") / expected


def test_compose_flags_both_versions_understand() -> None:
    v1 = ComposeCli(("docker-compose",), "1.29.2")
    v2 = ComposeCli(("docker", "compose"), "2.29.1")
    assert compose_up_args(v1, detach=True) == ("up", "--no-build", "--detach")
    assert compose_up_args(v2, detach=False) == ("up", "--no-build", "--pull", "never")


def test_compose_errors_about_the_generated_file_name_the_pod(pod_file: Path) -> None:
    from lib.errors import DockerError

    file = pod_file.with_name("compose.generated.yml")
    error = DockerError(
        ("docker", "compose", "up"), 1, "", f"services.web.ports contains an invalid type ({file})\n"
    )
    the_pod = invocation_for(pod_file, Model()).pod_target().pod
    said = up._against_pod(error, the_pod, file)
    assert said.message == (
        f"{pod_file}: compose refused the pod: services.web.ports contains an invalid type "
        "(compose.generated.yml) (in compose.generated.yml, written from it)"
    )
    other = DockerError(("docker", "compose", "up"), 1, "", "network claw not found\n")
    assert up._against_pod(other, the_pod, file) is other


CHECK_IMPORTS = """\
import sys
from pathlib import Path
from lib import cli, config, invocation, runners, target
from lib.verbs import up
runners.table(config.load(None))
target.target_of(None, sys.argv[1], Path.cwd())
print(" ".join(sorted(name for name in sys.modules if name.startswith("lib."))))
"""


def test_checking_a_pod_of_registry_services_loads_no_dockerfile_reader(tmp_path: Path) -> None:
    """`up --check` of registry services reads no Clawfile, so it pays for no parser of one."""
    (tmp_path / "claw.toml").write_text("")
    (tmp_path / "claw-pod.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    loaded = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS, str(tmp_path / "claw-pod.yml")],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "CLAW_CONFIG": str(tmp_path / "claw.toml")},
        capture_output=True, text=True, check=True, timeout=CHILD,
    ).stdout.split()  # fmt: skip
    assert "lib.verbs.up" in loaded
    assert not {"lib.clawfile", "lib.dockerfile", "lib.cron"} & set(loaded)
