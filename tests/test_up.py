"""`claw up` checks with our docker verbs patched, and the generated compose file (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lib import compose_file, config, docker, infra, pod, target, up
from lib.errors import InputError

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


class Images:
    """docker.inspect_images over a fixed set of local images; counts the calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, images: dict[str, docker.Image]) -> None:
        self.images, self.calls = images, 0
        monkeypatch.setattr(docker, "inspect_images", self.inspect)

    def inspect(self, refs: Iterable[str]) -> dict[str, docker.Image]:
        self.calls += 1
        return {r: self.images[r] for r in refs if r in self.images}


def service_image(base_id: str, against: str) -> docker.Image:
    labels = {"claw.runner.image-id": base_id, "claw.runner.built-against": against}
    return docker.Image("sha256:" + "9" * 64, ("claw-local/team-analyst:latest",), labels)


def all_present(base_id: str = BASE_OLD) -> dict[str, docker.Image]:
    pins = infra.defaults()
    return {
        "claw-local/team-analyst:latest": service_image(BASE_OLD, "openclaw:v0.5.0"),
        "nginx:1.27": docker.Image("sha256:n", ("nginx:1.27",)),
        pins["cllama"]: docker.Image("sha256:c", ()),
        pins["clawdash"]: docker.Image("sha256:d", ()),
        "openclaw:latest": docker.Image(base_id, ("openclaw:latest", "openclaw:v0.5.2")),
    }


def check(pod_file: Path) -> up.Readiness:
    return up.check(target.Target("pod", pod_file), config.Config())


def test_ready_pod_without_drift(monkeypatch: pytest.MonkeyPatch, pod_file: Path) -> None:
    images = Images(monkeypatch, all_present())
    readiness = check(pod_file)
    assert readiness.ready
    assert readiness.drift == ()
    assert images.calls == 1


def test_drift_line(monkeypatch: pytest.MonkeyPatch, pod_file: Path) -> None:
    Images(monkeypatch, all_present(base_id=BASE_NEW))
    (drift,) = check(pod_file).drift
    assert drift.line("claw build") == (
        "analyst: built against openclaw:v0.5.0 (image 111111111111), current is openclaw:v0.5.2 "
        "(image 222222222222); consider running: claw build"
    )


def test_a_pinned_from_gets_no_drift_hint(monkeypatch: pytest.MonkeyPatch, pod_file: Path) -> None:
    (pod_file.parent / "analyst" / "Clawfile").write_text("FROM openclaw:v0.5.0\nCLAW_TYPE openclaw\n")
    images = all_present(base_id=BASE_NEW)
    images["openclaw:v0.5.0"] = docker.Image(BASE_OLD, ("openclaw:v0.5.0",))
    Images(monkeypatch, images)
    assert check(pod_file).drift == ()


@pytest.mark.parametrize(
    ("gone", "subject", "fix"),
    [
        ("nginx:1.27", "web", "pull"),
        (infra.defaults()["clawdash"], "clawdash (infra)", "pull"),
        ("claw-local/team-analyst:latest", "analyst", "build"),
    ],
)
def test_each_missing_image_and_its_fix(
    monkeypatch: pytest.MonkeyPatch, pod_file: Path, gone: str, subject: str, fix: str
) -> None:
    images = all_present()
    del images[gone]
    Images(monkeypatch, images)
    readiness = check(pod_file)
    assert [(p.subject, p.fix) for p in readiness.problems] == [(subject, fix)]
    where = target.Target("pod", Path("pods/claw-pod.yml"))
    assert readiness.not_ready(where).hint == f"run: claw {fix} -f pods/claw-pod.yml"


def test_pull_comes_first_and_a_missing_runner_needs_pull(
    monkeypatch: pytest.MonkeyPatch, pod_file: Path
) -> None:
    images = all_present()
    del images["claw-local/team-analyst:latest"]
    del images["openclaw:latest"]
    Images(monkeypatch, images)
    readiness = check(pod_file)
    (problem,) = readiness.problems
    assert problem.fix == "pull"
    assert "its runner base openclaw:latest is missing" in problem.text
    assert [r.alias for r in readiness.runners_missing] == ["openclaw"]
    error = readiness.not_ready(target.Target("pod", pod_file, given=False))
    assert error.exit_code == 3
    assert error.hint == "run: claw pull"
    assert error.message.splitlines() == ["pod team is not ready:", f"  analyst: {problem.text}"]


def test_the_number_of_inspect_calls_does_not_grow_with_the_pod(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = "".join(f"  s{i}:\n    image: nginx:1.{i}\n" for i in range(200))
    (tmp_path / "claw-pod.yml").write_text(f"services:\n{services}")
    images = Images(monkeypatch, {})
    readiness = check(tmp_path / "claw-pod.yml")
    assert len(readiness.problems) == 200
    assert images.calls == 1


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
    v1 = docker.ComposeCli(("docker-compose",), "1.29.2")
    v2 = docker.ComposeCli(("docker", "compose"), "2.29.1")
    assert docker.compose_up_args(v1, detach=True) == ("up", "--no-build", "--detach")
    assert docker.compose_up_args(v2, detach=False) == ("up", "--no-build", "--pull", "never")
