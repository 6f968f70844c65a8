"""R10: acupuncture on the same date as dry needling holds the case."""

from __future__ import annotations

from ..session import Session
from .decision import Finding, Findings
from .status import IGNORED_SUPPORTING


def check_same_day_acupuncture(session: Session) -> Findings:
    """Hold when 97810-97814 is documented for the patient on the date of service, whoever
    performed it, unless R2 ignores that Procedure (R10).

    CR 11755 edits reportedly refuse 20561 with 97810-97814 on one date [S13]; commercial
    edits are unverified, so a person decides.
    """
    found = sorted(
        {
            code
            for procedure in session.same_day_procedures
            if procedure.kind == "acupuncture" and procedure.status not in IGNORED_SUPPORTING
            for _, code in procedure.codes
            if code.startswith("978")
        }
    )
    result = Findings()
    if found:
        result.holds.append(Finding("R10", f"acupuncture {', '.join(found)} on the same date as dry needling"))
        result.decided("R10", f"acupuncture {', '.join(found)} the same date: held")
    else:
        result.decided("R10", "no acupuncture on the same date")
    return result
