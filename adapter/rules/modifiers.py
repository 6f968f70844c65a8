"""R7: the modifiers of the 2056x line, in the configured order."""

from __future__ import annotations

import re

from .. import systems
from ..anatomy import read_site
from ..session import Muscle, ProcedureFacts, Session
from ..settings import CodingSettings
from ..tables import CodingTables
from .decision import Finding, Findings

# Never on the 2056x line (R7): sides are in the muscle count, 25 belongs on the E/M line,
# 76/77 need a person. choose_modifiers cannot produce them; this set documents and guards it.
NEVER_ON_DRY_NEEDLING = frozenset({"RT", "LT", "50", "25", "76", "77"})
CPT_MODIFIERS = frozenset({"25", "50", "59", "76", "77"})
EVALUATION_AND_MANAGEMENT = frozenset(f"992{n:02d}" for n in range(2, 16))


class ModifierChoice(Findings):
    """The modifiers of the line, in order (R7, R8)."""

    def __init__(self) -> None:
        super().__init__()
        self.modifiers: tuple[str, ...] = ()


class RoleChoice(Findings):
    """The NUCC taxonomies of the role the clinician rendered under (R7)."""

    def __init__(self, holds: list[Finding] | None = None, taxonomies: frozenset[str] = frozenset()) -> None:
        super().__init__(holds)
        self.taxonomies = taxonomies


# NUCC: 225100000X physical therapist and its specialisations 2251xxxxxX (e.g. 2251X0800X
# orthopaedic, 2251S0007X sports); 225200000X physical therapist assistant (R7).
_PHYSICAL_THERAPIST = re.compile(r"^2251[0-9A-Z]{5}X$")


def therapist_role(taxonomies: frozenset[str]) -> str | None:
    """'PT', 'PTA', 'both' (conflicting codes) or None, from the clinician's NUCC taxonomies (R7)."""
    is_pt = any(_PHYSICAL_THERAPIST.match(t) for t in taxonomies)
    is_pta = systems.PHYSICAL_THERAPIST_ASSISTANT in taxonomies
    if is_pt and is_pta:
        return "both"
    return "PT" if is_pt else "PTA" if is_pta else None


def rendering_taxonomies(session: Session) -> RoleChoice:
    """The taxonomies of the role the clinician rendered under, and a hold if that is ambiguous (R7).

    A PractitionerRole named on the record is that role. A Practitioner with several roles: the
    roles at the Encounter's serviceProvider (the billing Organization), else all; if roles with
    different taxonomies remain, a person decides.
    """
    choice = _rendering_taxonomies(session)
    if session.clinician is not None and not choice.holds:
        shown = ", ".join(sorted(choice.taxonomies)) or "none"
        choice.decided("R7", f"{session.clinician.reference} rendered with NUCC taxonomy {shown}")
    return choice


def _rendering_taxonomies(session: Session) -> RoleChoice:
    clinician = session.clinician
    if clinician is None:
        return RoleChoice()
    coded = [r for r in clinician.roles if r.taxonomies]
    if not coded:
        return RoleChoice(taxonomies=clinician.taxonomies)
    at_provider = [r for r in coded if session.service_provider and r.organization == session.service_provider]
    candidates = at_provider or coded
    distinct = sorted({r.taxonomies for r in candidates}, key=sorted)
    if len(distinct) > 1:
        shown = "; ".join(f"{r.reference}: {', '.join(sorted(r.taxonomies))}" for r in candidates)
        return RoleChoice(
            holds=[
                Finding(
                    "R7",
                    f"clinician role ambiguous: {clinician.reference} has roles with different taxonomies ({shown})",
                )
            ],
            taxonomies=frozenset().union(*distinct),
        )
    return RoleChoice(taxonomies=distinct[0])


def modifier_system(modifier: str, settings: CodingSettings) -> str:
    """CPT modifiers use the CPT system; HCPCS Level II ones the configured HCPCS URI (R7)."""
    return systems.CPT if modifier in CPT_MODIFIERS else settings.hcpcs_system


def check_clinician_role(session: Session, taxonomies: frozenset[str]) -> Findings:
    """Holds about who rendered the session, whatever code the muscles give (R7).

    They run for every case, coded or not, so a held case lists every reason at once (R11).
    """
    holds: list[Finding] = []
    role = therapist_role(taxonomies)
    if session.clinician is not None and not taxonomies:
        holds.append(
            Finding("R7", f"no NUCC taxonomy found for {session.clinician.reference}; GP/CQ cannot be decided")
        )
    if role == "both":
        holds.append(
            Finding("R7", "the clinician has both physical therapist and assistant roles; GP/CQ cannot be decided")
        )
    if role == "PTA":
        holds.append(
            Finding("R7", "dry needling by a physical therapist assistant: scope depends on the state (policy)")
        )
    return Findings(holds=holds)


def choose_modifiers(
    session: Session,
    cpt: str,
    muscles: list[Muscle],
    tables: CodingTables,
    settings: CodingSettings,
    taxonomies: frozenset[str],
    payer_modifiers: tuple[str, ...] = (),
) -> ModifierChoice:
    """GP/CQ for therapists, 59/X only on an NCCI PTP hit, KX/GY/GX from R8, ordered (R7).

    The holds about the clinician's role are check_clinician_role's.
    """
    choice = ModifierChoice()
    chosen: list[str] = []
    role = therapist_role(taxonomies)
    if role in ("PT", "PTA") and settings.gp_for_therapists:
        chosen.append("GP")
    if role == "PTA":
        chosen.append("CQ")
    distinct = _distinct_service_modifier(session, cpt, muscles, tables, settings, choice)
    if distinct:
        chosen.append(distinct)
    chosen += payer_modifiers
    order = {m: i for i, m in enumerate(settings.modifier_order)}
    choice.modifiers = tuple(sorted(dict.fromkeys(chosen), key=lambda m: order.get(m, len(order))))
    assert not NEVER_ON_DRY_NEEDLING.intersection(choice.modifiers)
    _explain_modifiers(choice, role, taxonomies, distinct, payer_modifiers, settings)
    return choice


