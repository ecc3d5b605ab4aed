"""Admission control: refuse a request at once (503 + Retry-After) when the work already admitted cannot be
done before its deadline, judged from recent batch times, instead of queueing it to time out (504) later."""

from __future__ import annotations

import math


class WaitEstimate:
    """Recent per-image costs (exponential moving averages) and the wait they predict for a new request.

    Inference: a batch of ``b`` images taking ``t`` seconds costs ``t / b`` per image, with ``streams``
    batches in flight at once; decoding: ``prep`` seconds per image over ``workers`` threads. The slower of
    the two stages sets the pace at which the admitted requests ahead drain. The model misses what it cannot
    see (other processes on the machine, batch-size effects), so predictions are scaled by how long admitted
    requests actually took relative to what was predicted for them (``correction``).
    """

    def __init__(self, streams: int, workers: int, seed_image_s: float = 0.0, alpha: float = 0.2):
        self.streams = max(streams, 1)
        self.workers = max(workers, 1)
        self.alpha = alpha
        self.image_s = seed_image_s  # inference seconds per image
        self.batch_s = seed_image_s  # seconds of one batch
        self.prep_s = 0.0  # decode + letterbox seconds per image
        self.correction = 1.0  # actual / predicted wait of recent requests

    def _mix(self, old: float, new: float) -> float:
        return new if old == 0.0 else (1 - self.alpha) * old + self.alpha * new

    def observe_batch(self, seconds: float, size: int) -> None:
        self.batch_s = self._mix(self.batch_s, seconds)
        self.image_s = self._mix(self.image_s, seconds / max(size, 1))

    def observe_prep(self, seconds: float) -> None:
        self.prep_s = self._mix(self.prep_s, seconds)

    def observe_outcome(self, predicted_raw_s: float, actual_s: float) -> None:
        """How long an admitted request really waited against its uncorrected prediction."""
        if predicted_raw_s > 0:
            self.correction = min(max(self._mix(self.correction, actual_s / predicted_raw_s), 0.5), 5.0)

    def raw_wait_s(self, ahead: int) -> float:
        """The model's wait for a request with ``ahead`` requests before it, before correction."""
        pace = max(self.image_s / self.streams, self.prep_s / self.workers)
        return self.batch_s + (ahead + 1) * pace + self.prep_s  # the batch in flight, then the queue, then its own

    def wait_s(self, ahead: int) -> float:
        """Predicted seconds until a request admitted now is answered, with ``ahead`` requests before it."""
        return self.raw_wait_s(ahead) * self.correction

    def retry_after(self, ahead: int, timeout_s: float) -> int:
        """Whole seconds until enough of the work ahead has drained for a new request to fit its deadline."""
        return max(1, math.ceil(self.wait_s(ahead) - timeout_s))
