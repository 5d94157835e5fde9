"""Retrying calls whose transport failed, with exponential back-off (tenacity), for the chain and store adapters."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a call that never reached the other side or never got an answer."""

    attempts: int = 4
    first_wait_s: float = 1.0
    max_wait_s: float = 20.0

    def retrying(self, transient: type[BaseException] | tuple[type[BaseException], ...], what: str) -> Retrying:
        """A tenacity ``Retrying`` that retries ``transient`` errors only and re-raises the last one."""

        def report(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s: %s; retrying (attempt %d of %d)", what, error, state.attempt_number + 1, self.attempts)

        return Retrying(
            retry=retry_if_exception_type(transient),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.first_wait_s, max=self.max_wait_s),
            before_sleep=report,
            reraise=True,
        )


DEFAULT_RETRY = RetryPolicy()
