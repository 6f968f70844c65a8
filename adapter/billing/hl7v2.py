"""HL7 v2.5.1 DFT^P03 charge messages, built with hl7apy (strictly validated); pure, no I/O.

One message per Claim version: MSH, EVN, PID, PV1 and one FT1 (CG, a charge; CD, the credit
that withdraws one sent before). The FT1 transaction id (FT1-2) is stable per Claim version,
so a practice-management system can recognise a message it has seen. Every field's source:
docs/billing-output.md.
"""

from __future__ import annotations

import re
from datetime import datetime

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message

from ..settings import BillingSettings
from .facts import ClaimFacts
from .x12 import amount

CHARGE, CREDIT = "CG", "CD"
CPT_MODIFIERS = frozenset({"59", "76", "77", "25"})
_DELIMITERS = re.compile(r"[|^~\\&\r\n]")


def _safe(value: str) -> str:
    return _DELIMITERS.sub(" ", value).strip()


def dft_p03(
    facts: ClaimFacts, transaction_id: str, kind: str, control_id: str, settings: BillingSettings, now: datetime
) -> str:
    """One DFT^P03 (ER7, segments separated by carriage returns), validated strictly."""
    stamp = now.strftime("%Y%m%d%H%M%S")
    message = Message("DFT_P03", version="2.5.1", validation_level=VALIDATION_LEVEL.STRICT)
    message.msh.msh_3 = _safe(settings.sending_application)
    message.msh.msh_4 = facts.billing_npi
    message.msh.msh_5 = _safe(settings.receiving_application)
    message.msh.msh_7 = stamp
    message.msh.msh_9 = "DFT^P03^DFT_P03"
    message.msh.msh_10 = control_id
    message.msh.msh_11 = settings.usage_indicator
    message.msh.msh_12 = "2.5.1"
    message.evn.evn_1 = "P03"
    message.evn.evn_2 = stamp
    message.pid.pid_3 = f"{_safe(facts.patient_id)}^^^{_safe(settings.sending_application)}^PI"
    message.pid.pid_5 = f"{_safe(facts.patient.family)}^{_safe(facts.patient.given)}"
    message.pid.pid_7 = facts.birth_date
    message.pid.pid_8 = facts.gender
    if facts.patient_address is not None:
        a = facts.patient_address
        message.pid.pid_11 = f"{_safe(a.line)}^^{_safe(a.city)}^{a.state}^{a.postal_code}"
    message.pv1.pv1_2 = "O"
    message.pv1.pv1_19 = facts.patient_control_number[:20]
    ft1 = message.add_group("DFT_P03_FINANCIAL").ft1
    ft1.ft1_1 = "1"
    ft1.ft1_2 = transaction_id
    ft1.ft1_4 = facts.service_date
    ft1.ft1_6 = kind
    ft1.ft1_7 = f"{facts.cpt}^^C4"
    ft1.ft1_10 = "1"
    charge = amount(facts.charge)
    ft1.ft1_11 = charge if kind == CHARGE else f"-{charge}"
    ft1.ft1_19 = "~".join(f"{code}^^I10" for code in facts.diagnoses)
    ft1.ft1_20 = f"{facts.rendering_npi}^{_safe(facts.rendering.family)}^{_safe(facts.rendering.given)}^^^^^^NPI"
    ft1.ft1_25 = f"{facts.cpt}^^C4"
    if facts.modifiers:
        ft1.ft1_26 = "~".join(f"{m}^^{'CPT' if m in CPT_MODIFIERS else 'HCPCS'}" for m in facts.modifiers)
    message.validate()
    text: str = message.to_er7()
    return text


def acknowledgement_code(ack: str, control_id: str) -> str | None:
    """MSA-1 of an ACK to our message (AA, AE, AR; CA, CE, CR), None if it is not one."""
    try:
        parsed = parse_message(ack.strip("\x0b\x1c\r\n"), validation_level=VALIDATION_LEVEL.TOLERANT)
        msa = parsed.msa
    except Exception:
        return None
    code, answered = msa.msa_1.value, msa.msa_2.value
    return str(code) if answered == control_id else None
