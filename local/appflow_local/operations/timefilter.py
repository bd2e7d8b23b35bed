"""``--since`` / ``--until`` values: an ISO-8601 date or time (UTC unless it says otherwise), or an age (90m, 24h, 7d)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from appflow_local.operations.errors import UserError

_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def instant(text: str, flag: str, now: datetime | None = None) -> datetime:
    """The instant ``text`` names, in UTC; a UserError naming ``flag`` otherwise."""
    now = now or datetime.now(UTC)
    if match := _AGE.match(text.strip()):
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"{flag} {text!r}: expected an ISO date or time (2026-11-30, 2026-11-30T08:00Z) or an age (90m, 24h, 7d)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def epoch_millis(text: str, flag: str, now: datetime | None = None) -> int:
    """The instant ``text`` names, in UTC epoch milliseconds; a UserError naming ``flag`` otherwise."""
    return int(instant(text, flag, now).timestamp() * 1000)
