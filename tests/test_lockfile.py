"""claw.lock as data (SPEC §12.1, §12.2): names of the build arguments, the file's bytes,
its errors, matching and where it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib import config, lockfile, runners, upstreams, versions
from lib.errors import InputError

SHA = "sha256:" + "a" * 64
NODE = "docker.io/library/node:24-slim@sha256:" + "b" * 64


def entry(driver: str = "openclaw", version: str = "2026.9.6", **changes: object) -> lockfile.BaseEntry:
    fields: dict[str, object] = {
        "driver": driver, "recipe_sha": SHA, "froms": (NODE,), "upstreams": (f"npm:{driver}@{version}",),
        "before": "2026-12-03T07:15:26Z", "integrity": (f"npm:{driver} sha512-xyz",),
        "runtime": ("node >=24.16.0 <25 || >=26.1.0",), "version": f"v{version}",
    }  # fmt: skip
    return lockfile.BaseEntry(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "arg"),
    [
        ("npm:openclaw", "CLAW_UPSTREAM_OPENCLAW"),
        ("pypi:nanobot-ai", "CLAW_UPSTREAM_NANOBOT_AI"),
        ("npm:@anthropic-ai/claude-code", "CLAW_UPSTREAM_ANTHROPIC_AI_CLAUDE_CODE"),
        ("git:https://github.com/qwibitai/nanoclaw.git", "CLAW_UPSTREAM_NANOCLAW"),
        ("git:https://example.com/a/b/agent-x/#dev", "CLAW_UPSTREAM_AGENT_X"),
        ("pypi:a.b__c", "CLAW_UPSTREAM_A_B_C"),
    ],
)
def test_each_upstream_passes_its_answer_under_its_own_name(spec: str, arg: str) -> None:
    assert upstreams.parse(spec).arg == arg


@pytest.mark.parametrize(
    ("listed", "clash"),
    [
        ('["npm:before"]', "the time fence"),
        ('["npm:agent", "pypi:agent"]', "upstream npm:agent"),
        ('["npm:a-b", "npm:a.b"]', "upstream npm:a-b"),
    ],
)
def test_two_upstreams_on_one_argument_are_a_config_error(tmp_path: Path, listed: str, clash: str) -> None:
    (tmp_path / "r.Dockerfile").write_text("FROM busybox\n")
    path = tmp_path / "claw.toml"
    path.write_text(f'[runners.mine]\nrecipe = "r.Dockerfile"\nupstream = {listed}\n')
    with pytest.raises(InputError) as caught:
        runners.table(config.load(str(path)))
    assert f"{path}: runners.mine.upstream: " in caught.value.message
    assert f"the build argument of {clash}; rename one of them" in caught.value.message


def test_locking_twice_writes_the_same_bytes_sorted_with_a_header(tmp_path: Path) -> None:
    lock = lockfile.Lock(
        tmp_path / "claw.lock",
        {"nanobot": entry("nanobot", "0.3.5"), "openclaw": entry()},
        {"redis": lockfile.ImageEntry("redis", "redis:7@sha256:" + "c" * 64)},
    )
    text = lockfile.render(lock)
    assert text.startswith("# claw.lock: ")
    assert "claw pull --update-lock" in text.splitlines()[2]
    assert text.index("[base.nanobot]") < text.index("[base.openclaw]") < text.index("[image.redis]")
    table = text[text.index("[base.openclaw]") :].split("\n\n")[0].splitlines()
    keys = [line.split(" =")[0] for line in table[1:] if " = " in line]
    assert (
        keys
        == sorted(keys)
        == ["before", "from", "integrity", "recipe-sha", "runtime", "upstream", "version"]
    )
    reread = lockfile.parse(text, lock.path)
    assert reread == lock
    assert lockfile.render(reread) == text


def test_a_new_entry_changes_only_its_own_table(tmp_path: Path) -> None:
    lock = lockfile.Lock(tmp_path / "claw.lock", {"nanobot": entry("nanobot", "0.3.5"), "openclaw": entry()})
    before = lockfile.render(lock).splitlines()
    after = lockfile.render(lock.with_bases([entry(version="2026.9.8")])).splitlines()
    changed = [n for n, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
    assert changed
    start = after.index("[base.openclaw]")
    assert all(n > start for n in changed)


def test_written_atomically_and_read_back(tmp_path: Path) -> None:
    lock = lockfile.Lock(tmp_path / "sub" / "claw.lock", {"openclaw": entry()})
    lockfile.write(lock)
    assert lockfile.read(lock.path) == lock
    assert lockfile.read(tmp_path / "absent.lock") is None
    assert [p.name for p in lock.path.parent.iterdir()] == ["claw.lock"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[base.openclaw]\nrecipe-sha = "sha256:' + "a" * 64 + '"\nfrom = ["node:24-slim"]\n', ":3: base.openclaw.from: "),
        ('[base.openclaw]\nrecipe-sha = "sha256:' + "a" * 64 + '"\ncolour = "red"\n', ":3: base.openclaw.colour: unknown key"),
        ('[base.openclaw]\nbefore = "2026-12-03T07:15:26Z"\n', ":1: base.openclaw.recipe-sha: missing"),
        ('[base.openclaw]\nrecipe-sha = "md5:1"\n', ":2: base.openclaw.recipe-sha: expected sha256:"),
        ('[base.openclaw]\nrecipe-sha = "sha256:' + "a" * 64 + '"\nupstream = ["openclaw 1.0"]\n', ":3: base.openclaw.upstream: "),
        ('[image.redis]\nref = "redis:7"\n', ":2: image.redis.ref: expected an image ref with @sha256:"),
        ("[base.openclaw\n", ":1: "),
        ('[surprise]\nx = 1\n', ":1: surprise: unknown key"),
    ],
)  # fmt: skip
def test_a_malformed_lock_names_the_file_the_line_and_the_key(text: str, where: str) -> None:
    with pytest.raises(InputError) as caught:
        lockfile.parse(text, Path("claw.lock"))
    assert caught.value.message.startswith("claw.lock" + where)


def test_a_base_matches_on_its_input_labels_alone() -> None:
    locked = entry()
    labels = {
        **locked.inputs(),
        "claw.base.refreshed-at": "2026-12-03T08:00:00Z",
        "claw.base.driver": "openclaw",
    }
    assert locked.matches(labels)  # no claw.base.lock label needed
    moved = {**labels, "claw.base.upstream.0": "npm:openclaw@2026.9.8"}
    assert locked.differences(moved) == [("upstream", "npm:openclaw@2026.9.6", "npm:openclaw@2026.9.8")]
    fenced = {**labels, "claw.base.before": "2026-12-04T00:00:00Z"}
    assert [name for name, *_ in locked.differences(fenced)] == ["before"]
    # integrity, runtime and version are information: not inputs
    assert entry(integrity=(), runtime=()).hash == locked.hash
    assert locked.tag == "lock-" + locked.hash.removeprefix("sha256:")[:12]
    assert entry(before="2026-12-04T00:00:00Z").hash != locked.hash


def test_a_locked_build_is_handed_the_locked_answers_and_fence() -> None:
    assert entry().answers() == [
        ("CLAW_UPSTREAM_OPENCLAW", "2026.9.6"),
        ("CLAW_UPSTREAM_BEFORE", "2026-12-03T07:15:26Z"),
    ]


def test_where_the_lock_is_first_match_wins(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    here = tmp_path / "pod"
    assert lockfile.locate("given.lock", tmp_path / "c.lock", here, {**env, "CLAW_LOCK": "env.lock"}) == Path(
        "given.lock"
    )
    assert lockfile.locate(None, tmp_path / "c.lock", here, {**env, "CLAW_LOCK": "env.lock"}) == Path(
        "env.lock"
    )
    assert lockfile.locate(None, tmp_path / "c.lock", here, env) == tmp_path / "c.lock"
    assert lockfile.locate(None, None, here, env) == here / "claw.lock"
    assert lockfile.locate(None, None, None, env) == tmp_path / "xdg" / "claw" / "claw.lock"


def test_pull_lock_in_the_config_is_relative_to_it(tmp_path: Path) -> None:
    path = tmp_path / "claw.toml"
    path.write_text('[pull]\nlock = "locks/prod.lock"\n')
    assert config.load(str(path)).pull.lock == tmp_path / "locks" / "prod.lock"


@pytest.mark.parametrize(
    ("tag", "answered", "kind", "same"),
    [
        ("v0.1.4.post3", "0.1.4.post3", "pypi", True),
        ("v1.0", "1.0.0", "pypi", True),
        ("v0.4.0rc1", "0.4.0", "pypi", False),
        ("v2026.9.6", "2026.9.6", "npm", True),
        ("v2026.9.6", "v2026.9.6", "npm", True),
        ("v1.2.3-build.7", "1.2.3+build.7", "npm", True),
        ("v2026.9.6", "2026.9.8", "npm", False),
    ],
)
def test_a_probe_and_an_answer_are_compared_as_their_registry_reads_versions(
    tag: str, answered: str, kind: str, same: bool
) -> None:
    assert versions.same_release(tag, answered, kind) is same


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["pull", "--update-lock", "--check"],
            "--update-lock does not go with --check, --locked or --rollback",
        ),
        (["pull", "--update-lock=openclaw", "--locked"], "--update-lock does not go with --check, --locked"),
        (["pull", "--rollback", "openclaw", "--update-lock"], "--update-lock does not go with"),
        (
            ["pull", "--locked", "--rebuild"],
            "--locked builds what the lock names: it does not go with --rebuild",
        ),
        (["pull", "--rollback", "openclaw", "--locked"], "--rollback goes with --dry-run and --json only"),
    ],
)
def test_lock_options_that_contradict_each_other_are_usage_errors(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from lib import cli

    assert cli.main(argv) == 2
    assert says in capsys.readouterr().err


def test_a_runner_pinned_in_the_config_and_named_in_the_lock_is_bad_input_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "claw.toml"
    path.write_text('[runners.openclaw]\npin = "v2026.5.22"\n')
    table = runners.table(config.load(str(path)))
    with pytest.raises(InputError) as caught:
        runners.held_by(table, {"openclaw": entry()})
    assert (
        caught.value.message
        == "runner openclaw: pinned at v2026.5.22 in the config and locked in claw.lock (v2026.9.6)"
    )
    assert "remove `pin` from [runners.openclaw], or remove [base.openclaw] from claw.lock" in (
        caught.value.hint or ""
    )
    assert (
        runners.held_by(runners.table(config.Config()), {"openclaw": entry()})["openclaw"].locked
        == entry().tag
    )
