"""The compiled rules do exactly what the declared rules say, on AppFlow's common forms and on anything else.

Two shortcuts make the rules fast, and both are checked here against the plain reading:
- each coercer answers the forms AppFlow writes (``"23.5"``, ``"...+0000"``, an 18-character id)
  without a Decimal, a datetime or an exception, and hands everything else to its general form
  (``coercion.ANY_FORM``): fed the common forms and their near misses (signs, exponents, spaces,
  16+ digits, other offsets, impossible dates, non-ASCII digits), both give the same value of the
  same type, or raise the same error;
- live whole records run generated code with the common forms inlined (``record_check.py``);
  tombstones and change events the loop over the field rules. Both are compared with an oracle,
  the declaration read literally field by field with the general coercions, on random rule sets
  and records: the same stored record (key order included), or the same rejection (field,
  expectation, value) with the record left as it arrived.
"""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from appflow_ingest.domain.records.versions import RecordRejected, RecordVersion
from appflow_ingest.domain.rules import HASH, REDACT, REDACTED, Field, ObjectRules, RuleSet
from appflow_ingest.domain.rules.coercion import ANY_FORM, COERCERS, CoercionError
from appflow_ingest.domain.rules.rule_set import CompiledRuleSet

_DIGITS = "0123456789"


def _outcome(coerce, value):
    try:
        result = coerce(value)
    except Exception as error:  # noqa: BLE001 - whatever the general form raises, the shortcut must too
        return (type(error), str(error))
    return (type(result), result)


def _same(fast, general):
    # Type and value: 100 and 100.0 are equal in Python but not the same stored value.
    return fast == general or (
        fast[0] is float and general[0] is float and fast[1] != fast[1] and general[1] != general[1]
    )


def _timestamp_texts():
    instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
    fractions = st.sampled_from(["", ".000", ".123", ".5", ".123456", ",000"])
    offsets = st.sampled_from(["Z", "+0000", "-0000", "+00:00", "+0100", "-0530", "", "z", "+000", "+00000"])
    separators = st.sampled_from(["T", " ", "t"])

    @st.composite
    def build(draw):
        instant = draw(instants)
        text = instant.strftime("%Y-%m-%d") + draw(separators) + instant.strftime("%H:%M:%S")
        return text + draw(fractions) + draw(offsets)

    return build()


def _mutated(texts):
    """A text with one character replaced: impossible months, stray letters, misplaced separators."""

    @st.composite
    def build(draw):
        text = draw(texts)
        if not text:
            return text
        index = draw(st.integers(0, len(text) - 1))
        return (
            text[:index] + draw(st.sampled_from([*_DIGITS, "-", ":", ".", "Z", " ", "+", "a", "٣"])) + text[index + 1 :]
        )

    return build()


NUMBER_TEXTS = st.one_of(
    st.from_regex(r"\A[ ]?[+-]?[0-9]{0,18}(\.[0-9]{0,8})?([eE][+-]?[0-9]{1,3})?[ ]?\Z"),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(str),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["1_000", "١٢٣", "١٢٣.٥", "²", "0.1", "100.0", "-0.0", "nan", "inf", "Infinity", "1e999"]),
)
DATE_TEXTS = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.sampled_from(
        ["2024-W16-2", "20240416", "2024-02-30", " 2024-04-16", "2024-04-16 ", "2024-4-16", "２０２４-04-16"]
    ),
)
ID_TEXTS = st.text(alphabet=st.sampled_from([*_DIGITS, *"abcXYZ", "é", " ", "-", "_", "٣"]), min_size=13, max_size=20)
VALUES = st.one_of(
    st.none(),
    st.just(""),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    NUMBER_TEXTS,
    _mutated(NUMBER_TEXTS),
    _timestamp_texts(),
    _mutated(_timestamp_texts()),
    DATE_TEXTS,
    _mutated(DATE_TEXTS),
    ID_TEXTS,
    st.sampled_from(["true", "False", "TRUE", "yes", "Y", "t", "0", "1", " true ", "maybe", [1], {"a": 1}]),
)


@pytest.mark.parametrize("type_name", sorted(COERCERS))
@settings(max_examples=250, deadline=None)
@given(value=VALUES)
@example(value=2.0**53)
@example(value=-(2.0**53) + 1)
@example(value=1e300)
@example(value="9007199254740993")
@example(value="123456789012345")
@example(value="1234567890123456")
@example(value="1234567890123456.7")  # 17 digits: its float's shortest repr is ...456.8
@example(value="0.12345678901234567")
@example(value="900719925474099.3")  # 16 digits: its float is ...099.25, shortest repr ...099.2
@example(value="2024-04-16T19:00:00.000+0000")
@example(value="2024-04-16T19:00:00.000Z")
@example(value="0005-01-01T00:00:00.000Z")
@example(value="2024-04-16T19:00:00.000-0000")
@example(value="2024-04-16T24:00:00.000Z")
def test_the_common_forms_give_what_the_general_form_gives(type_name, value):
    fast, general = _outcome(COERCERS[type_name], value), _outcome(ANY_FORM[type_name], value)
    assert _same(fast, general), (value, fast, general)


