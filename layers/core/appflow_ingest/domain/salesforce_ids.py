"""Salesforce record ids name their object: the first three characters are the object's key prefix.

Standard objects have fixed, documented key prefixes (Salesforce's "Standard Field Record ID
Prefix Decoder"); custom objects get org-specific ones, so they are not listed and must be
configured or carry ``attributes.type``.
"""

from __future__ import annotations

import re

STANDARD_KEY_PREFIXES = {
    "001": "Account",
    "002": "Note",
    "003": "Contact",
    "005": "User",
    "006": "Opportunity",
    "00Q": "Lead",
    "00T": "Task",
    "00U": "Event",
    "00k": "OpportunityLineItem",
    "00v": "CampaignMember",
    "015": "Document",
    "01t": "Product2",
    "01s": "Pricebook2",
    "01u": "PricebookEntry",
    "02i": "Asset",
    "068": "ContentVersion",
    "069": "ContentDocument",
    "500": "Case",
    "501": "Solution",
    "701": "Campaign",
    "800": "Contract",
    "801": "Order",
    "802": "OrderItem",
    "0Q0": "Quote",
}

_SALESFORCE_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def standard_object_for_id(record_id: str) -> str | None:
    """The standard object a 15- or 18-character Salesforce id belongs to, if its prefix is a standard one."""
    if not _SALESFORCE_ID.match(record_id):
        return None
    return STANDARD_KEY_PREFIXES.get(record_id[:3])


_CASE_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_15 = re.compile(r"^[a-zA-Z0-9]{15}$")


def to_18_character_id(record_id: str) -> str:
    """The 18-character form of a 15-character Salesforce id; any other text unchanged.

    The 15-character id is case-sensitive; the 18-character one appends a checksum of the letter
    case of each 5-character part (bit i set when character i is upper case), so a 15- and an
    18-character id of one record become one key. The APIs AppFlow uses give 18 characters;
    reports and hand-made exports give 15.
    """
    if len(record_id) != 15 or not _ID_15.match(record_id):
        return record_id
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(record_id[start : start + 5]) if "A" <= char <= "Z")
        suffix += _CASE_CHECKSUM[bits]
    return record_id + suffix
