"""Accounts as a full field mapping delivers them: ~60 fields, REST form, 2-4 KB of JSON each.

The cost scenarios (bench/cost_scenarios.py) need records as wide as production's, because
write units are paid per KB: the ~15-field records of bench/salesforce_data.py fit one unit and
hide what width costs. Fields are Account's standard fields plus a few common custom ones, in
the REST form (``+0000`` datetimes, numbers as numbers, ``null`` for empty, compound address
fields as objects), with the ``attributes`` envelope REST puts first.

Every value follows from (id number, revision): revision 0 is the record as first loaded; a
higher revision changes data fields (what a user edit does), so a re-delivery of the same
revision is byte-identical, and ``touched`` gives the same data with a newer LastModifiedDate
and SystemModstamp (Salesforce bumps them when an unmapped field changes).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bench.salesforce_data import account_id

_EPOCH = datetime(2019, 1, 1, tzinfo=UTC)
_INDUSTRIES = ["Banking", "Biotechnology", "Construction", "Education", "Electronics", "Energy", "Retail", "Media"]
_TYPES = ["Customer - Direct", "Customer - Channel", "Prospect", "Partner", "Other"]
_RATINGS = ["Hot", "Warm", "Cold", None]
_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", None]
_OWNERSHIP = ["Public", "Private", "Subsidiary", "Other", None]
_PRIORITY = ["High", "Medium", "Low", None]
_SLA = ["Gold", "Silver", "Platinum", "Bronze", None]
_CLEAN = ["Pending", "Matched", "NotFound", "Different", "Acknowledged", "Skipped"]
_STREETS = ["Market St", "Main St", "Oak Ave", "Pine Rd", "Broadway", "Elm St", "Harbor Blvd", "Cedar Ln"]
_CITIES = [
    ("San Francisco", "CA", 37.7749, -122.4194),
    ("Austin", "TX", 30.2672, -97.7431),
    ("New York", "NY", 40.7128, -74.006),
    ("Chicago", "IL", 41.8781, -87.6298),
    ("Seattle", "WA", 47.6062, -122.3321),
    ("Boston", "MA", 42.3601, -71.0589),
]
_WORDS = [
    "customer",
    "renewal",
    "contract",
    "regional",
    "office",
    "expansion",
    "support",
    "escalation",
    "quarterly",
    "review",
    "procurement",
    "onboarding",
    "integration",
    "migration",
    "pricing",
    "discount",
    "pilot",
    "rollout",
    "stakeholder",
    "budget",
    "approval",
    "security",
    "audit",
    "compliance",
    "training",
    "partner",
    "channel",
    "strategic",
    "account",
]
VERSION_STEP_S = 86_400  # a revision is a day newer than the one before
TOUCH_STEP_S = 3_600  # a touch is an hour newer than the revision it touches


def _timestamp(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _date(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%d")


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def _address(street: str, city: str, state: str, postal: str, lat: float, lon: float) -> dict[str, Any]:
    return {
        "city": city,
        "country": "United States",
        "geocodeAccuracy": "Address",
        "latitude": lat,
        "longitude": lon,
        "postalCode": postal,
        "state": state,
        "street": street,
    }


def base_seconds(n: int) -> int:
    """Record ``n``'s first LastModifiedDate, in seconds after 2019-01-01 (distinct per id, spread over years)."""
    return (n * 2_654_435_761) % 100_000_000