@settings(max_examples=200, deadline=None)
@given(instant=st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)), millis=st.integers(0, 999))
def test_both_salesforce_forms_of_any_instant_take_the_shortcut_to_one_text(instant, millis):
    instant = instant.replace(microsecond=0) + timedelta(milliseconds=millis)
    rest = instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}+0000"
    bulk = rest[:23] + "Z"
    assert COERCERS["datetime"](rest) == COERCERS["datetime"](bulk) == bulk == ANY_FORM["datetime"](rest)


@pytest.mark.parametrize("type_name", sorted(COERCERS))
@settings(max_examples=300, deadline=None)
@given(value=VALUES)
@example(value=1e300)
@example(value=-(10**20))
@example(value="-0001-01-01")
def test_a_value_of_no_form_is_refused_with_what_was_expected_never_an_other_error(type_name, value):
    # Anything else would fail the whole chunk instead of quarantining the one record.
    try:
        COERCERS[type_name](value)
    except CoercionError as error:
        assert str(error).startswith(("a ", "an "))


# ------------------------------------------------------------------------------------ rule sets
KEY = b"test masking key"
OBJECT = "Thing__c"
NAMES = ["Id", "A", "B", "C", "D", "E", "F"]
ALLOWED = {
    "string": ("Gold", "Silver", "7"),
    "id": ("0015g00000AbcDEAAZ",),
    "number": (1, 2.5, "x"),
    "integer": (1, 2),
    "boolean": (True,),
}


def oracle(rules: RuleSet, record: dict[str, Any], *, deleted: bool, only_present: bool = False) -> dict[str, Any]:
    """The declaration read literally: returns the stored record or raises RecordRejected."""
    ruled = dict(record)
    for name, spec in rules.fields.items():
        if spec.drop or (only_present and name not in record):
            continue
        raw = record.get(name)
        masked = spec.mask is not None  # a masked field's value is never in a reason
        try:
            value = ANY_FORM[spec.type](raw)
        except CoercionError as error:
            if not deleted:
                raise RecordRejected(name, f"type {spec.type}: {error}", raw, masked=masked) from None
            value = raw
        if value is None and spec.required and not deleted:
            raise RecordRejected(name, "required: a value", raw, masked=masked)
        if value is not None and spec.allowed is not None and value not in spec.allowed and not deleted:
            raise RecordRejected(name, f"allowed values: one of {sorted(spec.allowed, key=str)}", raw, masked=masked)
        if value is not None and spec.mask == REDACT:
            value = REDACTED
        elif value is not None and spec.mask == HASH:
            text = value if type(value) is str else str(value)
            message = f"{OBJECT}.{name}".encode() + b"\x00" + text.encode()
            value = "hmac-sha256:" + hmac.new(KEY, message, hashlib.sha256).hexdigest()[:32]
        if name in ruled:
            ruled[name] = value
    for name, spec in rules.fields.items():
        if spec.drop:
            ruled.pop(name, None)
        elif spec.rename and name in ruled:
            ruled[spec.rename] = ruled.pop(name)
    return ruled


@st.composite
def fields(draw):
    type_name = draw(st.sampled_from(sorted(ANY_FORM)))
    allowed = ALLOWED.get(type_name) if draw(st.integers(0, 4)) == 0 else None
    return Field(
        type_name,
        required=draw(st.booleans()),
        allowed=allowed,
        rename=draw(st.sampled_from([None, None, None, "Renamed"])),
        drop=draw(st.integers(0, 9)) == 0,
        mask=draw(st.sampled_from([None, None, None, HASH, REDACT])),
    )


@st.composite
def rule_sets(draw):
    # Few fields: a record broken at its first field would leave the others untested.
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    declared = {name: draw(fields()) for name in names}
    renamed = [name for name, spec in declared.items() if spec.rename and not spec.drop]
    for name in renamed[1:]:  # one field renamed at most: two into one name would be a declaration error
        declared[name] = Field(declared[name].type, required=declared[name].required)
    return RuleSet(name="random", object=OBJECT, fields=declared)


