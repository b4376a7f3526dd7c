"""Time source of the extension: naive UTC datetimes, replaceable in tests."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    # Naive UTC everywhere: SQLite drops time zones, and one convention avoids mixing.
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class FakeClock:
    """A clock that moves only when told to; the test suite uses it instead of sleeps."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 1, 1, 12, 0, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)
