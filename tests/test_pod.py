from __future__ import annotations

import time
from pathlib import Path

import pytest

from lib import pod
from lib.errors import InputError


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "claw-pod.yml"


POD = """\
x-claw:
  pod: fleet
  handles-defaults: {discord: true}
services:
  analyst:
    build: ./analyst
    x-claw:
      cllama: passthrough
      dashboard: true
      agent: AGENTS.md
  worker:
    build:
      context: worker
      dockerfile: Dockerfile.worker
      target: runtime
      args:
        VERSION: 3
        DEBUG: null
        FLAG: true
    image: registry.example/team/worker:1.2
  plain:
    build:
      context: plain
      args: ["A=1", "PASS_THROUGH", "EMPTY="]
  redis:
    image: redis:7
    x-claw:
      cllama: [policy, other]
"""


@pytest.fixture
def pod_file(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "claw-pod.yml": POD,
            "analyst/Clawfile": "FROM openclaw\nCLAW_TYPE openclaw\n",
            "analyst/Dockerfile": "FROM busybox\n",
            "worker/Dockerfile.worker": "FROM openclaw AS runtime\nclaw_type openclaw\n",
            "plain/Dockerfile": "FROM busybox\nRUN <<EOF\nCLAW_TYPE only-in-a-heredoc\nEOF\n",
        },
    )


def test_services_ownership_and_refs(pod_file: Path) -> None:
    plan = pod.load(pod_file)
    assert plan.name == "fleet"
    by_name = {s.name: s for s in plan.services}
    assert [s.name for s in plan.built] == ["analyst", "worker", "plain"]
    assert [s.name for s in plan.pulled] == ["redis"]
    assert by_name["analyst"].owner == "build"
    assert by_name["redis"].owner == "registry"
    assert by_name["analyst"].ref == "claw-local/fleet-analyst:latest"
    assert by_name["worker"].ref == "registry.example/team/worker:1.2"
    assert by_name["redis"].ref == "redis:7"


def test_build_file_resolution_and_clawfile_detection(pod_file: Path) -> None:
    by_name = {s.name: s for s in pod.load(pod_file).services}
    root = pod_file.parent.resolve()
    analyst, worker, plain = (by_name[n].build for n in ("analyst", "worker", "plain"))
    assert analyst is not None
    assert worker is not None
    assert plain is not None
    assert (analyst.file, analyst.is_clawfile) == (root / "analyst" / "Clawfile", True)
    assert (worker.file, worker.is_clawfile) == (root / "worker" / "Dockerfile.worker", True)
    assert (plain.file, plain.is_clawfile) == (root / "plain" / "Dockerfile", False)
    assert worker.target == "runtime"
    assert worker.args == (("VERSION", "3"), ("DEBUG", None), ("FLAG", "true"))
    assert plain.args == (("A", "1"), ("PASS_THROUGH", None), ("EMPTY", ""))


def test_x_claw_fields_and_infra(pod_file: Path) -> None:
    plan = pod.load(pod_file)
    by_name = {s.name: s for s in plan.services}
    assert by_name["analyst"].cllama == ("passthrough",)
    assert by_name["analyst"].dashboard is True
    assert by_name["redis"].cllama == ("policy", "other")
    assert plan.infra() == ("clawdash", "cllama", "cllama-policy")
    assert plan.ignored == ("x-claw.handles-defaults",)
    assert by_name["analyst"].ignored == ("services.analyst.x-claw.agent",)


def test_pod_without_x_claw_takes_compose_name_then_directory(tmp_path: Path) -> None:
    named = write(tmp_path / "a", {"claw-pod.yml": "name: shop\nservices: {web: {image: nginx}}\n"})
    assert pod.load(named).name == "shop"
    unnamed = write(
        tmp_path / "My Fleet.Dir", {"claw-pod.yml": "services: {web: {build: .}}\n", "Dockerfile": ""}
    )
    plan = pod.load(unnamed)
    assert plan.name == "my-fleet-dir"
    assert plan.services[0].ref == "claw-local/my-fleet-dir-web:latest"
    assert plan.infra() == ()


def test_managed_ref_sanitising() -> None:
    assert pod.managed_ref("Fleet", "Web_Server.1") == "claw-local/fleet-web_server.1:latest"
    assert pod.managed_ref("a", "b c!!d") == "claw-local/a-b-c-d:latest"