def wide_account(n: int, revision: int = 0, *, touched: int = 0) -> dict[str, Any]:
    """Account number ``n`` at ``revision`` (data changes per revision), ``touched`` times bumped without data change."""
    fixed = random.Random(n)  # what never changes: identity, creation, address
    edits = random.Random(n * 1_000_003 + revision)  # what a user edit changes
    record_id = account_id(n)
    edited = base_seconds(n) + revision * VERSION_STEP_S  # when the data last changed
    modified = edited + touched * TOUCH_STEP_S  # what LastModifiedDate and SystemModstamp say
    created = max(0, base_seconds(n) - fixed.randrange(50_000_000))
    city, state, lat, lon = fixed.choice(_CITIES)
    street = f"{fixed.randrange(1, 9999)} {fixed.choice(_STREETS)}"
    postal = f"{fixed.randrange(10000, 99999)}"
    ship_city, ship_state, ship_lat, ship_lon = fixed.choice(_CITIES)
    ship_street = f"{fixed.randrange(1, 9999)} {fixed.choice(_STREETS)}"
    ship_postal = f"{fixed.randrange(10000, 99999)}"
    owner = "0055g0" + account_id(edits.randrange(200))[6:]
    creator = "0055g0" + account_id(fixed.randrange(200))[6:]
    editor = "0055g0" + account_id(edits.randrange(200))[6:]
    name = f"Company {n} {fixed.choice(['Inc', 'LLC', 'Ltd', 'GmbH', 'Corp'])}"
    revenue = edits.randrange(100_000, 900_000_000)
    employees = edits.randrange(1, 50_000)
    return {
        "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{record_id}"},
        "Id": record_id,
        "IsDeleted": False,
        "MasterRecordId": None,
        "Name": name,
        "Type": edits.choice(_TYPES),
        "ParentId": None if fixed.random() < 0.8 else account_id(fixed.randrange(n + 1)),
        "BillingStreet": street,
        "BillingCity": city,
        "BillingState": state,
        "BillingPostalCode": postal,
        "BillingCountry": "United States",
        "BillingLatitude": lat,
        "BillingLongitude": lon,
        "BillingGeocodeAccuracy": "Address",
        "BillingAddress": _address(street, city, state, postal, lat, lon),
        "ShippingStreet": ship_street,
        "ShippingCity": ship_city,
        "ShippingState": ship_state,
        "ShippingPostalCode": ship_postal,
        "ShippingCountry": "United States",
        "ShippingLatitude": ship_lat,
        "ShippingLongitude": ship_lon,
        "ShippingGeocodeAccuracy": "Address",
        "ShippingAddress": _address(ship_street, ship_city, ship_state, ship_postal, ship_lat, ship_lon),
        "Phone": f"({edits.randrange(200, 999)}) 555-{edits.randrange(1000, 9999)}",
        "Fax": None if fixed.random() < 0.6 else f"({fixed.randrange(200, 999)}) 555-{fixed.randrange(1000, 9999)}",
        "AccountNumber": f"CD{fixed.randrange(100000, 999999)}",
        "Website": f"www.company{n}.example.com",
        "PhotoUrl": f"/services/images/photo/{record_id}",
        "Sic": str(fixed.randrange(1000, 9999)),
        "Industry": edits.choice(_INDUSTRIES),
        "AnnualRevenue": revenue,
        "NumberOfEmployees": employees,
        "Ownership": fixed.choice(_OWNERSHIP),
        "TickerSymbol": None if fixed.random() < 0.7 else "".join(fixed.choice("ABCDEFGHKLMNPRSTW") for _ in range(4)),
        "Description": _sentence(edits, edits.randrange(20, 90)),
        "Rating": edits.choice(_RATINGS),
        "Site": None,
        "OwnerId": owner,
        "CreatedDate": _timestamp(created),
        "CreatedById": creator,
        "LastModifiedDate": _timestamp(modified),
        "LastModifiedById": editor,
        "SystemModstamp": _timestamp(modified),
        "LastActivityDate": _date(edited - edits.randrange(0, 2_000_000)),
        "LastViewedDate": None,
        "LastReferencedDate": None,
        "Jigsaw": None,
        "JigsawCompanyId": None,
        "CleanStatus": fixed.choice(_CLEAN),
        "AccountSource": fixed.choice(_SOURCES),
        "DunsNumber": f"{fixed.randrange(100_000_000, 999_999_999)}",
        "Tradestyle": None,
        "NaicsCode": str(fixed.randrange(100000, 999999)),
        "NaicsDesc": fixed.choice(_INDUSTRIES) + " services",
        "YearStarted": str(fixed.randrange(1900, 2020)),
        "SicDesc": fixed.choice(_INDUSTRIES),
        "DandbCompanyId": None,
        "OperatingHoursId": None,
        "CustomerPriority__c": edits.choice(_PRIORITY),
        "SLA__c": edits.choice(_SLA),
        "Active__c": edits.choice(["Yes", "No"]),
        "NumberofLocations__c": float(edits.randrange(1, 500)),
        "UpsellOpportunity__c": edits.choice(["Yes", "No", "Maybe"]),
        "SLASerialNumber__c": f"{fixed.randrange(1000, 9999)}",
        "SLAExpirationDate__c": _date(edited + edits.randrange(10_000_000, 60_000_000)),
    }


def json_lines(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)