@st.composite
def records(draw, rules: RuleSet):
    """Declared fields with values of their own type's common forms or anything at all, some absent."""
    common = {
        "string": st.sampled_from(["Gold", "Ada", "7", "", " "]),
        "id": st.sampled_from(["0015g00000AbcDEAAZ", "0015g00000AbCdE", "0015g00000AbCdEAA", "  0015g00000AbCdE  "]),
        "boolean": st.sampled_from([True, False, "true", "false", "1", ""]),
        "number": st.sampled_from([1, 2.5, 100.0, "2.5", "100.0", "1e3", float("nan")]),
        "integer": st.sampled_from([1, 7.0, "42", "42.0", "2.5"]),
        "datetime": st.sampled_from(
            ["2024-04-16T19:00:00.000Z", "2024-04-16T19:00:00.000+0000", "2024-04-16T21:00:00.000+0200"]
        ),
        "date": st.sampled_from(["2024-04-16", "2024-02-30", "2024-04-16T19:00:00.000Z", "2024-W16-2", "2024-04-1 "]),
    }
    record = {}
    for name, spec in rules.fields.items():
        choice = draw(st.integers(0, 19))  # mostly the common forms: most records pass every rule
        if choice == 0:
            continue  # absent
        kind = "currency" if spec.type == "currency" else spec.type
        values = common["number" if kind == "currency" else kind]
        record[name] = draw(values if choice < 19 else VALUES)
    if draw(st.booleans()):
        record["Undeclared__c"] = draw(VALUES)
    return record


def outcome(run):
    try:
        return ("stored", run())
    except RecordRejected as rejected:
        return ("rejected", (rejected.field, rejected.expected, repr(rejected.got), str(rejected)))


def same(left, right):
    # NaN is stored as it came on a tombstone; it is equal to nothing, itself included.
    return repr(left) == repr(right)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_whole_records_are_ruled_as_declared(data):
    rules = data.draw(rule_sets())
    record = data.draw(records(rules))
    deleted = data.draw(st.integers(0, 4)) == 0
    compiled = CompiledRuleSet(rules, masking_key=KEY, already_known=("Undeclared__c",))
    arrived = repr(record)

    expected = outcome(lambda: oracle(rules, record, deleted=deleted))
    version = RecordVersion(OBJECT, "x", 0, deleted, record)
    found = outcome(lambda: compiled.apply(version).record)

    assert same(found, expected), compiled.source
    if found[0] == "rejected":
        assert repr(record) == arrived  # quarantined exactly as it arrived


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_change_events_are_ruled_as_declared(data):
    rules = data.draw(rule_sets())
    record = data.draw(records(rules))
    nulled = data.draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=2))
    nulled = [name for name in nulled if name not in record]
    whole, deleted = data.draw(st.booleans()), data.draw(st.integers(0, 4)) == 0
    if not whole:  # an UPDATE carries the fields that changed
        record = {name: value for name, value in record.items() if data.draw(st.booleans())}
    compiled = CompiledRuleSet(rules, masking_key=KEY, already_known=("Undeclared__c",))

    event = {**record, **dict.fromkeys(nulled)}
    declared = rules.fields
    stored_nulled = tuple(
        (declared[name].rename if name in declared else None) or name
        for name in nulled
        if name not in declared or not declared[name].drop
    )
    expected = outcome(lambda: (oracle(rules, event, deleted=deleted, only_present=not whole), stored_nulled))
    found = outcome(lambda: compiled.apply_to_change(record, nulled, whole=whole, deleted=deleted))

    assert same(found, expected)


@pytest.mark.parametrize("rules", [RuleSet("r", OBJECT, {"Id": Field("id", required=True)})])
def test_the_generated_check_is_readable_python(rules):
    source = CompiledRuleSet(rules).source
    assert source.startswith("def check_record(record):") and "raw = get('Id')" in source


def test_a_rejection_names_the_first_broken_field_in_declaration_order():
    rules = RuleSet(
        "r",
        OBJECT,
        {"A": Field("integer"), "B": Field("datetime"), "C": Field("string", required=True)},
    )
    with pytest.raises(RecordRejected) as rejected:
        ObjectRules({OBJECT: rules}).apply(RecordVersion(OBJECT, "x", 0, False, {"A": 1, "B": "soon", "C": ""}))
    assert rejected.value.field == "B"
    assert (
        str(rejected.value)
        == "field 'B': expected type datetime: an ISO-8601 date-time like 2024-04-16T19:00:00.000Z, got 'soon'"
    )


@pytest.mark.parametrize("key", [b"k", b"x" * 64, b"y" * 65, bytes(range(256))])
@pytest.mark.parametrize("value", ["ada@example.com", 12.5, "é" * 100])
def test_the_keyed_hash_is_hmac_sha256_of_field_and_value_whatever_the_key_length(key, value):
    rules = RuleSet("r", OBJECT, {"Email": Field("string", mask=HASH)})
    stored = ObjectRules({OBJECT: rules}, masking_key=key).apply(RecordVersion(OBJECT, "x", 0, False, {"Email": value}))
    text = value if type(value) is str else "12.5"
    expected = hmac.new(key, f"{OBJECT}.Email".encode() + b"\x00" + text.encode(), hashlib.sha256).hexdigest()[:32]
    assert stored.record["Email"] == "hmac-sha256:" + expected
