"""What a sample run must produce: the test oracle the pipeline is checked against.

``expected_outcome`` is the deliberately simple model: replay the files in landing order, keep the
newest version of each record, count one change per version that beat the stored one. It shares
no code with the pipeline. ``differences`` and ``wallet_differences`` say where what the stack
stored and published departs from it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from appflow_local.sample_run.generator import FLOW_OBJECTS, LandedFile


@dataclass(frozen=True)
class ExpectedRecord:
    object: str
    id: str
    version_ms: int
    deleted: bool
    record: dict[str, Any]


@dataclass(frozen=True)
class ExpectedChange:
    object: str
    id: str
    version_ms: int
    change: str  # UPSERT or DELETE


@dataclass
class ExpectedOutcome:
    """What must be stored and published after the files are ingested in landing order."""

    records: dict[tuple[str, str], ExpectedRecord] = field(default_factory=dict)
    changes: list[ExpectedChange] = field(default_factory=list)
    read: int = 0
    stale: int = 0
    quarantined: int = 0

    @property
    def written(self) -> int:
        return len(self.changes)


def parse_instant_ms(value: Any) -> int | None:
    """Epoch milliseconds of an ISO-8601 date-time string (``+0000``, ``Z`` or any offset); None if not one."""
    if not isinstance(value, str) or len(value.strip()) <= 10:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def model_id(text: str) -> str:
    """A Salesforce id as the model keys it (written apart from the implementation, from the rule itself):
    15 characters get the 3-character suffix that encodes their case; 18 characters are
    case-insensitive, so the first 15 take the case the suffix encodes and the suffix is upper case."""
    if not text.isascii() or not text.isalnum():
        return text
    if len(text) == 15:
        return text + "".join(
            _CHECKSUM[sum(1 << i for i, c in enumerate(text[p : p + 5]) if c.isupper())] for p in (0, 5, 10)
        )
    if len(text) != 18 or any(c not in _CHECKSUM for c in text[15:].upper()):
        return text
    out = []
    for part, char in enumerate(text[15:].upper()):
        bits = _CHECKSUM.index(char)
        for i, c in enumerate(text[part * 5 : part * 5 + 5]):
            if bits >> i & 1 and not c.isalpha():
                return text
            out.append(c.upper() if bits >> i & 1 else c.lower())
    return "".join(out) + text[15:].upper()


def expected_outcome(
    files: Sequence[LandedFile],
    flow_objects: dict[str, dict[str, str]] | None = None,
    rule_breaking: Iterable[bytes] = (),
    not_after_ms: int | None = None,
) -> ExpectedOutcome:
    """Replay ``files`` in order through the newest-wins rule (the specification, not the implementation).

    ``rule_breaking``: lines the run made to break a business rule; they are quarantined. Ids are
    trimmed and canonical (``model_id``) in the key and the record; an id with a control character
    or whose key is over 2,048 bytes, and (with ``not_after_ms``) a version later than it, are
    quarantined.
    """
    flow_objects = FLOW_OBJECTS if flow_objects is None else flow_objects
    rule_breaking = set(rule_breaking)
    outcome = ExpectedOutcome()
    for landed in files:
        config = flow_objects.get(landed.flow, {})
        for raw in landed.body.split(b"\n"):
            if not raw.strip():
                continue
            outcome.read += 1
            if raw in rule_breaking:
                outcome.quarantined += 1
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                outcome.quarantined += 1
                continue
            if not isinstance(record, dict):
                outcome.quarantined += 1
                continue
            record = dict(record)
            envelope = record.pop("attributes", None)  # Salesforce's envelope is not part of the record
            object_name = config.get("object") or (envelope or {}).get("type")
            record_id = record.get(config.get("id_field", "Id"))
            version = parse_instant_ms(record.get(config.get("version_field", "LastModifiedDate")))
            if not object_name or not isinstance(record_id, str) or not record_id.strip() or version is None:
                outcome.quarantined += 1
                continue
            record_id = model_id(record_id.strip())
            if (
                any(ord(c) < 32 or 127 <= ord(c) < 160 for c in record_id)
                or len(f"{object_name}#{record_id}".encode()) > 2048
                or (not_after_ms is not None and version > not_after_ms)
            ):
                outcome.quarantined += 1
                continue
            record[config.get("id_field", "Id")] = record_id
            key = (object_name, record_id)
            stored = outcome.records.get(key)
            if stored is not None and version <= stored.version_ms:
                outcome.stale += 1
                continue
            deleted = record.get("IsDeleted") is True
            outcome.records[key] = ExpectedRecord(object_name, key[1], version, deleted, record)
            outcome.changes.append(ExpectedChange(object_name, key[1], version, "DELETE" if deleted else "UPSERT"))
    return outcome


def differences(
    expected: ExpectedOutcome, stored: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]], limit: int = 10
) -> list[str]:
    """Where the stored records (``local dump``) and events (``local events``) depart from the model."""
    problems: list[str] = []
    by_key = {(r["object"], r["id"]): r for r in stored}
    for key in sorted(set(expected.records) - set(by_key)):
        problems.append(f"missing record {key}")
    for key in sorted(set(by_key) - set(expected.records)):
        problems.append(f"unexpected record {key}")
    for key, want in sorted(expected.records.items()):
        got = by_key.get(key)
        if got is None:
            continue
        if parse_instant_ms(got["version"]) != want.version_ms:
            problems.append(f"{key}: stored version {got['version']}, expected {want.version_ms} ms")
        if got["deleted"] != want.deleted:
            problems.append(f"{key}: deleted={got['deleted']}, expected {want.deleted}")
        if not _same_record(got["record"], want.record):
            problems.append(f"{key}: stored record differs from the newest version")
    published = Counter(
        ExpectedChange(
            e["detail"]["object"],
            e["detail"]["id"],
            parse_instant_ms(e["detail"]["version"]) or -1,
            e["detail"]["change"],
        )
        for e in events
        if e.get("detail-type", "Record Changed") == "Record Changed"
    )
    wanted = Counter(expected.changes)
    for change, count in sorted((published - wanted).items(), key=str):
        problems.append(f"unexpected event {change} x{count}")
    for change, count in sorted((wanted - published).items(), key=str):
        problems.append(f"missing event {change} x{count}")
    return problems[:limit] + ([f"... and {len(problems) - limit} more"] if len(problems) > limit else [])


def _same_record(stored: dict[str, Any] | None, sent: dict[str, Any]) -> bool:
    """The stored record is the sent one, up to what rules normalize: the two API forms of one value
    (``100`` / ``"100.0"``, ``null`` / ``""``, ``+0000`` / ``Z``) and masked fields."""
    if stored is None or set(stored) != set(sent):
        return False
    return all(_same_value(stored[name], sent[name]) for name in sent)


def _same_value(stored: Any, sent: Any) -> bool:
    if stored == sent or (stored in (None, "") and sent in (None, "")):
        return True
    if isinstance(stored, str) and stored.startswith(("hmac-sha256:", "****")):
        return sent not in (None, "")  # masked: only that something was there
    if isinstance(stored, bool) or isinstance(sent, bool):
        return str(stored).lower() == str(sent).lower()
    instant = parse_instant_ms(stored)
    if instant is not None:
        return instant == parse_instant_ms(sent)
    try:
        return Decimal(str(stored)) == Decimal(str(sent))
    except InvalidOperation:
        return False


# ------------------------------------------------------------------------------------------ the wallet
def expected_passes(expected: ExpectedOutcome, member_object: str = "Account") -> dict[str, dict[str, Any]]:
    """Every member's lifetime spend and purchases from scratch: won, live opportunities of the newest versions."""
    passes: dict[str, dict[str, Any]] = {}
    for (object_name, record_id), stored in expected.records.items():
        record = stored.record
        if stored.deleted:
            continue
        if object_name == member_object:
            passes.setdefault(record_id, {"spend": Decimal(0), "purchases": 0})
        elif object_name == "Opportunity" and record.get("AccountId") and record.get("StageName") == "Closed Won":
            totals = passes.setdefault(record["AccountId"], {"spend": Decimal(0), "purchases": 0})
            totals["spend"] += Decimal(str(record.get("Amount") or 0))
            totals["purchases"] += 1
    return passes


def wallet_differences(expected: ExpectedOutcome, passes: dict[str, dict[str, Any]], limit: int = 10) -> list[str]:
    """Where the stored passes (``{member: pass}``) depart from the from-scratch spend and purchase counts."""
    problems = []
    wanted = expected_passes(expected)
    for member in sorted(set(wanted) | set(passes)):
        want = wanted.get(member, {"spend": Decimal(0), "purchases": 0})
        got = passes.get(member)
        spend = Decimal(got["lifetime_spend"]) if got else Decimal(0)
        purchases = got["purchases"] if got else 0
        if (spend, purchases) != (want["spend"], want["purchases"]):
            problems.append(
                f"pass {member}: spend {spend} in {purchases}, expected {want['spend']} in {want['purchases']}"
            )
    return problems[:limit] + ([f"... and {len(problems) - limit} more"] if len(problems) > limit else [])
