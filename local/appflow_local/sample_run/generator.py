"""A realistic AppFlow run of Salesforce Accounts and Opportunities: the files AppFlow would land.

``generate_run`` builds the files AppFlow would land for two flows over two runs each: a full
load (REST API formatting, ``+0000`` timestamps, ``attributes`` envelopes) and an incremental run
(Bulk API 2.0 formatting: ``Z`` timestamps, numbers as strings) with updated versions, a deleted
record, exact duplicates from overlapping windows, the same instant written in the other form,
and a few lines that must be quarantined. Files land out of order (a newer run first), under
AppFlow's real key layouts: the legacy ``<flow>/<execution-id>/<file>`` and the date-folder
layout with partition folders whose names contain spaces. What the pipeline must make of them is
:mod:`.oracle`'s.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

ACCOUNT_FLOW = "salesforce-account"
OPPORTUNITY_FLOW = "salesforce-opportunity"
PROMOTION_FLOW = "salesforce-promotion"
# The wallet pass domain: members are (Person) Accounts, purchases won Opportunities, promotions a
# custom object linked to its member; each flow names the rule set its records are checked with.
FLOW_OBJECTS: dict[str, dict[str, str]] = {
    ACCOUNT_FLOW: {
        "object": "Account",
        "id_field": "Id",
        "version_field": "LastModifiedDate",
        "rules": "account-member",
    },
    OPPORTUNITY_FLOW: {
        "object": "Opportunity",
        "id_field": "Id",
        "version_field": "LastModifiedDate",
        "rules": "purchase",
    },
    PROMOTION_FLOW: {"object": "Promotion__c", "rules": "promotion"},
}
# A field the account rule set does not know, added to Salesforce between the two runs.
NEW_ACCOUNT_FIELD = "Loyalty_Nickname__c"

_INDUSTRIES = [
    "Technology",
    "Manufacturing",
    "Healthcare",
    "Retail",
    "Finance",
    "Energy",
    "Education",
    "Media",
    "Transportation",
    "Hospitality",
    None,
]
_CITIES = [
    "San Francisco",
    "New York",
    "Chicago",
    "Austin",
    "Seattle",
    "Boston",
    "London",
    "Paris",
    "Berlin",
    "Sydney",
    "Toronto",
    "Singapore",
    None,
]
_NAME_PARTS = (
    [
        "Acme",
        "Globex",
        "Initech",
        "Umbrella",
        "Stark",
        "Wayne",
        "Wonka",
        "Hooli",
        "Vandelay",
        "Cyberdyne",
        "Soylent",
        "Tyrell",
        "Aperture",
        "Massive",
        "Pied Piper",
        "Dunder",
    ],
    ["Corp", "Industries", "Holdings", "Labs", "Systems", "Group", "Partners", "Logistics"],
)
# Stages become partition folder names (``StageName=Closed Won/``), so none with a "/" here.
_STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Perception Analysis",
    "Closed Won",
    "Closed Lost",
]
_FULL_LOAD_TIME = datetime(2024, 4, 15, 6, 0, tzinfo=UTC)
_INCREMENTAL_TIME = datetime(2024, 4, 16, 6, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------------ files
@dataclass(frozen=True)
class LandedFile:
    """One file of an AppFlow run: where it lands (key) and its bytes."""

    flow: str
    key: str
    body: bytes

    @property
    def lines(self) -> int:
        return self.body.count(b"\n")

    @property
    def execution_id(self) -> str:
        """The run's execution id: the UUID folder after the flow name (and any date folders)."""
        folders = self.key.split("/")[:-1]
        return next(part for part in folders if len(part) == 36 and part.count("-") == 4)


@dataclass
class AppFlowRun:
    """The files of a run in the order they land in the bucket."""

    files: list[LandedFile]
    flow_objects: dict[str, dict[str, str]] = field(default_factory=lambda: dict(FLOW_OBJECTS))
    # Lines that decode and carry an id and version but break a business rule: quarantined by rules.
    rule_breaking: set[bytes] = field(default_factory=set)

    @property
    def total_bytes(self) -> int:
        return sum(len(f.body) for f in self.files)

    @property
    def total_lines(self) -> int:
        return sum(f.lines for f in self.files)

    def flow_runs(self) -> dict[str, list[LandedFile]]:
        """The files of each flow run by execution id, runs in the order their first file lands."""
        runs: dict[str, list[LandedFile]] = {}
        for landed in self.files:
            runs.setdefault(landed.execution_id, []).append(landed)
        return runs


