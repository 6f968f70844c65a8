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
