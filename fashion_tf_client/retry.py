"""Retries with exponential backoff for calls the server could not take (UNAVAILABLE).

UNAVAILABLE means the call did not run: the server is down or restarting, the
connection broke, or its batch queue is full. Retrying after a growing pause (the
exponential backoff with jitter of gRPC's connection-backoff spec) brings such calls to
an answer once the server is back. Off by default: a caller whose calls have side
effects decides; fashion_tf's Predict calls have none, so retrying them is safe.

    Client("localhost:8500", model="fashion", retry=RetryPolicy(max_attempts=8))
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` calls in all (1: no retry); pauses of ``initial_backoff`` seconds,
    times ``multiplier`` after each failure, capped at ``max_backoff``, each randomised by
    +-``jitter`` so clients restarted together do not retry in lockstep."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2
    retry_on: tuple[grpc.StatusCode, ...] = (grpc.StatusCode.UNAVAILABLE,)

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff or self.multiplier < 1:
            raise ValueError("RetryPolicy needs 0 <= initial_backoff <= max_backoff and multiplier >= 1, got "
                             f"{self.initial_backoff}, {self.max_backoff}, {self.multiplier}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"RetryPolicy.jitter must be in [0, 1), got {self.jitter}")

    def backoffs(self):
        """The pauses before attempts 2, 3, ... max_attempts."""
        pause = self.initial_backoff
        for _ in range(self.max_attempts - 1):
            yield pause * random.uniform(1 - self.jitter, 1 + self.jitter)
            pause = min(pause * self.multiplier, self.max_backoff)

    def call(self, attempt, code_of):
        """Run ``attempt()``; on an exception whose ``code_of(error)`` is retryable, pause
        and run it again, up to ``max_attempts`` times; the last error is raised."""
        pauses = self.backoffs()
        while True:
            try:
                return attempt()
            except Exception as error:
                if code_of(error) not in self.retry_on:
                    raise
                pause = next(pauses, None)
                if pause is None:
                    raise
                time.sleep(pause)


NO_RETRY = RetryPolicy(max_attempts=1)