def salesforce_id(key_prefix: str, number: int) -> str:
    """An 18-character Salesforce id: 15-character id plus Salesforce's case-safe checksum."""
    alphabet = string.digits + string.ascii_uppercase + string.ascii_lowercase
    digits = ""
    while len(digits) < 10:
        number, remainder = divmod(number, 62)
        digits = alphabet[remainder] + digits
    short = f"{key_prefix}5g00000{digits[-5:]}"
    suffix = ""
    for block in range(3):
        chunk = short[block * 5 : block * 5 + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if char.isupper())
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return short + suffix


def rest_time(instant: datetime) -> str:
    """REST API form: ``2024-04-16T19:00:00.000+0000``."""
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}+0000"


def bulk_time(instant: datetime) -> str:
    """Bulk API 2.0 form: ``2024-04-16T19:00:00.000Z``."""
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def _bulk_values(record: dict[str, Any]) -> dict[str, Any]:
    """Bulk API 2.0 writes numbers as strings and empty values as ``""``."""
    converted = {}
    for name, value in record.items():
        if isinstance(value, bool) or name == "attributes":
            converted[name] = value
        elif isinstance(value, (int, float)):
            converted[name] = f"{float(value)}"
        elif value is None:
            converted[name] = ""
        else:
            converted[name] = value
    converted.pop("attributes", None)
    return converted


def _jsonl(records: Iterable[Any]) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def _opaque_name(rng: random.Random) -> str:
    # AppFlow's data file names are opaque and have no extension.
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# ------------------------------------------------------------------------------------------ records
def _account(rng: random.Random, number: int, modified: datetime, users: Sequence[str]) -> dict[str, Any]:
    record_id = salesforce_id("001", number)
    record: dict[str, Any] = {
        "Id": record_id,
        "IsDeleted": False,
        "Name": f"{rng.choice(_NAME_PARTS[0])} {rng.choice(_NAME_PARTS[1])} {number}",
        "Type": rng.choice(["Customer - Direct", "Customer - Channel", "Prospect", "Partner"]),
        "Industry": rng.choice(_INDUSTRIES),
        "BillingCity": rng.choice(_CITIES),
        "AnnualRevenue": rng.choice([None, float(rng.randrange(100_000, 900_000_000, 1000))]),
        "NumberOfEmployees": rng.randrange(5, 50_000),
        "OwnerId": rng.choice(users),
        "PersonEmail": f"member{number}@example.com",  # sensitive: the account rules mask it
        "CreatedDate": rest_time(modified - timedelta(days=rng.randrange(30, 900))),
        "LastModifiedDate": rest_time(modified),
        "SystemModstamp": rest_time(modified),
    }
    if rng.random() < 0.6:
        record = {
            "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{record_id}"},
            **record,
        }
    return record


def _opportunity(
    rng: random.Random, number: int, modified: datetime, accounts: Sequence[str], users: Sequence[str]
) -> dict[str, Any]:
    record_id = salesforce_id("006", number)
    stage = rng.choice(_STAGES[:-2]) if rng.random() < 0.7 else rng.choice(_STAGES[-2:])
    record: dict[str, Any] = {
        "Id": record_id,
        "IsDeleted": False,
        "Name": f"Opportunity {number} - {rng.choice(['Renewal', 'Expansion', 'New Business', 'Pilot'])}",
        "AccountId": rng.choice(accounts),
        "Amount": rng.randrange(500, 150_000) / 100,  # a retail purchase: 5.00 to 1,500.00
        "StageName": stage,
        "Probability": {"Closed Won": 100, "Closed Lost": 0}.get(stage, rng.choice([10, 20, 40, 60, 80])),
        "CloseDate": (modified + timedelta(days=rng.randrange(-60, 180))).strftime("%Y-%m-%d"),
        "OwnerId": rng.choice(users),
        "CreatedDate": rest_time(modified - timedelta(days=rng.randrange(1, 400))),
        "LastModifiedDate": rest_time(modified),
        "SystemModstamp": rest_time(modified),
    }
    if rng.random() < 0.6:
        record = {
            "attributes": {"type": "Opportunity", "url": f"/services/data/v59.0/sobjects/Opportunity/{record_id}"},
            **record,
        }
    return record


