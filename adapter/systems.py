"""Code systems and fixed URLs (fhir-contract.md, research-notes.md 9.4)."""

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
NUCC = "http://nucc.org/provider-taxonomy"
SOPT = "https://nahdo.org/sopt"

# Other spellings of the same code systems that EHRs send (OIDs from the HL7 OID registry; US Core
# binds Coverage.type to the SOPT value set under its OID). Read as the canonical URL.
SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.12": CPT,
    "urn:oid:2.16.840.1.113883.6.285": HCPCS,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "urn:oid:2.16.840.1.113883.6.101": NUCC,
    "urn:oid:2.16.840.1.113883.3.221.5": SOPT,
    "http://nahdo.org/sopt": SOPT,
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": HCPCS,
}

TARGET_BODY_STRUCTURE = "http://hl7.org/fhir/StructureDefinition/procedure-targetBodyStructure"
# R5-style Reference(BodyStructure) on a CodeableConcept, published as an R4 extension.
BODY_SITE_REFERENCE = "http://hl7.org/fhir/StructureDefinition/bodySite"

# The clinic's IANA time zone on a Location or Organization (R2a).
TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"

LATERALITY_ATTRIBUTE = "272741003"
LEFT = "7771000"
RIGHT = "24028007"
BILATERAL = "51440002"
# Seen in a third-party DICOM-to-FHIR converter; read as synonyms (research-notes.md 10.1 [S]).
UNILATERAL_LEFT = "419161000"
UNILATERAL_RIGHT = "419465000"

PHYSICAL_THERAPIST = "225100000X"
PHYSICAL_THERAPIST_ASSISTANT = "225200000X"

# Our own canonical base: the profiles in profiles/ and the tags on what we write live here.
CANONICAL_BASE = "https://dry-needling-adapter.github.io/fhir"
CLAIM_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/dry-needling-claim"
TASK_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/dry-needling-review-task"
PROVENANCE_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/dry-needling-provenance"
DECISION_TRACE = f"{CANONICAL_BASE}/StructureDefinition/decision-trace"
CASE_IDENTIFIER_SYSTEM = f"{CANONICAL_BASE}/sid/dry-needling-case"
WRITTEN_BY_TAG_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/written-by"
REVIEW_REASON_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/review-reason"
