"""The shipped rule sets, by name. A flow picks one with ``"rules": "<name>"`` in FLOW_OBJECTS.

Add an object: write its ``RuleSet`` here and register it in ``RULE_SETS``; nothing else changes.
"""

from __future__ import annotations

from appflow_ingest.domain.rules.rule_set import HASH, REDACT, Field, RuleSet

# Every Salesforce object carries these; the id and version were already checked (records.py),
# typing them here makes both timestamp forms one.
_SYSTEM = {
    "Id": Field("id", required=True),
    "IsDeleted": Field("boolean"),
    "CreatedDate": Field("datetime"),
    "LastModifiedDate": Field("datetime", required=True),
    "SystemModstamp": Field("datetime"),
    "OwnerId": Field("id"),
}

OPPORTUNITY_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)

# Members as Person Accounts (B2C orgs keep consumers as Accounts) ...
ACCOUNT_MEMBER = RuleSet(
    name="account-member",
    object="Account",
    fields={
        **_SYSTEM,
        "Name": Field("string", required=True),
        "Type": Field("string"),
        "Industry": Field("string"),
        "BillingCity": Field("string"),
        "AnnualRevenue": Field("currency"),
        "NumberOfEmployees": Field("integer"),
        "PersonEmail": Field("string", mask=HASH),
        "Phone": Field("string", mask=REDACT),
    },
)

# ... or as Contacts.
CONTACT_MEMBER = RuleSet(
    name="contact-member",
    object="Contact",
    fields={
        **_SYSTEM,
        "AccountId": Field("id"),
        "FirstName": Field("string"),
        "LastName": Field("string", required=True),
        "Email": Field("string", mask=HASH),
        "Phone": Field("string", mask=REDACT),
        "MobilePhone": Field("string", mask=REDACT),
        "Birthdate": Field("date", mask=REDACT),
    },
)

PURCHASE = RuleSet(
    name="purchase",
    object="Opportunity",
    fields={
        **_SYSTEM,
        "Name": Field("string", required=True),
        "AccountId": Field("id"),
        "ContactId": Field("id"),
        "Amount": Field("currency"),
        "StageName": Field("string", required=True, allowed=OPPORTUNITY_STAGES),
        "IsWon": Field("boolean"),
        "Probability": Field("number"),
        "CloseDate": Field("date"),
    },
)

PROMOTION = RuleSet(
    name="promotion",
    object="Promotion__c",
    fields={
        **_SYSTEM,
        "Name": Field("string", required=True),
        "Member__c": Field("id"),
        "Start_Date__c": Field("date", required=True),
        "Expiry_Date__c": Field("date", required=True),
        "Discount_Percent__c": Field("number"),
    },
)

RULE_SETS: dict[str, RuleSet] = {rules.name: rules for rules in (ACCOUNT_MEMBER, CONTACT_MEMBER, PURCHASE, PROMOTION)}
