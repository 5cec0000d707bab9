"""Livecheck (SPEC §9): every outcome of the decision, on the in-memory engine.

The integration suite asks real registries and stand-ins; here each answer is
set by hand and every reason of §9.3 is checked to the letter.
"""

from __future__ import annotations

import dataclasses
import datetime
import tempfile
from pathlib import Path

import pytest

from lib import config, livecheck, runners, target, transaction
from lib.errors import PermanentError
from lib.invocation import Invocation
from lib.status import Status
from lib.upstreams import Answer, parse
from lib.verbs import pull
from lib.versions import short_id
from tests.harness.invocations import invocation as on_engine
from tests.harness.model import Asker, Model, unreachable
from tests.harness.recorder import Recorder

RUNTIME = "example/runtime:latest"
OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64


REFRESHED = datetime.datetime(2026, 5, 22, 10, 0, tzinfo=datetime.timezone.utc)
ASKED = REFRESHED + datetime.timedelta(minutes=90)


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A recipe and a Clawfile; every base is built at REFRESHED and asked about at ASKED,
    whatever the wall clock says."""
    labels, compare = transaction.base_labels, livecheck.compare

    def built_at(runner: runners.Runner, when: datetime.datetime | None = None) -> dict[str, str]:
        return labels(runner, when or REFRESHED)

    def asked_at(
        record: livecheck.Record | None,
        now: livecheck.Now,
        *,
        max_age: int,
        at: datetime.datetime | None = None,
    ) -> livecheck.Verdict:
        return compare(record, now, max_age=max_age, at=at or ASKED)

    monkeypatch.setattr(transaction, "base_labels", built_at)
    monkeypatch.setattr(livecheck, "compare", asked_at)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    (tmp_path / "openclaw.Dockerfile").write_text(f"FROM {RUNTIME}\nRUN true\n")
    (tmp_path / "Clawfile").write_text("FROM openclaw\nCLAW_TYPE openclaw\n")
    return tmp_path


def invocation(
    lab: Path, model: Model, asker: Asker, *, max_age: str = "7d", pin: str | None = None
) -> Invocation:
    pinned = f'pin = "{pin}"\n' if pin else ""
    text = (
        f'[runners.openclaw]\nrecipe = "openclaw.Dockerfile"\nupstream = ["npm:openclaw"]\n{pinned}\n'
        f'[pull]\nmax_age = "{max_age}"\n'
    )
    cfg = config.parse(text, lab / "claw.toml")
    return on_engine(target.read_clawfile(lab / "Clawfile"), model, asker, cfg=cfg)


def pulled(
    lab: Path,
    model: Model,
    asker: Asker,
    mode: pull.Mode | None = None,
    max_age: str = "7d",
    pin: str | None = None,
) -> pull.Result:
    inv = invocation(lab, model, asker, max_age=max_age, pin=pin)
    (result,) = pull.run(inv, mode=mode or pull.Mode()).results
    return result


@pytest.fixture
def installed(lab: Path) -> tuple[Model, Asker]:
    """openclaw v1.2.3 installed from the runtime at OLD and npm:openclaw 2026.5.22."""
    model, asker = Model(), Asker({"npm:openclaw": "2026.5.22"})
    model.registry[RUNTIME] = OLD
    first = pulled(lab, model, asker)
    assert (first.status, first.line) == (Status.INSTALLED, "openclaw: installed v1.2.3")
    return model, asker


def test_a_base_records_what_it_was_built_from(lab: Path, installed: tuple[Model, Asker]) -> None:
    model, _ = installed
    labels = model.labels[model.tags["openclaw:latest"]]
    assert labels[runners.BASE_FROM + "0"] == f"docker.io/{RUNTIME}@{OLD}"
    assert runners.BASE_FROM + "1" not in labels
    assert labels[runners.BASE_UPSTREAM + "0"] == "npm:openclaw@2026.5.22"
    assert labels[runners.OCI_BASE_NAME] == f"docker.io/{RUNTIME}"  # the tag kept, as written
    assert labels[runners.OCI_BASE_DIGEST] == OLD
    assert labels[runners.BASE_RECIPE_SHA].startswith("sha256:")
    assert labels[runners.BASE_REFRESHED_AT] == "2026-05-22T10:00:00Z"


def test_nothing_moved_builds_nothing(lab: Path, installed: tuple[Model, Asker]) -> None:
    model, asker = installed
    before, builds = dict(model.tags), len(model.built_labels)
    result = pulled(lab, model, asker)
    assert result.status is Status.UP_TO_DATE
    assert result.line == (
        "openclaw: up to date v1.2.3 (npm:openclaw 2026.5.22; example/runtime:latest unchanged; refreshed 1h ago)"
    )
    assert (model.tags, len(model.built_labels)) == (before, builds)
    assert model.pulled == [RUNTIME, RUNTIME]  # one pull of the one FROM per run
    assert not result.failed


def test_an_upstream_release_installs_and_says_what_moved(lab: Path, installed: tuple[Model, Asker]) -> None:
    model, asker = installed
    asker.answers["npm:openclaw"] = "2026.5.24"
    model.probe_output = "OpenClaw 1.2.4\n"
    result = pulled(lab, model, asker)
    assert result.line == "openclaw: installed v1.2.4 (was v1.2.3; npm:openclaw 2026.5.22 → 2026.5.24)"
    assert (
        model.labels[model.tags["openclaw:latest"]][runners.BASE_UPSTREAM + "0"] == "npm:openclaw@2026.5.24"
    )


def test_a_moved_from_image_rebuilds_the_same_version(lab: Path, installed: tuple[Model, Asker]) -> None:
    model, asker = installed
    was = model.tags["openclaw:latest"]
    model.registry[RUNTIME] = NEW
    result = pulled(lab, model, asker)
    now = model.tags["openclaw:latest"]
    assert result.line == (
        f"openclaw: rebuilt v1.2.3 (same version; example/runtime:latest moved; "
        f"image {short_id(now)}, was {short_id(was)})"
    )
    assert model.labels[now][runners.BASE_FROM + "0"] == f"docker.io/{RUNTIME}@{NEW}"
    assert model.built_pull[-1] is False  # built from the image just pulled, the one recorded


def test_a_from_image_the_pull_could_not_fetch_is_pulled_by_the_build(
    lab: Path, installed: tuple[Model, Asker]
) -> None:
    model, asker = installed
    model.fail["pull"] = PermanentError(("docker", "pull", RUNTIME), 1, "", "toomanyrequests")
    result = pulled(lab, model, asker)
    assert result.status is Status.REBUILT
    assert model.built_pull[-1] is True
    assert runners.BASE_FROM + "0" not in model.labels[model.tags["openclaw:latest"]]


def test_a_pinned_runner_is_neither_asked_nor_refreshed(lab: Path, installed: tuple[Model, Asker]) -> None:
    """Upstream and the FROM image moved: a floating runner would be rebuilt; the pin holds."""
    model, asker = installed
    asker.answers["npm:openclaw"] = "2026.5.24"
    model.registry[RUNTIME] = NEW
    before, builds, pulls, asked = (
        dict(model.tags),
        len(model.built_labels),
        list(model.pulled),
        list(asker.asked),
    )
    result = pulled(lab, model, asker, pin="v1.2.3")
    assert (result.status, result.line) == (Status.PINNED, "openclaw: pinned at v1.2.3")
    assert result.outcome is not None
    assert result.outcome.image_id == before["openclaw:v1.2.3"]
    assert (model.tags, len(model.built_labels), model.pulled, asker.asked) == (before, builds, pulls, asked)


def test_a_latest_without_a_version_tag_is_refreshed_though_nothing_moved(
    lab: Path, installed: tuple[Model, Asker]
) -> None:
    """Every answer is as recorded, but latest names no version: it is not up to date."""
    model, asker = installed
    was = model.tags["openclaw:latest"]
    del model.tags["openclaw:v1.2.3"]
    result = pulled(lab, model, asker)
    assert (result.status, result.line) == (
        Status.INSTALLED,
        f"openclaw: installed v1.2.3 (was an untagged openclaw:latest, image {short_id(was)})",
    )
    assert model.tags["openclaw:v1.2.3"] == model.tags["openclaw:latest"] != was


def test_a_changed_recipe_rebuilds(lab: Path, installed: tuple[Model, Asker]) -> None:
    model, asker = installed
    (lab / "openclaw.Dockerfile").write_text(f"FROM {RUNTIME}\nRUN echo changed\n")
    assert "(same version; recipe changed; image " in pulled(lab, model, asker).line


def test_max_age_zero_always_rebuilds(lab: Path, installed: tuple[Model, Asker]) -> None:
    model, asker = installed
    assert "(same version; max_age 0: always rebuilt; image " in pulled(lab, model, asker, max_age="0").line


def test_a_question_that_fails_refreshes_and_says_why(lab: Path, installed: tuple[Model, Asker]) -> None:
    model, asker = installed
    asker.answers["npm:openclaw"] = unreachable("npm:openclaw")
    result = pulled(lab, model, asker)
    assert result.status is Status.REBUILT
    assert "(same version; npm:openclaw: registry unreachable (connection refused); image " in result.line


def test_a_missing_package_refreshes_and_warns_naming_the_config_key(
    lab: Path, installed: tuple[Model, Asker]
) -> None:
    model, asker = installed
    del asker.answers["npm:openclaw"]
    inv = invocation(lab, model, asker)
    (result,) = pull.run(inv).results
    assert "(same version; npm:openclaw: not found (404); image " in result.line
    assert isinstance(inv.events, Recorder)
    assert inv.events.of("warn") == [
        "npm:openclaw: not found (404); check upstream in [runners.openclaw] of the config"
    ]


def test_a_base_from_an_older_claw_is_rebuilt(lab: Path, installed: tuple[Model, Asker]) -> None:
    model, asker = installed
    latest = model.tags["openclaw:latest"]
    model.labels[latest] = {
        k: v for k, v in model.labels[latest].items() if not k.startswith("claw.base.from")
    }
    assert "(same version; no record: built by an older claw; image " in pulled(lab, model, asker).line


def test_rebuild_skips_the_decision(lab: Path, installed: tuple[Model, Asker]) -> None:
    model, asker = installed
    result = pulled(lab, model, asker, pull.Mode(rebuild=True))
    assert result.status is Status.REBUILT
    assert "(same version; --rebuild; image " in result.line


def test_check_reports_and_changes_nothing(lab: Path, installed: tuple[Model, Asker]) -> None:
    model, asker = installed
    before, builds, pulls = dict(model.tags), len(model.built_labels), list(model.pulled)
    check = pull.Mode(check=True)
    assert pulled(lab, model, asker, check).line == "openclaw: up to date v1.2.3"
    asker.answers["npm:openclaw"] = "2026.5.24"
    model.registry[RUNTIME] = NEW
    behind = pulled(lab, model, asker, check)
    assert (behind.status, behind.line) == (
        Status.BEHIND,
        "openclaw: behind: npm:openclaw 2026.5.22 → 2026.5.24; example/runtime:latest moved",
    )
    asker.answers["npm:openclaw"] = unreachable("npm:openclaw")
    unknown = pulled(lab, model, asker, check)
    assert unknown.status is Status.UNKNOWN
    assert unknown.failed
    assert unknown.line == "openclaw: cannot tell: npm:openclaw: registry unreachable (connection refused)"
    assert (model.tags, len(model.built_labels), model.pulled) == (before, builds, pulls)
    assert model.asked_registry == [RUNTIME, RUNTIME, RUNTIME]


def test_check_of_a_runner_not_installed(lab: Path) -> None:
    model, asker = Model(), Asker({"npm:openclaw": "1"})
    model.registry[RUNTIME] = OLD
    result = pulled(lab, model, asker, pull.Mode(check=True))
    assert (result.status, result.line) == (Status.NOT_INSTALLED, "openclaw: not installed")
    assert result.status.behind


AT = datetime.datetime(2026, 5, 30, tzinfo=datetime.timezone.utc)
NPM = parse("npm:openclaw")


def record(**changes: object) -> livecheck.Record:
    base = livecheck.Record(
        recipe_sha="sha256:r",
        froms=(f"docker.io/library/node:22-slim@{OLD}",),
        upstreams={NPM: Answer(NPM, "1.0.0")},
        refreshed_at=datetime.datetime(2026, 5, 28, tzinfo=datetime.timezone.utc),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def now(
    digest: str | None = OLD, version: str = "1.0.0", *, unchanged: bool = False, moved: bool = False
) -> livecheck.Now:
    """What the questions answer now; ``unchanged``/``moved``: what a registry that names
    no digest says of the recorded one."""
    image = livecheck.FromImage("node:22-slim", digest=digest, unchanged=unchanged, moved=moved)
    return livecheck.Now("sha256:r", (image,), (Answer(NPM, version),))


STEADY = ("npm:openclaw 1.0.0", "node:22-slim unchanged", "refreshed 2d ago")


@pytest.mark.parametrize(
    ("the_record", "the_now", "max_age", "moved"),
    [
        (record(), now(), 7 * 86400, ()),
        (record(), now(version="1.0.1"), 7 * 86400, ("npm:openclaw 1.0.0 → 1.0.1",)),
        (record(), now(digest=NEW), 7 * 86400, ("node:22-slim moved",)),
        (record(recipe_sha="sha256:old"), now(), 7 * 86400, ("recipe changed",)),
        (record(), now(), 86400, ("older than 1d",)),
        (record(), now(), 0, ("max_age 0: always rebuilt",)),
        (record(froms=()), now(), 7 * 86400, ("no record: built by an older claw",)),
        (None, now(), 7 * 86400, ("no record: built by an older claw",)),
        (record(upstreams={}), now(), 7 * 86400, ("npm:openclaw 1.0.0 (not recorded)",)),
        (record(), now(digest=None, unchanged=True), 7 * 86400, ()),
        (record(), now(digest=None, moved=True), 7 * 86400, ("node:22-slim moved",)),
        (
            record(),
            now(digest=None),
            7 * 86400,
            ("node:22-slim: the registry's digest could not be compared",),
        ),
    ],
)
def test_compare_names_each_reason(
    the_record: livecheck.Record | None, the_now: livecheck.Now, max_age: int, moved: tuple[str, ...]
) -> None:
    verdict = livecheck.compare(the_record, the_now, max_age=max_age, at=AT)
    assert verdict.moved == moved
    assert verdict.current is (moved == ())
    if not moved:
        assert verdict.steady == STEADY


def test_a_digest_that_cannot_be_compared_is_never_steady() -> None:
    """The registry named no digest and said neither moved nor unchanged: a rebuild."""
    verdict = livecheck.compare(record(), now(digest=None), max_age=7 * 86400, at=AT)
    assert not verdict.current
    assert verdict.why == ("node:22-slim: the registry's digest could not be compared",)
    assert verdict.steady == ("npm:openclaw 1.0.0", "refreshed 2d ago")


def test_an_image_that_could_not_be_asked_never_counts_as_unchanged() -> None:
    asked = livecheck.Now("sha256:r", (livecheck.FromImage("node:22-slim", error="connection refused"),), ())
    verdict = livecheck.compare(record(upstreams={}), asked, max_age=86400 * 7, at=AT)
    assert (verdict.current, verdict.unanswered) == (False, ("node:22-slim: connection refused",))


def test_changes_between_two_bases_for_the_drift_hint() -> None:
    old = {
        runners.BASE_UPSTREAM + "0": "npm:openclaw@2026.5.22",
        runners.BASE_FROM + "0": f"docker.io/library/node:22-slim@{OLD}",
        runners.BASE_RECIPE_SHA: "sha256:r",
    }
    new = {**old, runners.BASE_UPSTREAM + "0": "npm:openclaw@2026.5.24"}
    assert livecheck.changes_between(old, new) == ("npm:openclaw 2026.5.22 → 2026.5.24",)
    newer = {**new, runners.BASE_FROM + "0": f"docker.io/library/node:22-slim@{NEW}"}
    assert livecheck.changes_between(old, newer) == (
        "npm:openclaw 2026.5.22 → 2026.5.24",
        "node:22-slim moved",
    )
    assert livecheck.changes_between({}, new) == ()


@pytest.mark.parametrize(("seconds", "shown"), [(0, "0m"), (59, "0m"), (3600, "1h"), (86400 * 7, "7d")])
def test_duration(seconds: int, shown: str) -> None:
    assert livecheck.duration(seconds) == shown


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7d", 604800), ("36h", 129600), ("90m", 5400), ("3600s", 3600), (0, 0), ("2w", 1209600)],
)
def test_max_age_durations(tmp_path: Path, value: object, seconds: int) -> None:
    text = f"[pull]\nmax_age = {value!r}\n".replace("'", '"')
    assert config.parse(text, tmp_path / "c.toml").pull.max_age == seconds


@pytest.mark.parametrize("value", ['"7 days"', '"-1d"', "true", '"d"'])
def test_bad_max_age_names_file_and_key(tmp_path: Path, value: str) -> None:
    from lib.errors import InputError

    with pytest.raises(InputError, match=r"c\.toml: pull\.max_age: expected a duration"):
        config.parse(f"[pull]\nmax_age = {value}\n", tmp_path / "c.toml")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('["npm:"]', "runners.openclaw.upstream: upstream 'npm:'"),
        ('["cargo:x"]', "runners.openclaw.upstream: upstream 'cargo:x': unknown kind"),
        ('"npm:openclaw"', "runners.openclaw.upstream: expected a list of strings"),
        ("[3]", "runners.openclaw.upstream: expected strings"),
    ],
)
def test_a_malformed_upstream_names_file_and_key(tmp_path: Path, value: str, message: str) -> None:
    from lib.errors import InputError

    with pytest.raises(InputError) as caught:
        config.parse(f"[runners.openclaw]\nupstream = {value}\n", tmp_path / "c.toml")
    assert caught.value.message.startswith(f"{tmp_path / 'c.toml'}: {message}")
