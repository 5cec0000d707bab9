"""Running one docker or compose child through ``sh``: the process mechanics.

Two call shapes: capture (text to parse) and stream (``on_line`` sees every
line as it is printed, and the text is still kept for error classification).
``Children`` is the set of children of one claw command: Ctrl-C and SIGTERM
stop them all, and once stopping, long work is not started any more. Every
failure becomes an error chosen by one table (``classify``).
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..classify import classify
from ..errors import DockerMissing, DockerTimeout, Interrupted, PermanentError
from ..lifecycle import shielded

if TYPE_CHECKING:
    import sh

LineSink = Callable[[str], None]

INSTALL_HINT = (
    "install the Docker CLI (Debian: `apt-get install docker.io`; "
    "elsewhere: https://docs.docker.com/engine/install/) and make sure `docker` is on PATH"
)


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


class Children:
    """The child processes of one claw command, so that all can be stopped at once."""

    def __init__(self, stopping: threading.Event | None = None) -> None:
        self.stopping = stopping or threading.Event()
        self._running: dict[int, sh.RunningCommand] = {}
        self._stopped: set[int] = set()  # children claw itself stopped, by id
        self._lock = threading.Lock()
        self._programs: dict[str, sh.Command] = {}

    def stop_all(self) -> None:
        """Stop every child still running (Ctrl-C, SIGTERM); start no long work after."""
        self.stopping.set()
        with self._lock:
            procs = list(self._running.values())
        for proc in procs:
            self._halt(proc)

    def _halt(self, proc: sh.RunningCommand) -> None:
        """Stop a child for claw's own reasons: however it then ends (killed, or a
        docker CLI that catches the signal and exits with an error), it was interrupted."""
        with self._lock:
            self._stopped.add(id(proc))
        _stop(proc)

    def program(self, name: str) -> sh.Command:
        """``name`` on PATH, looked up once; ``DockerMissing`` when absent."""
        import sh

        with self._lock:
            found = self._programs.get(name)
        if found is None:
            try:
                found = sh.Command(name)
            except sh.CommandNotFound:
                raise DockerMissing(f"`{name}` was not found on PATH", hint=INSTALL_HINT) from None
            with self._lock:
                self._programs[name] = found
        return found

    def _halted(self, proc: sh.RunningCommand | None) -> bool:
        with self._lock:
            return id(proc) in self._stopped

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        on_line: LineSink | None = None,
        timeout: float | None = None,
        ok_codes: Sequence[int] = (0,),
        stoppable: bool = False,
        foreground: bool = False,
        echo: LineSink | None = None,
    ) -> Result:
        """Run ``argv``; raise the classified error for an exit code not in ``ok_codes``,
        ``DockerTimeout`` past ``timeout``, ``DockerMissing`` when the program is not on
        PATH. Once stopping, a ``stoppable`` command (long work: build, pull, probe) is
        not started at all; quick ones still run, so cleanup can finish.

        A ``foreground`` command (compose up attached) runs in its own process group and
        is handed Ctrl-C and SIGTERM as one SIGINT each, which it answers as it does on a
        terminal (a graceful stop, then a forced one); claw waits for it, then raises
        ``Interrupted``."""
        import sh

        argv = tuple(argv)
        if stoppable and self.stopping.is_set():
            raise Interrupted()
        if echo is not None:  # -v: what runs, as a shell would read it
            echo(f"$ {shlex.join(argv)}")
        options: dict[str, Any] = {"_in": stdin}
        if env is not None:
            options["_env"] = dict(env)
        if foreground:
            options["_new_group"] = True
        if on_line is not None:
            sink = _safe_sink(on_line)
            options.update(_out=sink, _err=sink, _tee={"out", "err"})  # tee: keep both for errors
        program = self.program(argv[0])
        expired, timer = threading.Event(), None
        proc: sh.RunningCommand | None = None
        try:
            with shielded():  # a Ctrl-C that lands while the child starts is raised once it is known
                proc = program(
                    *argv[1:], _bg=True, _bg_exc=False, _return_cmd=True, _tty_out=False,
                    _ok_code=list(ok_codes), **options,
                )  # fmt: skip
                with self._lock:
                    self._running[id(proc)] = proc
            if stoppable and self.stopping.is_set():  # stop_all ran while this one started
                self._halt(proc)
            timer = _deadline(proc, timeout, expired)
            _wait(proc, foreground)
        except sh.SignalException as exc:
            if expired.is_set():
                raise DockerTimeout(argv, timeout or 0, _text(exc.stdout), _text(exc.stderr)) from None
            if self.stopping.is_set():  # claw stopped it: Ctrl-C or SIGTERM
                raise Interrupted() from None
            raise PermanentError(argv, exc.exit_code, _text(exc.stdout), _text(exc.stderr)) from None
        except sh.ErrorReturnCode as exc:
            if self._halted(proc):  # a docker CLI that catches the signal exits with an error
                raise Interrupted() from None
            raise classify(argv, exc.exit_code, _text(exc.stdout), _text(exc.stderr)) from None
        except BaseException:
            if proc is not None:
                _stop(proc)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._running.pop(id(proc), None)
                self._stopped.discard(id(proc))
        return Result(argv, proc.exit_code or 0, _text(proc.stdout), _text(proc.stderr))


def _wait(proc: sh.RunningCommand, foreground: bool) -> None:
    """Wait for ``proc``; a foreground one gets each interruption as a SIGINT, and is
    waited for until it has stopped (the third interruption kills it)."""
    if not foreground:
        proc.wait()
        return
    interrupted = 0
    while True:
        try:
            proc.wait()
        except KeyboardInterrupt:
            interrupted += 1
            with contextlib.suppress(Exception):  # already gone is fine
                proc.signal(signal.SIGINT) if interrupted < 3 else proc.kill()
            continue
        except BaseException:
            if interrupted:
                raise Interrupted() from None
            raise
        if interrupted:
            raise Interrupted()
        return


def _deadline(
    proc: sh.RunningCommand, seconds: float | None, expired: threading.Event
) -> threading.Timer | None:
    """Kill ``proc`` after ``seconds``. sh's own ``_timeout`` polls every 0.1 s, which
    added 0.1 s to every quick docker call; a timer costs nothing until it fires."""
    if seconds is None:
        return None

    def expire() -> None:
        expired.set()
        with contextlib.suppress(Exception):  # already gone is fine
            proc.kill()

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer


def _stop(proc: sh.RunningCommand) -> None:
    with contextlib.suppress(Exception):  # already gone is fine
        proc.terminate()


def _safe_sink(sink: LineSink) -> LineSink:
    # sh swallows exceptions raised in callbacks (in a background thread); a
    # broken sink must never hide docker's output or its exit status.
    def call(line: str) -> None:
        with contextlib.suppress(Exception):
            sink(line.rstrip("\n"))

    return call


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")
