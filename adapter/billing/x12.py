"""X12 837P professional claims (005010X222A1), built from `ClaimFacts`; pure, no I/O.

One interchange (ISA/GS/ST ... SE/GE/IEA) a file; per Claim one billing-provider loop
(2000A, HL 20), its subscriber (2000B, HL 22; the patient is the subscriber), one CLM with
its HI diagnoses, rendering provider (2310B) and one service line (2400: SV1 `HC:<CPT>:<mods>`,
units 1, the fee schedule's charge, diagnosis pointers, DTP*472). A re-coded Claim goes as a
replacement (CLM05-3 = 7, REF*F8 = the original claim's CLM01), a withdrawn one as a void
(CLM05-3 = 8). Every element's source: docs/billing-output.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..settings import BillingSettings
from .facts import ClaimFacts

ELEMENT, COMPONENT, REPETITION, SEGMENT = "*", ":", "^", "~"
ORIGINAL, REPLACEMENT, VOID = "1", "7", "8"
_UNSAFE = re.compile(r"[*:^~\r\n]")


@dataclass(frozen=True)
class ClaimToSend:
    """One CLM: the facts, its frequency (1 original, 7 replacement, 8 void) and, for 7 and 8,
    the CLM01 of the claim it replaces or voids."""

    facts: ClaimFacts
    frequency: str = ORIGINAL
    original: str | None = None


def clean(value: str, limit: int | None = None) -> str:
    """An element value without delimiters, upper-case as most payers want it."""
    cleaned = _UNSAFE.sub(" ", value).strip().upper()
    return cleaned[:limit] if limit else cleaned


def amount(value: Decimal) -> str:
    """An X12 R value: no trailing zeros, no exponent."""
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def interchange(claims: list[ClaimToSend], settings: BillingSettings, control: int, now: datetime) -> str:
    """The whole 837P file for these claims (at least one)."""
    sender = clean(settings.submitter_id or "", 15)
    receiver = clean(settings.receiver_id or "", 15)
    date6, date8, time4 = now.strftime("%y%m%d"), now.strftime("%Y%m%d"), now.strftime("%H%M")
    number = f"{control:09d}"
    body: list[list[str]] = [
        ["ST", "837", "0001", "005010X222A1"],
        ["BHT", "0019", "00", number, date8, time4, "CH"],
        _nm1("41", clean(settings.submitter_name or sender, 60), "", "46", sender),
        ["PER", "IC", clean(settings.contact_name or "BILLING", 60), "TE", settings.contact_phone or ""],
        _nm1("40", clean(settings.receiver_name or receiver, 60), "", "46", receiver),
    ]
    hl = 0
    for item in claims:
        hl += 1
        body += _claim(item, hl, settings)
        hl += 1
    body.append(["SE", str(len(body) + 1), "0001"])
    segments = [
        [
            "ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ", receiver.ljust(15),
            date6, time4, REPETITION, "00501", number, "0", settings.usage_indicator, COMPONENT,
        ],
        ["GS", "HC", sender, receiver, date8, time4, str(control), "X", "005010X222A1"],
        *body,
        ["GE", "1", str(control)],
        ["IEA", "1", number],
    ]  # fmt: skip
    return "".join(ELEMENT.join(_trimmed(s)) + SEGMENT + "\n" for s in segments)


def _claim(item: ClaimToSend, hl: int, settings: BillingSettings) -> list[list[str]]:
    f = item.facts
    a = f.billing_address
    segments: list[list[str]] = [
        ["HL", str(hl), "", "20", "1"],
        _nm1("85", clean(f.billing_name, 60), "", "XX", f.billing_npi),
        ["N3", clean(a.line, 55)],
        ["N4", clean(a.city, 30), a.state, a.postal_code],
        ["REF", "EI", f.billing_ein],
        ["HL", str(hl + 1), str(hl), "22", "0"],
        ["SBR", "P", f.relationship, "", "", "", "", "", "", f.filing_indicator],
        _nm1("IL", clean(f.patient.family, 60), clean(f.patient.given, 35), "MI", clean(f.member_id, 80)),
    ]  # fmt: skip
    if f.patient_address is not None:
        p = f.patient_address
        segments += [["N3", clean(p.line, 55)], ["N4", clean(p.city, 30), p.state, p.postal_code]]
    segments += [
        ["DMG", "D8", f.birth_date, f.gender],
        _nm1("PR", clean(f.payer_name, 60), "", "PI", clean(f.payer_id, 80)),
        [
            "CLM", f.patient_control_number, amount(f.charge), "", "",
            COMPONENT.join((settings.place_of_service, "B", item.frequency)), "Y", "A", "Y", "Y",
        ],
    ]  # fmt: skip
    if item.frequency != ORIGINAL and item.original:
        segments.append(["REF", "F8", item.original])
    codes = [("ABK" if i == 0 else "ABF") + COMPONENT + code for i, code in enumerate(f.diagnoses)]
    segments.append(["HI", *codes])
    segments.append(_nm1("82", clean(f.rendering.family, 60), clean(f.rendering.given, 35), "XX", f.rendering_npi))
    if f.rendering_taxonomy:
        segments.append(["PRV", "PE", "PXC", f.rendering_taxonomy])
    procedure = COMPONENT.join(("HC", f.cpt, *f.modifiers))
    pointers = COMPONENT.join(str(p) for p in f.pointers)
    segments += [
        ["LX", "1"],
        ["SV1", procedure, amount(f.charge), "UN", "1", "", "", pointers],
        ["DTP", "472", "D8", f.service_date],
    ]
    return segments


def _nm1(entity: str, last: str, first: str, qualifier: str, identifier: str) -> list[str]:
    """An NM1 name: a person (1) when a first name is given or the entity is one, else an organization (2)."""
    kind = "1" if first or entity in ("IL", "82", "QC") else "2"
    return ["NM1", entity, kind, last, first, "", "", "", qualifier, identifier]


def _trimmed(segment: list[str]) -> list[str]:
    """Trailing empty elements dropped, as X12 requires."""
    while segment and segment[-1] == "":
        segment = segment[:-1]
    return segment
