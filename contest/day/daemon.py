"""The long-running validator: a day at every opening, weights kept fresh in between, nothing lost on a stop.

apscheduler runs three kinds of job on a small thread pool:
- the opening (a cron trigger at the contest's local opening time). If the previous day is still being
  judged, it is told to close with what it has, and the new day starts once it has, at the first block
  whose timestamp is at or after the opening time (waiting for the chain if it lags);
- on start, the day the validator owes: the interrupted one, or, by the chain's clock, the latest
  opening's if it never ran;
- every ``check_seconds``, weights from the latest finished day, set again once ``interval_blocks``
  have passed since the last time (the subnet's tempo unless configured).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from base.chain import ChainError
from contest.day.opening import chain_time
from contest.day.schedule import latest_opening, opening_trigger
from contest.day.state import ValidatorState
from contest.day.steps import MAX_DAY_FAILURES, WEIGHTS_VERSION_KEY, DayFailed, DaySetup, DayStopped, run_day
from contest.day.updater import Updater, UpdateResult, save_result

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class ValidatorDaemon:
    def __init__(
        self,
        setup: DaySetup,
        interval_blocks: int | None = None,
        clock: Clock = lambda: datetime.now(UTC),
        progress: Callable[[str], None] = log.info,
        updater: Updater | None = None,
        update_minutes: float = 30.0,
    ) -> None:
        self.setup, self.clock, self.progress = setup, clock, progress
        self.updater, self.update_minutes = updater, update_minutes
        self._update_waits = threading.Event()
        self.chain, self.contest, self.netuid, self.wallet = setup.chain, setup.contest, setup.netuid, setup.wallet
        self.state = ValidatorState.of(setup.data_dir)
        self.interval_blocks = interval_blocks
        self._day_lock = threading.Lock()
        self._close_day = threading.Event()
        self._stopping = threading.Event()
        self._scheduler: BlockingScheduler | None = None

    def owed_day(self) -> bool:
        """Whether a day must run now: one was interrupted, or the latest opening on chain has no day yet."""
        if self.state.running_day(self.contest.id) is not None:
            return True
        latest = self.state.latest_day(self.contest.id)
        owed = latest_opening(self.contest, chain_time(self.chain)).date().isoformat()
        return latest is None or latest.day < owed

    def open_day(self) -> None:
        """At the opening time: close the day still being judged, if any, then run the one opening now."""
        self._run_day(latest_opening(self.contest, self.clock()))

    def owed(self) -> None:
        """On start: the interrupted day, or the latest opening's by the chain's clock."""
        self._run_day(None)

    def _run_day(self, scheduled: datetime | None) -> None:
        if self._day_lock.locked():
            self.progress("the next day opens: closing the current one with what it has judged")
            self._close_day.set()
        with self._day_lock:
            self._close_day.clear()
            # A day that fails in the validator is resumed at once; given up, the scheduled day runs next.
            for _ in range(MAX_DAY_FAILURES + 1):
                if self._day_ends(scheduled):
                    break
        if self._update_waits.is_set():
            self.update()

    def _day_ends(self, scheduled: datetime | None) -> bool:
        """Run the day; whether nothing is left to run now (False: run again, resuming or opening the next)."""
        try:
            run_day(self.setup, progress=self.progress, closing=self._closing, scheduled=scheduled)
        except DayStopped:
            log.info("stopped mid-day: judged submissions are kept, the rest are judged at the next start")
        except (ChainError, OSError) as error:
            self._error(f"day: {error}")
            log.error("the day failed: %s (it resumes at the next start or opening)", error)
        except DayFailed as error:
            log.error("%s", error)
            return False
        except Exception:
            log.exception("the day failed in the validator itself; it resumes now")
            return False
        return True

    def _closing(self) -> bool:
        if self._stopping.is_set():
            raise DayStopped
        return self._close_day.is_set()

    def stop(self) -> None:
        """Stop scheduling; a day being judged stops after the submission in hand (its outcome is kept)."""
        self._stopping.set()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _error(self, message: str) -> None:
        """Kept in the state for ``status`` and counted for the metrics."""
        self.state.record_error(message)
        self.setup.metrics.error()

    def update(self) -> UpdateResult | None:
        """An update check while no day is being judged (one that finds a day waits for it to end); an update
        taken stops the daemon, so that the process exits and PM2 starts the new version."""
        if self.updater is None or self._stopping.is_set():
            return None
        if not self._day_lock.acquire(blocking=False):
            self._update_waits.set()
            log.info("update: a day is being judged; the check waits for it to finish")
            return None
        try:
            self._update_waits.clear()
            result = self.updater.check()
        finally:
            self._day_lock.release()
        save_result(self.setup.data_dir, result)
        self.setup.metrics.update_checked(result.status)
        if result.status == "updated":
            self.progress(f"update: {result.message}")
            self.stop()
        return result

    def keep_weights(self) -> int | None:
        """Set the latest finished day's weights again once the interval has passed; returns the block."""
        last = self.state.last_weights()
        if last is None:
            return None
        try:
            block = self.chain.current_block()
            self.setup.metrics.chain_head(block)
            interval = self.interval_blocks or self.chain.tempo(self.netuid)
            if block - last.block < interval:
                return None
            set_at = self.chain.set_weights(self.wallet, self.netuid, last.uids, last.weights, WEIGHTS_VERSION_KEY)
        except ChainError as error:
            self._error(f"weights: {error}")
            log.warning("setting weights failed: %s (retried at the next check)", error)
            return None
        self.state.record_weights(last.day_id, set_at, last.uids, last.weights)
        self.setup.metrics.weights_set(set_at)
        log.info("weights of day %s set again at block %d", last.day_id, set_at)
        return set_at

    def run(self, check_seconds: float = 60.0) -> None:
        scheduler = BlockingScheduler(timezone=self.contest.timezone, executors={"default": ThreadPoolExecutor(3)})
        self._scheduler = scheduler
        scheduler.add_job(self.open_day, opening_trigger(self.contest), id="opening", max_instances=2)
        scheduler.add_job(self.keep_weights, IntervalTrigger(seconds=check_seconds), id="weights", coalesce=True)
        if self.updater is not None:
            every = IntervalTrigger(minutes=self.update_minutes)
            scheduler.add_job(self.update, every, id="update", coalesce=True, max_instances=1)
        if self.owed_day():
            scheduler.add_job(self.owed, id="owed day", max_instances=2)
        log.info("next %s day opens at %s %s", self.contest.id, self.contest.opens_at, self.contest.timezone)
        scheduler.start()