def _updated(rng: random.Random, record: dict[str, Any], modified: datetime) -> dict[str, Any]:
    """A newer version of ``record`` from the incremental run, in Bulk API formatting."""
    newer = {k: v for k, v in record.items() if k != "attributes"}
    if "Amount" in newer:
        newer["Amount"] = rng.randrange(500, 150_000) / 100
        newer["StageName"] = rng.choice(_STAGES)
    else:
        newer["AnnualRevenue"] = float(rng.randrange(100_000, 900_000_000, 1000))
        newer["BillingCity"] = rng.choice([c for c in _CITIES if c])
    newer["LastModifiedDate"] = newer["SystemModstamp"] = rest_time(modified)
    return _bulk_form(newer)


def _bulk_form(record: dict[str, Any]) -> dict[str, Any]:
    converted = _bulk_values(record)
    for name in ("LastModifiedDate", "SystemModstamp", "CreatedDate"):
        if name in converted:
            converted[name] = bulk_time(datetime.fromisoformat(converted[name]))
    return converted


def _minutes(rng: random.Random, start: datetime, span_minutes: int) -> datetime:
    return start + timedelta(minutes=rng.randrange(span_minutes), milliseconds=rng.randrange(1000))


# ------------------------------------------------------------------------------------------ the run
def generate_run(
    accounts: int = 2000,
    opportunities: int = 3000,
    *,
    seed: int = 7,
    prefix: str = "",
    today: date | None = None,
) -> AppFlowRun:
    """Files of three flows over two runs each, in a landing order where newer files land first.

    Promotions run around ``today`` (default: the real date), so the passes show active ones.

    Within one file every record id appears at most once, as in one AppFlow page; repeats and
    newer versions come in other files, so the expected outcome does not depend on how a file
    is cut into chunks.
    """
    rng = random.Random(seed)
    users = [salesforce_id("005", 10_000 + n) for n in range(25)]
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    account_records = [
        _account(rng, n, _minutes(rng, _FULL_LOAD_TIME - timedelta(days=30), 30 * 24 * 60), users)
        for n in range(1, accounts + 1)
    ]
    account_ids = [r["Id"] for r in account_records]
    opportunity_records = [
        _opportunity(rng, n, _minutes(rng, _FULL_LOAD_TIME - timedelta(days=30), 30 * 24 * 60), account_ids, users)
        for n in range(1, opportunities + 1)
    ]

    # ---- Accounts: full load (2 files) then an incremental run; the incremental one lands first.
    full_exec, incremental_exec = (str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2))
    half = len(account_records) // 2
    account_full = [
        LandedFile(ACCOUNT_FLOW, f"{base}{ACCOUNT_FLOW}/{full_exec}/{_opaque_name(rng)}", _jsonl(part))
        for part in (account_records[:half], account_records[half:])
    ]
    shuffled = rng.sample(range(len(account_records)), len(account_records))
    n_updates, n_dups, n_same = max(1, accounts // 5), max(1, accounts // 50), max(1, accounts // 100)
    updated = shuffled[:n_updates]
    deleted = shuffled[n_updates]
    duplicated = shuffled[n_updates + 1 : n_updates + 1 + n_dups]
    same_instant = shuffled[n_updates + 1 + n_dups : n_updates + 1 + n_dups + n_same]
    incremental_lines: list[Any] = [
        _updated(rng, account_records[i], _minutes(rng, _INCREMENTAL_TIME, 600)) for i in updated
    ]
    for line in incremental_lines[: max(1, len(incremental_lines) // 3)]:
        line[NEW_ACCOUNT_FIELD] = rng.choice(["Ace", "Star", "Comet", ""])
    tombstone = _bulk_form({**account_records[deleted], "IsDeleted": True})
    tombstone["LastModifiedDate"] = tombstone["SystemModstamp"] = bulk_time(_minutes(rng, _INCREMENTAL_TIME, 600))
    incremental_lines.append(tombstone)
    # Overlapping incremental windows: byte-identical copies of full-load lines.
    incremental_lines += [json.dumps(account_records[i]).encode() for i in duplicated]
    # The same version as the full load, written the Bulk way (Z instead of +0000): equal, not newer.
    incremental_lines += [_bulk_form(account_records[i]) for i in same_instant]
    incremental_lines += [
        b'{"Id": "0015g00000BrOkEnAAA", "Name": "Truncated by a cancelled run", "LastModif',
        {k: v for k, v in _bulk_form(_account(rng, accounts + 1, _INCREMENTAL_TIME, users)).items() if k != "Id"},
        {**_bulk_form(_account(rng, accounts + 2, _INCREMENTAL_TIME, users)), "LastModifiedDate": "not-a-date"},
    ]
    rng.shuffle(incremental_lines)
    account_incremental = LandedFile(
        ACCOUNT_FLOW, f"{base}{ACCOUNT_FLOW}/{incremental_exec}/{_opaque_name(rng)}", _jsonl(incremental_lines)
    )

    # ---- Opportunities: date folders and one partition folder per stage (names with spaces).
    def partitioned(records: list[dict[str, Any]], day: str, execution: str) -> list[LandedFile]:
        by_stage: dict[str, list[Any]] = {}
        for record in records:
            by_stage.setdefault(str(record["StageName"]), []).append(record)
        return [
            LandedFile(
                OPPORTUNITY_FLOW,
                f"{base}{OPPORTUNITY_FLOW}/{day}/{execution}/StageName={stage}/{_opaque_name(rng)}",
                _jsonl(lines),
            )
            for stage, lines in sorted(by_stage.items())
        ]

    opp_full_exec, opp_incremental_exec = (str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2))
    opportunity_full = partitioned(opportunity_records, "2024/04/15", opp_full_exec)
    chosen = rng.sample(range(len(opportunity_records)), max(2, opportunities // 4 + opportunities // 40))
    n_opp_updates = max(1, opportunities // 4)
    opp_updates = [
        _updated(rng, opportunity_records[i], _minutes(rng, _INCREMENTAL_TIME, 600)) for i in chosen[:n_opp_updates]
    ]
    for update in opp_updates[: max(1, len(opp_updates) // 10)]:
        update["AccountId"] = rng.choice(account_ids)  # re-parented: the purchase moves to another member
    opportunity_incremental = partitioned(opp_updates, "2024/04/16", opp_incremental_exec)
    opp_duplicates = [json.dumps(opportunity_records[i]).encode() for i in chosen[n_opp_updates:]]
    # A newer version whose amount is not a number: the purchase rules quarantine it, naming Amount.
    broken = {**opportunity_records[chosen[0]], "Amount": "n/a", "LastModifiedDate": rest_time(_INCREMENTAL_TIME)}
    broken_line = json.dumps(broken).encode()
    opportunity_incremental.append(
        LandedFile(
            OPPORTUNITY_FLOW,
            f"{base}{OPPORTUNITY_FLOW}/2024/04/16/{opp_incremental_exec}/{_opaque_name(rng)}",
            _jsonl(opp_duplicates + [b"not json at all", broken_line]),
        )
    )

    promotion_full, promotion_incremental = _promotions(
        rng, max(2, accounts // 4), account_ids, today or datetime.now(UTC).date(), base
    )

    # Landing order: the incremental runs land before (part of) the full loads they supersede.
    files = [
        account_incremental,
        opportunity_full[0],
        promotion_incremental,
        *opportunity_incremental,
        account_full[0],
        promotion_full,
        *opportunity_full[1:],
        account_full[1],
    ]
    return AppFlowRun(files=files, rule_breaking={broken_line})


def _promotions(
    rng: random.Random, count: int, account_ids: Sequence[str], today: date, base: str
) -> tuple[LandedFile, LandedFile]:
    """Promotions (a custom object) linked to members by ``Member__c``: a full load, then an
    incremental run that extends some, moves one to another member and deletes one."""
    records = []
    for n in range(1, count + 1):
        starts = today + timedelta(days=rng.randrange(-30, 10))
        modified = _minutes(rng, _FULL_LOAD_TIME - timedelta(days=30), 30 * 24 * 60)
        records.append(
            {
                "Id": salesforce_id("a0P", n),
                "Name": rng.choice(["Double points", "Birthday treat", "Free shipping", "Spring sale", "VIP night"]),
                "Member__c": rng.choice(account_ids),
                "Start_Date__c": starts.isoformat(),
                "Expiry_Date__c": (starts + timedelta(days=rng.randrange(3, 40))).isoformat(),
                "Discount_Percent__c": rng.choice([5, 10, 15, 20]),
                "IsDeleted": False,
                "LastModifiedDate": rest_time(modified),
            }
        )
    full_exec, incremental_exec = (str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2))
    changed = rng.sample(records, max(2, count // 5))
    incremental: list[Any] = []
    for position, record in enumerate(changed):
        newer = {**record, "LastModifiedDate": rest_time(_minutes(rng, _INCREMENTAL_TIME, 600))}
        if position == 0:
            newer["IsDeleted"] = True
        elif position == 1:
            newer["Member__c"] = rng.choice(account_ids)
        else:
            newer["Expiry_Date__c"] = (date.fromisoformat(record["Expiry_Date__c"]) + timedelta(days=14)).isoformat()
        incremental.append(_bulk_form(newer))
    incremental += [json.dumps(r).encode() for r in rng.sample(records, max(1, count // 10))]  # duplicates
    return (
        LandedFile(PROMOTION_FLOW, f"{base}{PROMOTION_FLOW}/{full_exec}/{_opaque_name(rng)}", _jsonl(records)),
        LandedFile(
            PROMOTION_FLOW, f"{base}{PROMOTION_FLOW}/{incremental_exec}/{_opaque_name(rng)}", _jsonl(incremental)
        ),
    )


# ------------------------------------------------------------------------------------------ AppFlow's reports
def end_flow_run_report(
    files: Sequence[LandedFile],
    bucket: str,
    *,
    ended: datetime,
    prefix: str = "",
    account: str = "123456789012",
    region: str = "us-east-1",
    short_by: int = 0,
) -> dict[str, Any]:
    """The ``AppFlow End Flow Run Report`` AppFlow sends for the run that wrote ``files``.

    Shaped as AppFlow writes it (see events/appflow-end-flow-run-report.json): every count a string, times with a
    ``[UTC]`` suffix, ``resources`` a hex id. ``num-of-records-processed`` is every line AppFlow
    wrote to the run's files, malformed ones included, which is what the ledger counts as read;
    ``short_by`` makes AppFlow claim that many records more than its files hold.
    """
    flow = files[0].flow
    execution_id = files[0].execution_id
    base = prefix.strip("/")
    started = ended - timedelta(seconds=20 + len(files) * 7, milliseconds=357)
    arn = f"arn:aws:appflow:{region}:{account}:flow/{flow}"

    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}/{execution_id}/end")),
        "detail-type": "AppFlow End Flow Run Report",
        "source": "aws.appflow",
        "account": account,
        "time": ended.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [uuid.uuid5(uuid.NAMESPACE_URL, arn).hex],
        "detail": {
            "flow-name": flow,
            "created-by": f"arn:aws:sts::{account}:assumed-role/AppFlowAdmin/admin",
            "flow-arn": arn,
            "source": "SALESFORCE/sf-production",
            "destination": "S3",
            "source-object": FLOW_OBJECTS.get(flow, {}).get("object", flow),
            "destination-object": f"s3://{bucket}/{base}" if base else f"s3://{bucket}",
            "trigger-type": "ONDEMAND",
            "execution-id": execution_id,
            "start-time": bulk_time(started) + "[UTC]",
            "num-of-records-processed": str(sum(f.lines for f in files) + short_by),
            "num-of-records-filtered": "0",
            "num-of-documents-processed": "0",
            "end-time": bulk_time(ended) + "[UTC]",
            "num-of-record-failures": "0",
            "data-processed": str(sum(len(f.body) for f in files)),
            "status": "Execution Successful",
        },
    }
