Profile: DryNeedlingClaim
Parent: Claim
Id: dry-needling-claim
Title: "Dry-needling professional claim"
Description: "A professional Claim with at most one line, CPT 20560 or 20561, one unit, written by the dry-needling adapter (rules.md R1-R11)."
* ^status = #draft
* ^experimental = false
* obeys dn-claim-1 and dn-claim-2 and dn-claim-3 and dn-claim-4 and dn-claim-5
* identifier 1..*
* status from DryNeedlingClaimStatus (required)
* type = $ClaimType#professional
* use = #claim
* insurance 1..*
* careTeam.provider only Reference(Practitioner or PractitionerRole)
* item 0..1
* item.productOrService from DryNeedlingCodes (required)
* item.modifier from DryNeedlingLineModifiers (required)
* item.quantity 1..1
* item.quantity.value 1..1
* item.quantity.value = 1
* item.serviced[x] 1..1
* item.serviced[x] only date

Invariant: dn-claim-1
Description: "An active Claim carries its dry-needling line and at least one diagnosis (R6, R9, R11)."
Severity: #error
Expression: "status = 'active' implies (item.exists() and diagnosis.exists())"

Invariant: dn-claim-2
Description: "Never RT, LT, 50 or 25 on the dry-needling line (R7)."
Severity: #error
Expression: "item.modifier.coding.where(code = 'RT' or code = 'LT' or code = '50' or code = '25').empty()"

Invariant: dn-claim-3
Description: "Never both 20560 and 20561 for one case (R6)."
Severity: #error
Expression: "(item.productOrService.coding.where(code = '20560').exists() and item.productOrService.coding.where(code = '20561').exists()).not()"

Invariant: dn-claim-5
Description: "An active Claim names its rendering clinician in careTeam, and its line points to it; a held draft may lack one when none was documented (R3, R11)."
Severity: #error
Expression: "status = 'active' implies (careTeam.exists() and item.all(careTeamSequence.exists()))"

Invariant: dn-claim-4
Description: "Diagnoses are ICD-10-CM codes (R9)."
Severity: #error
Expression: "diagnosis.all(diagnosis.ofType(CodeableConcept).coding.where(system = 'http://hl7.org/fhir/sid/icd-10-cm').exists())"

Profile: DryNeedlingReviewTask
Parent: Task
Id: dry-needling-review-task
Title: "Dry-needling review Task"
Description: "A Task for billing staff: review a held dry-needling case; its description lists every reason with its rule id (rules.md R11)."
* ^status = #draft
* ^experimental = false
* identifier 1..*
* intent = #order
* code 1..1
* code = ReviewReason#dry-needling-review
* focus 1..1
* focus only Reference(Claim or Procedure)
* for 1..1
* for only Reference(Patient)
* description 1..1
* authoredOn 1..1

Extension: DecisionTrace
Id: decision-trace
Title: "Dry-needling decision trace"
Description: "Why a dry-needling Claim carries its code and modifiers, or why it was held: each rule that applied and what it decided, each counted muscle with the documented sites it came from, and each site left out with the reason (rules.md R1-R11). Written by the adapter on the Provenance of the Claim, so a server-side audit finds it."
Context: Provenance
* extension contains
    outcome 1..1 and
    step 1..* and
    muscle 0..* and
    notCounted 0..* and
    hold 0..* and
    warning 0..*
* extension[outcome] ^short = "claim_line, hold_for_review or no_claim_line (R11)"
* extension[outcome].value[x] only code
* extension[step] ^short = "A rule and what it decided"
* extension[step].extension contains rule 1..1 and decided 1..1
* extension[step].extension[rule].value[x] only code
* extension[step].extension[decided].value[x] only string
* extension[muscle] ^short = "A counted muscle (R4) and the documented sites it was read from"
* extension[muscle].extension contains name 1..1 and side 1..1 and source 1..*
* extension[muscle].extension[name].value[x] only string
* extension[muscle].extension[side].value[x] only code
* extension[muscle].extension[source].value[x] only string
* extension[notCounted] ^short = "A documented site the count leaves out, and why"
* extension[notCounted].extension contains site 1..1 and why 1..1
* extension[notCounted].extension[site].value[x] only string
* extension[notCounted].extension[why].value[x] only string
* extension[hold] ^short = "A reason the case is held for review, with its rule"
* extension[hold].extension contains rule 1..1 and message 1..1
* extension[hold].extension[rule].value[x] only code
* extension[hold].extension[message].value[x] only string
* extension[warning] ^short = "A coding warning, with its rule"
* extension[warning].extension contains rule 1..1 and message 1..1
* extension[warning].extension[rule].value[x] only code
* extension[warning].extension[message].value[x] only string

Profile: DryNeedlingProvenance
Parent: Provenance
Id: dry-needling-provenance
Title: "Provenance of a dry-needling adapter write"
Description: "What the adapter wrote, from which source resources (with versions), and, for a coded case, the decision trace (rules.md R1-R11)."
* ^status = #draft
* ^experimental = false
* target 1..*
* agent 1..*
* extension contains DecisionTrace named decisionTrace 0..1
