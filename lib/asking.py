"""The asking half of livecheck (SPEC §9.3): what is true now of a runner base's inputs.

Each FROM image is pulled (a refresh: what its build would fetch anyway) or asked of the
registry without downloading (``pull --check``); each declared upstream is asked in a
thread of its own, so Ctrl-C is seen at once. What comes back is ``livecheck.Now`` and
the verdict, with the Env of each FROM image for the runtime check (SPEC §12.4).
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import livecheck, refs, runtimes, versions
from .bases import Installed
from .engine.docker import Engine, Image
from .errors import DockerError, InputError, Interrupted, NotAttempted, UpstreamError
from .events import Events, retry_notice
from .policy import Options
from .runners import Runner
from .upstreams import Answer, Upstream

if TYPE_CHECKING:
    from .asker import Asker


@dataclass(frozen=True)
class Checked:
    """A livecheck of one runner: what is installed, what it records, what is true now."""

    installed: Installed | None
    now: livecheck.Now
    verdict: livecheck.Verdict
    envs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # FROM image -> its Env, if known

    @property
    def up_to_date(self) -> bool:
        """Nothing moved, and the installed base names its version: a latest without a
        version tag (built by hand) is refreshed though nothing moved."""
        return self.verdict.current and self.installed is not None and self.installed.version is not None

    def runtime_conflicts(self, runner: Runner) -> list[str]:
        """What the answered releases need that the FROM images do not carry (SPEC §12.4);
        nothing when the runner's ``runtime_check`` is off or either side is unknown."""
        if not runner.runtime_check:
            return []
        needs = [
            need
            for answer in self.now.answers
            if isinstance(answer, Answer) and answer.runtime
            and (need := runtimes.Need.parse(answer.display(), answer.runtime)) is not None
        ]  # fmt: skip
        return runtimes.conflicts(needs, self.envs)


def ask(
    engine: Engine, runner: Runner, asker: Asker, options: Options, events: Events, *, download: bool
) -> Checked:
    """Ask every question of §9.3 about ``runner``. ``download``: learn each FROM digest
    by pulling it (what the refresh's build would fetch anyway; an unchanged image
    downloads nothing); else ask the registry without downloading (`pull --check`).
    Docker calls: one pull per FROM image, then one inspect of them all with the base."""
    alias, images = runner.alias, runner.images
    askable = [image for image in images if "$" not in image and "@" not in image]
    failed: dict[str, str] = {}
    if download:
        for image in askable:
            failed.update(_pull_from(engine, alias, image, options, events))
    here = [image for image in images if "$" not in image]  # digest-pinned too: for their Env
    inspected = engine.inspect_images([runner.current, *here])  # --check: whatever is here
    latest = inspected.get(runner.current)  # a pinned runner is compared as pinned
    record = livecheck.Record.of(latest.labels) if latest else None
    found = []
    for index, image in enumerate(images):
        if "@" in image and "$" not in image:  # pinned by digest: never asked
            found.append(livecheck.FromImage(image, digest=image.rpartition("@")[2]))
        elif image in failed:
            found.append(livecheck.FromImage(image, error=failed[image]))
        elif download and image in askable:
            found.append(_pulled(image, inspected.get(image)))
        else:
            recorded = record.digest_of(index, image) if record else None
            found.append(_remote(engine, image, recorded, options, events, alias))
    if runner.upstream:
        events.progress(alias, "asking " + ", ".join(map(str, runner.upstream)))
    answers = tuple(answer(asker, upstream, options.cancel) for upstream in runner.upstream)
    before = livecheck.stamp(datetime.datetime.now(datetime.timezone.utc))  # just after the last answer
    now = livecheck.Now(runner.recipe_sha, tuple(found), answers, downloaded=download, before=before)
    installed = Installed(latest.id, versions.tag_of(alias, latest.repo_tags)) if latest else None
    inherited = () if download or latest is None else latest.env  # --check downloads nothing
    envs = {image: inspected[image].env if image in inspected else inherited for image in images}
    return Checked(installed, now, livecheck.compare(record, now, max_age=options.max_age), envs)


def _pull_from(engine: Engine, alias: str, image: str, options: Options, events: Events) -> dict[str, str]:
    try:
        options.pull(engine, image, events, alias)
    except (DockerError, NotAttempted) as exc:
        return {image: getattr(exc, "reason", None) or exc.message}
    return {}


def _pulled(image: str, found: Image | None) -> livecheck.FromImage:
    if found is None:
        return livecheck.FromImage(image, error="not on this host after pulling it")
    digest = refs.digest_from_repo_digests(image, found.repo_digests)
    if digest is None:
        return livecheck.FromImage(image, error="no single registry digest recorded for it")
    return livecheck.FromImage(image, digest=digest)


def _remote(
    engine: Engine, image: str, recorded: str | None, options: Options, events: Events, alias: str
) -> livecheck.FromImage:
    if "$" in image:
        return livecheck.FromImage(image, error="its name holds a build ARG; cannot ask")
    try:
        notice = retry_notice(events, alias)
        answer = engine.registry_digest(image, recorded=recorded, attempts=options.retries, on_retry=notice)
    except (DockerError, InputError) as exc:
        return livecheck.FromImage(image, error=getattr(exc, "reason", None) or exc.message)
    return livecheck.FromImage(
        image, answer.digest, unchanged=answer.moved is False, moved=answer.moved is True
    )


def answer(asker: Asker, upstream: Upstream, cancel: threading.Event) -> Answer | UpstreamError:
    """Ask in a thread of its own, so that Ctrl-C stops the wait at once (an HTTP GET
    in flight is simply abandoned: it changes nothing)."""
    box: list[Answer | UpstreamError | BaseException] = []

    def work() -> None:
        try:
            box.append(asker.ask(upstream))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box.append(exc)

    worker = threading.Thread(target=work, daemon=True, name=f"claw-ask-{upstream.kind}")
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
        if cancel.is_set():
            raise Interrupted()
    answer = box[0]
    if isinstance(answer, (Answer, UpstreamError)):
        return answer
    raise answer
