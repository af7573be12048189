"""Process control of the lineage's `train`: its pid file, the signals that stop it, its deadline and log.

One `train` runs per state file; it writes its pid where `running_trainer` finds it (one file per
state, under cache/lineage/), takes SIGTERM/SIGINT as a request to stop after the step in progress
and save, and logs outside the repository (`LOG_DIR`, or $TINYSSD_LINEAGE_LOG).
"""
import datetime
import hashlib
import os
import signal
import time
from pathlib import Path

from ..paths import LINEAGE_WORK_DIR
from .state import LineageError

LOG_DIR = Path(os.environ.get("TINYSSD_LINEAGE_LOG", Path.home() / ".cache" / "tinyssd" / "lineage"))


def pid_path(state: Path) -> Path:
    """Where a running `train` of this state file leaves its pid (one per state file)."""
    digest = hashlib.sha256(str(Path(state).resolve()).encode()).hexdigest()[:12]
    return LINEAGE_WORK_DIR / f"train-{digest}.pid"


def running_trainer(state: Path) -> int | None:
    """The pid of a live `train` of this state, if any; a stale pid file is removed."""
    path = pid_path(state)
    if not path.exists():
        return None
    pid = int(path.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return None
    return pid


class Stop:
    """Set by SIGTERM / SIGINT; the loop ends after the step in progress and saves."""

    def __init__(self, announce: bool = True):
        self.requested, self.announce = False, announce

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum, _frame):
        self.requested = True
        if self.announce:
            print(f"\n{signal.Signals(signum).name}: saving the state after this step", flush=True)


def parse_deadline(until: str | None, for_minutes: float | None, now: datetime.datetime | None = None) -> float | None:
    """Epoch seconds of the deadline: `until` is a local HH:MM (the next one to come), or minutes from now."""
    now = now or datetime.datetime.now()
    if for_minutes is not None:
        if for_minutes <= 0:
            raise ValueError(f"--for-minutes must be positive, got {for_minutes}")
        return (now + datetime.timedelta(minutes=for_minutes)).timestamp()
    if until is None:
        return None
    try:
        clock = datetime.datetime.strptime(until, "%H:%M").time()
    except ValueError:
        raise ValueError(f"--until wants a time of day as HH:MM (e.g. 23:40), got {until!r}") from None
    deadline = datetime.datetime.combine(now.date(), clock)
    if deadline <= now:
        deadline += datetime.timedelta(days=1)
    return deadline.timestamp()


def open_log():
    """A function that prints a line and appends it to LOG_DIR/train.log."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_file = open(LOG_DIR / "train.log", "a", buffering=1)

    def log(line: str) -> None:
        print(line, file=log_file)
        print(line, flush=True)
    return log


def stop_running_trainer(state: Path, timeout_s: float = 300) -> bool:
    """Sends SIGTERM to a running `train` of `state` and waits for it to save and exit; False if none ran."""
    pid = running_trainer(state)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    print(f"stopping the lineage's training (pid {pid}); it saves first")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(1)
    raise LineageError(f"training process {pid} did not stop within {timeout_s:.0f} s")