def test_find_prefers_yml(tmp_path: Path) -> None:
    assert pod.find(tmp_path) is None
    (tmp_path / "claw-pod.yaml").write_text("")
    assert pod.find(tmp_path) == tmp_path / "claw-pod.yaml"
    (tmp_path / "claw-pod.yml").write_text("")
    assert pod.find(tmp_path) == tmp_path / "claw-pod.yml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "expected a compose file"),
        ("services: {}", "services: expected a mapping of one or more services"),
        ("services: {a: {}}", "services.a: needs `build:` or `image:`"),
        ("services: {a: []}", "services.a: expected a mapping"),
        ("services: {a: {image: 'Bad Ref'}}", "services.a.image: not a valid image reference: 'Bad Ref'"),
        ("services: {a: {image: [x]}}", "services.a.image: not a valid image reference"),
        ("services: {a: {build: missing}}", "services.a.build.context: directory not found"),
        ("services: {a: {build: {context: 3}}}", "services.a.build.context: expected a path"),
        ("services: {a: {build: {dockerfile: Nope}}}", "services.a.build.dockerfile: file not found"),
        ("services: {a: {build: {context: empty}}}", "services.a.build: no Clawfile or Dockerfile in"),
        (
            "services: {a: {build: {context: ctx, args: 3}}}",
            "services.a.build.args: expected a mapping or a list",
        ),
        (
            "services: {a: {build: {context: ctx, args: ['=x']}}}",
            "services.a.build.args: expected KEY or KEY=VALUE",
        ),
        (
            "services: {a: {build: {context: ctx, args: {K: [1]}}}}",
            "services.a.build.args.K: expected a string",
        ),
        (
            "services: {a: {build: {context: ctx, target: 1}}}",
            "services.a.build.target: expected a stage name",
        ),
        (
            "services: {a: {image: x, x-claw: {cllama: 3}}}",
            "services.a.x-claw.cllama: expected a type or a list",
        ),
        (
            "services: {a: {image: x, x-claw: {dashboard: 'yes'}}}",
            "services.a.x-claw.dashboard: expected true or",
        ),
        ("services: {a: {image: x, x-claw: []}}", "services.a.x-claw: expected a mapping"),
        ("x-claw: {pod: 'Bad Name'}\nservices: {a: {image: x}}", "x-claw.pod: expected a name"),
        ("x-claw: 3\nservices: {a: {image: x}}", "x-claw: expected a mapping"),
        ("services:\n  a: {image: x}\n  a: {image: y}\n", "claw-pod.yml:3: duplicate key 'a'"),
        ("services: {a: [\n", "claw-pod.yml:1: invalid YAML"),
    ],
)
def test_errors_name_file_service_and_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "empty").mkdir()
    write(tmp_path, {"ctx/Dockerfile": "FROM x\n", "Dockerfile": "FROM x\n"})
    path = write(tmp_path, {"claw-pod.yml": text})
    with pytest.raises(InputError) as caught:
        pod.load(path)
    assert caught.value.message.startswith(str(path)), caught.value.message
    assert message in caught.value.message


def test_broken_clawfile_in_a_service_names_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, {"claw-pod.yml": "services: {a: {build: .}}", "Dockerfile": "RUN <<EOF\nnever ends\n"}
    )
    with pytest.raises(InputError) as caught:
        pod.load(path)
    assert caught.value.message.startswith(f"{path}: services.a.build: ")
    assert caught.value.message.endswith("Dockerfile:1: unterminated heredoc <<EOF")


def test_missing_pod_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pod file not found"):
        pod.load(tmp_path / "claw-pod.yml")


def test_unreadable_build_file(tmp_path: Path) -> None:
    (tmp_path / "ctx" / "Dockerfile").mkdir(parents=True)
    path = write(tmp_path, {"claw-pod.yml": "services: {a: {build: {context: ctx, dockerfile: Dockerfile}}}"})
    with pytest.raises(InputError, match="services.a.build.dockerfile: file not found"):
        pod.load(path)
    (tmp_path / "ctx" / "Dockerfile").rmdir()
    (tmp_path / "ctx" / "Dockerfile").write_bytes(b"FROM x\n\xff\xfe\n")
    with pytest.raises(InputError) as caught:
        pod.load(path)
    assert caught.value.message.startswith(f"{path}: services.a.build: ")
    assert "ctx/Dockerfile: cannot read build file: 'utf-8' codec" in caught.value.message


