"""Salesforce-like Account records as AppFlow lands them (JSON Lines, ~400 bytes a record).

Deterministic for a seed, so every contender in one run reads byte-identical files. Versions
(``LastModifiedDate``) are spread over years at second resolution like real org data, so a
parser cache keyed by timestamp string gets no free hits from the generator.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDUSTRIES = ["Banking", "Biotechnology", "Construction", "Education", "Electronics", "Energy", "Retail", "Media"]
_TYPES = ["Customer - Direct", "Customer - Channel", "Prospect", "Partner", "Other"]
_STREETS = ["Market St", "Main St", "Oak Ave", "Pine Rd", "Broadway", "Elm St", "Harbor Blvd"]
_CITIES = [("San Francisco", "CA"), ("Austin", "TX"), ("New York", "NY"), ("Chicago", "IL"), ("Seattle", "WA")]
_EPOCH = datetime(2019, 1, 1, tzinfo=UTC)


def account_id(n: int) -> str:
    """An 18-character Account id (key prefix 001) for record number ``n``."""
    digits = []
    for _ in range(9):
        n, rem = divmod(n, 62)
        digits.append(_BASE62[rem])
    body = "0015g0" + "".join(reversed(digits))  # key prefix, pod, reserved, record number
    return body + "AAZ"


def salesforce_timestamp(seconds: int, *, zulu: bool = False) -> str:
    """``2024-04-16T19:00:00.000+0000`` (REST form) or ``...Z`` (Bulk API 2.0 form)."""
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000")
    return text + ("Z" if zulu else "+0000")


def account(n: int, version_seconds: int, rng: random.Random) -> dict[str, Any]:
    record_id = account_id(n)
    city, state = rng.choice(_CITIES)
    created = max(0, version_seconds - rng.randrange(10_000_000))
    return {
        "attributes": {"type": "Account"},
        "Id": record_id,
        "IsDeleted": False,
        "Name": f"Company {n} {rng.choice(['Inc', 'LLC', 'Ltd', 'GmbH'])}",
        "Type": rng.choice(_TYPES),
        "Industry": rng.choice(_INDUSTRIES),
        "BillingStreet": f"{rng.randrange(1, 9999)} {rng.choice(_STREETS)}",
        "BillingCity": city,
        "BillingState": state,
        "BillingPostalCode": f"{rng.randrange(10000, 99999)}",
        "AnnualRevenue": rng.randrange(100_000, 900_000_000),
        "NumberOfEmployees": rng.randrange(1, 50_000),
        "OwnerId": "0055g0" + account_id(rng.randrange(200))[6:],
        "CreatedDate": salesforce_timestamp(created),
        "LastModifiedDate": salesforce_timestamp(version_seconds),
    }


def accounts(count: int, *, seed: int = 7, first_id: int = 0, version_offset: int = 0) -> Iterator[dict[str, Any]]:
    """``count`` distinct Accounts; ``version_offset`` shifts every version (a later extract of the same ids)."""
    rng = random.Random(seed + first_id)
    for n in range(first_id, first_id + count):
        # The version follows from the id (spread over ~5 years, distinct per id), so a later
        # extract of the same id is newer by exactly ``version_offset``.
        yield account(n, (n * 2_654_435_761) % 150_000_000 + version_offset, rng)


def json_lines(records: Iterator[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)
