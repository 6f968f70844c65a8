"""R4 and R5: count the distinct muscles needled, without the ones that were injected."""

from __future__ import annotations

from ..anatomy import distinct_muscles, read_site
from ..session import Muscle, ProcedureFacts, Session, SiteInput
from ..tables import CodingTables
from .decision import CountedMuscle, Finding, Findings, UncountedSite
from .status import IGNORED_SUPPORTING


class MuscleCount(Findings):
    """The muscles counted for a case, the sites that could not be, and why."""

    def __init__(self) -> None:
        super().__init__()
        self.muscles: list[Muscle] = []
        self.unresolved: list[str] = []
        self.injection_tasks: list[Finding] = []
        self.removed_by_injection: list[Muscle] = []
        self.counted_procedures: list[str] = []
        self.counted_observations: list[str] = []
        self.everything_was_injection = False
        self.counted: list[CountedMuscle] = []
        self.not_counted: list[UncountedSite] = []
        # Where each (muscle, side) was read from, in documented order.
        self.read_from: dict[Muscle, list[str]] = {}


def count_muscles(session: Session, procedures: list[ProcedureFacts], tables: CodingTables) -> MuscleCount:
    """Count (muscle, side) pairs over Procedures and Observations partOf them (R4), then R5.

    Several trigger points or needles in one muscle are one muscle; left and right are two;
    regions, unknown codes and free text are unresolved, never counted and never guessed.
    """
    result = MuscleCount()
    needled = [p for p in procedures if not p.has_injectate]
    injected_procedures = [p for p in procedures if p.has_injectate]
    for procedure in injected_procedures:
        result.decided("R5", f"{procedure.reference} records an injectate: a trigger-point injection, not dry needling")
        result.injection_tasks.append(
            Finding(
                "R5",
                f"{procedure.reference} records an injectate: it is a trigger-point injection, "
                "bill 20552/20553, not 20560/20561",
            )
        )

    found: list[Muscle] = []
    sources = {p.reference for p in needled}
    for procedure in needled:
        result.counted_procedures.append(procedure.reference)
        found += _read_sites(procedure.sites, result, tables)
    for observation in session.observations:
        if observation.part_of not in sources or not observation.sites:
            continue
        if observation.status in IGNORED_SUPPORTING:
            for site in observation.sites:
                result.not_counted.append(UncountedSite(site.origin, f"status {observation.status}: ignored (R2)"))
            continue
        result.counted_observations.append(observation.reference)
        found += _read_sites(observation.sites, result, tables)
    muscles = distinct_muscles(found)

    injected = _injected_muscles(session, injected_procedures, result, tables)
    kept = [m for m in muscles if not _was_injected(m, injected)]
    result.removed_by_injection = [m for m in muscles if m not in kept]
    if result.removed_by_injection:
        names = ", ".join(f"{m.muscle} ({m.side})" for m in result.removed_by_injection)
        result.warnings.append(Finding("R5", f"removed from the dry-needling count, injected the same day: {names}"))
        result.decided("R5", f"not counted, injected the same day: {names}")
        for muscle in result.removed_by_injection:
            for origin in _sources_of(muscle, result.read_from):
                why = f"{muscle.muscle} ({muscle.side}) injected the same day (R5)"
                result.not_counted.append(UncountedSite(origin, why))
    elif not result.injection_tasks:
        result.decided("R5", "no counted muscle was injected that day")
    result.muscles = kept
    result.counted = [CountedMuscle(m, tuple(_sources_of(m, result.read_from))) for m in kept]
    result.everything_was_injection = bool(procedures) and (
        not needled or (bool(muscles) and not kept and not result.unresolved)
    )
    names = ", ".join(f"{m.muscle} ({m.side})" for m in kept) or "none"
    left_out = f"; {len(result.not_counted)} site(s) not counted" if result.not_counted else ""
    result.decided("R4", f"{len(kept)} muscle(s) counted: {names}{left_out}")
    return result


def _sources_of(muscle: Muscle, read_from: dict[Muscle, list[str]]) -> list[str]:
    """The sites a counted muscle came from; a side-less mention collapsed into a sided one counts too."""
    origins = list(read_from.get(muscle, []))
    if muscle.side != "none":
        origins += read_from.get(Muscle(muscle.muscle, "none"), [])
    return list(dict.fromkeys(origins))


def _read_sites(sites: tuple[SiteInput, ...], result: MuscleCount, tables: CodingTables) -> list[Muscle]:
    muscles: list[Muscle] = []
    for site in sites:
        reading = read_site(site, tables)
        if reading.unresolved:
            result.unresolved.append(f"{reading.origin}: {reading.unresolved}")
            result.not_counted.append(UncountedSite(reading.origin, reading.unresolved))
        for muscle in reading.muscles:
            result.read_from.setdefault(muscle, []).append(reading.origin)
        muscles += reading.muscles
        result.warnings += [Finding("R4", w) for w in reading.warnings if Finding("R4", w) not in result.warnings]
    return muscles


def _injected_muscles(
    session: Session, injected_procedures: list[ProcedureFacts], result: MuscleCount, tables: CodingTables
) -> list[Muscle]:
    """Muscles that received an injection that day: 20552/20553 Procedures and injectate sessions (R5)."""
    injections = [
        p for p in session.same_day_procedures if p.kind == "trigger-point-injection" and p.status == "completed"
    ] + injected_procedures
    muscles: list[Muscle] = []
    for procedure in injections:
        readings = [read_site(site, tables) for site in procedure.sites]
        if procedure.kind == "trigger-point-injection" and (not readings or any(r.unresolved for r in readings)):
            result.holds.append(
                Finding(
                    "R5",
                    f"same-day trigger-point injection {procedure.reference} does not name every injected muscle; "
                    "the dry-needling count cannot exclude them",
                )
            )
        for reading in readings:
            muscles += reading.muscles
    return muscles


def _was_injected(muscle: Muscle, injected: list[Muscle]) -> bool:
    """Same muscle and side; an injection without a side may have been either side."""
    return any(
        i.muscle == muscle.muscle and (i.side == muscle.side or "none" in (i.side, muscle.side)) for i in injected
    )
