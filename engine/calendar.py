"""Send windows: when a partner may be contacted, in the partner's own time zone.

A :class:`~.values.SendWindow` says which weekdays and hours are open, and whether the
public holidays of the partner's country and region are closed (the ``holidays``
package; German federal states are regions such as ``HH``, ``BY``, ``NW``).
:meth:`Calendar.next_open` turns a moment into the first open moment at or after it.

All datetimes given to and returned by the engine are naive UTC (as Odoo stores them).

>>> from datetime import datetime, time
>>> from .values import SendWindow
>>> office = SendWindow(weekdays=frozenset(range(6)), start=time(8), end=time(20),
...                     skip_holidays=True)
>>> cal = Calendar()
>>> # Saturday 3 October 2026, 21:30 in Hamburg: after hours; Sunday is closed, so the
>>> # next open moment is Monday 08:00 local time (06:00 UTC, summer time).
>>> cal.next_open(datetime(2026, 10, 3, 19, 30), office, "Europe/Berlin", "DE", "HH")
datetime.datetime(2026, 10, 5, 6, 0)
>>> # 31 October is Reformation Day in Hamburg but not in Bavaria.
>>> cal.next_open(datetime(2026, 10, 31, 9, 0), office, "Europe/Berlin", "DE", "HH")
datetime.datetime(2026, 11, 2, 7, 0)
>>> cal.next_open(datetime(2026, 10, 31, 9, 0), office, "Europe/Berlin", "DE", "BY")
datetime.datetime(2026, 10, 31, 9, 0)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from .values import SendWindow

_ALL_DAYS = frozenset(range(7))
_LOOKAHEAD_DAYS = 21


def is_always_open(window: SendWindow) -> bool:
    return (
        window.weekdays == _ALL_DAYS
        and window.start.hour == window.start.minute == 0
        and window.end is None
        and not window.skip_holidays
    )


class Calendar:
    """Caches time zones, holiday sets and answers for one run of the engine.

    Deterministic: it only depends on its arguments and the ``holidays`` data.
    """

    __slots__ = ("_holidays", "_open", "_zones")

    def __init__(self) -> None:
        self._zones: dict[str, ZoneInfo] = {}
        self._holidays: dict[tuple, frozenset[date]] = {}
        self._open: dict[tuple, datetime | None] = {}

    def zone(self, name: str | None) -> ZoneInfo:
        key = name or "UTC"
        zone = self._zones.get(key)
        if zone is None:
            try:
                zone = ZoneInfo(key)
            except (ZoneInfoNotFoundError, ValueError):
                zone = ZoneInfo("UTC")  # an unknown zone must not stop the decision
            self._zones[key] = zone
        return zone

    def holidays_of(self, country: str | None, region: str | None, year: int) -> frozenset[date]:
        key = (country, region, year)
        days = self._holidays.get(key)
        if days is None:
            days = frozenset()
            if country:
                try:
                    days = frozenset(
                        holidays.country_holidays(country, subdiv=region or None, years=year)
                    )
                except NotImplementedError:  # unknown country
                    days = frozenset()
                except Exception:  # noqa: BLE001 - unknown region: country-wide days
                    days = frozenset(holidays.country_holidays(country, years=year))
            self._holidays[key] = days
        return days

    def is_open_day(self, day: date, window: SendWindow, country, region) -> bool:
        if day.weekday() not in window.weekdays:
            return False
        return not (window.skip_holidays and day in self.holidays_of(country, region, day.year))

    def next_open(
        self,
        at: datetime,
        window: SendWindow,
        timezone: str | None = "UTC",
        country: str | None = None,
        region: str | None = None,
    ) -> datetime | None:
        """The first moment at or after ``at`` inside ``window``; None if it never opens."""
        if is_always_open(window):
            return at
        key = (at, window, timezone, country, region)
        if key in self._open:
            return self._open[key]
        zone = self.zone(timezone)
        local = at.replace(tzinfo=UTC).astimezone(zone)
        result = None
        for offset in range(_LOOKAHEAD_DAYS):
            day = local.date() + timedelta(days=offset)
            if not self.is_open_day(day, window, country, region):
                continue
            opens = datetime.combine(day, window.start, tzinfo=zone)
            closes = (
                datetime.combine(day, window.end, tzinfo=zone)
                if window.end
                else datetime.combine(day + timedelta(days=1), window.start.min, tzinfo=zone)
            )
            moment = max(local, opens)
            if moment < closes:
                result = moment.astimezone(UTC).replace(tzinfo=None)
                break
        self._open[key] = result
        return result
