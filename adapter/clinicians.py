"""The rendering clinician of a Procedure (R3) and the roles and taxonomies R7 chooses among.

Procedure.performer.actor (a Practitioner or PractitionerRole, by reference or identifier), else
the Encounter's participant, primary performer first. A PractitionerRole resolves to the
Practitioner it names, so the two references to one person are one clinician.
"""

from __future__ import annotations

from collections.abc import Callable

from . import systems
from .fhirjson import JSON, as_list, codes_in, codings, objects, resource_key
from .indexes import SharedIndex
from .problems import InputProblem
from .session import Clinician, RoleFacts

Resolve = Callable[[object, str, str], str | None]
CLINICIAN_TYPES = ("Practitioner", "PractitionerRole")


class ClinicianFinder:
    """Finds one patient's rendering clinicians; each is resolved once per run (shared resources do not change)."""

    def __init__(self, shared: SharedIndex, resolve: Resolve, problems: list[InputProblem]) -> None:
        self.shared = shared
        self.resolve = resolve
        self.problems = problems

    def clinician_of(self, resource: JSON, encounter: JSON | None, encounter_ref: str | None) -> Clinician | None:
        """The rendering clinician: Procedure.performer.actor, else the Encounter's performer."""
        where = resource_key(resource) or "Procedure"
        for i, performer in enumerate(objects(resource.get("performer"))):
            actor = self.resolve(performer.get("actor"), where, f"performer[{i}].actor")
            if actor and actor.split("/")[0] in CLINICIAN_TYPES:
                return self._clinician(actor, where)
        if encounter:
            participants = list(enumerate(objects(encounter.get("participant"))))
            participants.sort(key=lambda p: 0 if "PPRF" in _participant_types(p[1]) else 1)
            for i, participant in participants:
                actor = self.resolve(participant.get("individual"), str(encounter_ref), f"participant[{i}].individual")
                if actor and actor.split("/")[0] in CLINICIAN_TYPES:
                    return self._clinician(actor, encounter_ref or "Encounter")
        return None

    def _clinician(self, actor: str, where: str) -> Clinician:
        known = self.shared.clinicians.get(actor)
        if known is None:
            known = self._resolve_clinician(actor, where)
            if known.taxonomies:  # a dangling one is resolved again, so each patient's problem is reported
                self.shared.clinicians[actor] = known
        return known

    def _resolve_clinician(self, actor: str, where: str) -> Clinician:
        if actor.startswith("PractitionerRole/"):
            role = self.shared.get(actor)
            if role is None:
                self.problems.append(
                    InputProblem(where, f"{actor} is referenced but not in the source", "warning", "not-found")
                )
                return Clinician(key=actor, reference=actor, taxonomies=frozenset())
            practitioner = self.shared.resolve(role.get("practitioner"))
            facts = self._role_facts(actor, role)
            return Clinician(
                key=practitioner or actor,
                reference=actor,
                taxonomies=facts.taxonomies,
                organization=facts.organization,
                roles=(facts,),
            )
        roles = tuple(
            self._role_facts(ref, role) for ref in self.shared.roles_of(actor) if (role := self.shared.get(ref))
        )
        organizations = {r.organization for r in roles} - {None}
        if self.shared.get(actor) is None and not roles:
            self.problems.append(
                InputProblem(where, f"{actor} is referenced but not in the source", "warning", "not-found")
            )
        return Clinician(
            key=actor,
            reference=actor,
            taxonomies=frozenset(t for r in roles for t in r.taxonomies),
            organization=next(iter(organizations)) if len(organizations) == 1 else None,
            roles=roles,
        )

    def _role_facts(self, ref: str, role: JSON) -> RoleFacts:
        return RoleFacts(ref, self.shared.resolve(role.get("organization")), frozenset(_taxonomies(role)))


def _taxonomies(role: JSON) -> list[str]:
    """The NUCC codes of a role, in whatever position of its codings (R7)."""
    return [code for concept in as_list(role.get("code")) for code in codes_in(concept, systems.NUCC)]


def _participant_types(participant: JSON) -> set[str]:
    return {code for concept in as_list(participant.get("type")) for _, code in codings(concept)}
