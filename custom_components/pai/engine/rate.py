"""A cap on how many records one agent makes a minute; the excess is counted, not made.

A flood (thousands of interval triggers, an entity flapping) must not become a flood of
decisions, notifications and stored records. Past `limit` records in a rolling minute the
host skips the decision and counts it; once the minute allows records again it makes one
record that says how many were skipped. Pure: the host passes the time.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=1)
DEFAULT_RECORDS_PER_MINUTE = 60


class RecordRate:
    """A rolling-minute count of records made, and of decisions skipped for it."""

    def __init__(self, limit: int = DEFAULT_RECORDS_PER_MINUTE) -> None:
        """Allow `limit` records in any rolling minute."""
        self.limit = max(1, limit)
        self._made: deque[datetime] = deque()
        self.skipped = 0
        self.first_skipped: datetime | None = None

    def _forget(self, now: datetime) -> None:
        while self._made and now - self._made[0] >= WINDOW:
            self._made.popleft()

    def admit(self, now: datetime) -> bool:
        """Whether one more record may be made now (it is counted when it may)."""
        self._forget(now)
        if len(self._made) >= self.limit:
            if not self.skipped:
                self.first_skipped = now
            self.skipped += 1
            return False
        self._made.append(now)
        return True

    def free_in(self, now: datetime) -> float:
        """Seconds until one more record may be made (0 when it may now)."""
        self._forget(now)
        if len(self._made) < self.limit:
            return 0.0
        return max(0.0, (self._made[0] + WINDOW - now).total_seconds())

    def take_skipped(self) -> int:
        """Return how many decisions were skipped since last asked, and reset the count."""
        skipped, self.skipped, self.first_skipped = self.skipped, 0, None
        return skipped