def test_keys_claw_leaves_alone_are_named_with_verbose(tmp_path: Path) -> None:
    path = tmp_path / "claw-pod.yml"
    path.write_text(
        "x-claw: {pod: p, include: [a.yml]}\nservices:\n  a:\n    image: x\n    x-claw: {count: 2, cllama: openai}\n"
    )
    said: list[str] = []
    the_pod = pod.load(path, said.append)
    assert said == [
        f"{path}: x-claw.include: accepted, not acted on by claw",
        f"{path}: services.a.x-claw.count: accepted, not acted on by claw",
    ]
    assert the_pod.services[0].cllama == ("openai",)


@pytest.mark.parametrize(
    "text",
    [
        "services:\n  a: {image: x}\n",
        "services:\n  a: {image: x}\n  a: {image: y}\n",
        "x: !!python/object:os.system ls\nservices: {a: {image: x}}\n",
        "base: &b {image: x}\nservices:\n  a: *b\n",
        "services: {a: [\n",
        "services:\n\ta: x\n",
    ],
)
def test_libyaml_and_the_pure_loader_say_the_same(text: str) -> None:
    path = Path("claw-pod.yml")

    def outcome(pure: bool) -> object:
        try:
            return pod._yaml(text, path, pure=pure)
        except InputError as exc:  # libyaml words a syntax error its own way: file:line agree
            return exc.message.split(" invalid YAML: ")[0]

    assert outcome(pure=False) == outcome(pure=True)


MERGED = """\
x-defaults: &defaults
  image: nginx:1.27
  x-claw: &claw {cllama: openai}
services:
  a:
    <<: *defaults
  b:
    <<: [*defaults, {labels: {tier: front}}]
    image: nginx:1.28
    x-claw:
      <<: *claw
      dashboard: true
"""


def test_anchors_aliases_and_merge_keys_read_as_compose_reads_them(tmp_path: Path) -> None:
    (tmp_path / "claw-pod.yml").write_text(MERGED)
    the_pod = pod.load(tmp_path / "claw-pod.yml")
    a, b = the_pod.services
    assert (a.name, a.ref, a.cllama, a.dashboard) == ("a", "nginx:1.27", ("openai",), False)
    assert (b.name, b.ref, b.cllama, b.dashboard) == ("b", "nginx:1.28", ("openai",), True)  # explicit wins
    assert the_pod.document["services"]["b"]["labels"] == {"tier": "front"}


def test_a_duplicate_key_beside_a_merge_is_still_refused(tmp_path: Path) -> None:
    text = MERGED.replace("    image: nginx:1.28\n", "    image: nginx:1.28\n    image: nginx:1.29\n")
    (tmp_path / "claw-pod.yml").write_text(text)
    with pytest.raises(InputError, match=r"claw-pod\.yml:10: duplicate key 'image'"):
        pod.load(tmp_path / "claw-pod.yml")


@pytest.mark.parametrize("pure", [True, False])
def test_merge_keys_on_both_yaml_paths(pure: bool) -> None:
    document = pod._yaml(MERGED, Path("claw-pod.yml"), pure=pure)
    assert document["services"]["b"]["x-claw"] == {"cllama": "openai", "dashboard": True}


def alias_bomb(levels: int) -> str:
    """Billion laughs: each level a list of nine aliases of the one before."""
    lines = ['  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return (
        "x-bomb:\n"
        + "\n".join(lines)
        + f"\nservices:\n  web:\n    image: busybox\n    x-laughs: *l{levels - 1}\n"
    )


@pytest.mark.parametrize("pure", [True, False])
def test_an_alias_bomb_is_refused_at_once(pure: bool) -> None:
    started = time.perf_counter()
    with pytest.raises(
        InputError, match=r"claw-pod.yml: its aliases expand it to more than 1,000,000 values"
    ):
        pod._yaml(alias_bomb(12), Path("claw-pod.yml"), pure=pure)  # 9**12 values written out
    # written out, 9**12 values take hours: a bound far above any busy machine's reading
    # time still tells "refused before expanding" from "expanded", and no load comes near it
    assert time.perf_counter() - started < 60


def test_aliases_below_the_bound_are_read() -> None:
    document = pod._yaml(alias_bomb(4), Path("claw-pod.yml"))  # 9**4 values: a large but real size
    assert len(document["services"]["web"]["x-laughs"]) == 9
    assert pod._expanded_size(document) < pod.MAX_EXPANDED