def _explain_modifiers(
    choice: ModifierChoice,
    role: str | None,
    taxonomies: frozenset[str],
    distinct: str | None,
    payer_modifiers: tuple[str, ...],
    settings: CodingSettings,
) -> None:
    """The trace of R7: why each modifier is on the line, and why the usual ones are not."""
    shown = ", ".join(sorted(taxonomies)) or "no taxonomy"
    if "GP" in choice.modifiers:
        choice.decided("R7", f"GP because {shown} (a physical therapy plan of care)")
    elif role is None:
        choice.decided("R7", f"no GP: {shown} is not a physical therapist or assistant")
    elif not settings.gp_for_therapists:
        choice.decided("R7", "no GP: gp_for_therapists is off in [coding]")
    if "CQ" in choice.modifiers:
        choice.decided("R7", f"CQ because {shown} is a physical therapist assistant")
    if distinct:
        choice.decided("R7", f"{distinct}: a loaded NCCI PTP pair with a separate encounter, practitioner or structure")
    else:
        choice.decided("R7", "no 59/X: no loaded NCCI PTP pair calls for one")
    if payer_modifiers:
        choice.decided("R7", f"{', '.join(payer_modifiers)} from the payer rules (R8)")
    choice.decided("R7", "modifiers in order: " + (", ".join(choice.modifiers) or "none"))


def _distinct_service_modifier(
    session: Session,
    cpt: str,
    muscles: list[Muscle],
    tables: CodingTables,
    settings: CodingSettings,
    choice: ModifierChoice,
) -> str | None:
    """59/XE/XS/XP/XU only where a loaded PTP pair makes 2056x column 2 with indicator 1 (R7)."""
    wanted: set[str] = set()
    hit_codes: set[str] = set()
    for other in session.same_day_procedures:
        if other.status != "completed" or other.kind in ("dry-needling", "acupuncture"):
            continue
        for code in {c for s, c in other.codes if s == systems.CPT}:
            for pair in tables.ptp_pairs:
                if not pair.active_on(session.service_date) or pair.modifier_indicator == "9":
                    continue
                if pair.column1 == code and pair.column2 == cpt:
                    hit_codes.add(code)
                    if pair.modifier_indicator == "0":
                        choice.holds.append(
                            Finding("R7", f"NCCI PTP {code}/{cpt} has modifier indicator 0: not payable together")
                        )
                        continue
                    x_modifier = _fitting_x_modifier(session, other, muscles, tables)
                    if x_modifier is None:
                        choice.holds.append(
                            Finding(
                                "R7",
                                f"NCCI PTP {code}/{cpt} allows a modifier, but the record shows no separate encounter, "
                                "practitioner or structure",
                            )
                        )
                    else:
                        wanted.add(x_modifier)
                elif pair.column1 == cpt and pair.column2 == code:
                    hit_codes.add(code)
                    choice.warnings.append(
                        Finding("R7", f"NCCI PTP {cpt}/{code}: {code} is the column-2 code; check its line")
                    )
    _warn_risky_codes(session, hit_codes, settings, choice)
    if len(wanted) > 1:
        choice.holds.append(
            Finding("R7", f"several PTP pairs call for different modifiers ({', '.join(sorted(wanted))})")
        )
        return None
    return wanted.pop() if wanted else None


def _fitting_x_modifier(
    session: Session, other: ProcedureFacts, muscles: list[Muscle], tables: CodingTables
) -> str | None:
    """XE for a separate encounter, XP for another practitioner, XS for another structure."""
    own_encounters = {p.encounter for p in session.procedures if p.encounter}
    if other.encounter and own_encounters and other.encounter not in own_encounters:
        return "XE"
    if other.clinician and session.clinician and other.clinician != session.clinician.key:
        return "XP"
    readings = [read_site(site, tables) for site in other.sites]
    other_muscles = [m for reading in readings for m in reading.muscles]
    resolved = all(not reading.unresolved for reading in readings)
    if other.sites and resolved and not {m.muscle for m in other_muscles} & {m.muscle for m in muscles}:
        return "XS"
    return None


def _warn_risky_codes(session: Session, hit_codes: set[str], settings: CodingSettings, choice: ModifierChoice) -> None:
    risky = set(settings.risky_same_day_codes)
    for other in session.same_day_procedures:
        if other.status != "completed":
            continue
        for system, code in other.codes:
            if system != systems.CPT or code in hit_codes:
                continue
            if code in risky:
                choice.warnings.append(
                    Finding(
                        "R7",
                        f"{code} on the same date: no NCCI pair loaded, so no 59/X; "
                        f"check the PTP edit for 2056x/{code}",
                    )
                )
            elif code in EVALUATION_AND_MANAGEMENT:
                choice.warnings.append(
                    Finding("R7", f"E/M {code} on the same date: modifier 25 belongs on the E/M line, never on 2056x")
                )
