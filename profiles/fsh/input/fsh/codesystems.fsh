// Stubs of external code systems: only the codes this adapter writes or refuses, so that a
// validator without a terminology server can check the bindings. CPT is (c) AMA; these stubs
// are not the code systems. Code meanings follow research-notes.md sections 1 and 4.

CodeSystem: CptDryNeedlingStub
Id: cpt-dry-needling-stub
Title: "CPT stub: the codes and modifiers of a dry-needling line"
Description: "A fragment of CPT holding only the codes and CPT modifiers the dry-needling adapter writes or forbids (rules.md R6, R7)."
* ^url = $CPT
* ^content = #fragment
* ^caseSensitive = true
* ^experimental = false
* #20560 "Needle insertion(s) without injection(s); 1 or 2 muscle(s)"
* #20561 "Needle insertion(s) without injection(s); 3 or more muscles"
* #25 "Significant, separately identifiable E/M service (never on a dry-needling line)"
* #50 "Bilateral procedure (never on a dry-needling line)"
* #59 "Distinct procedural service"
* #76 "Repeat procedure by the same physician or other qualified health care professional"
* #77 "Repeat procedure by another physician or other qualified health care professional"

CodeSystem: HcpcsModifierStub
Id: hcpcs-modifier-stub
Title: "HCPCS Level II stub: modifiers of a dry-needling line"
Description: "A fragment of HCPCS Level II holding only the modifiers the dry-needling adapter writes or forbids (rules.md R7)."
* ^url = $HCPCS
* ^content = #fragment
* ^caseSensitive = true
* ^experimental = false
* #GP "Services delivered under an outpatient physical therapy plan of care"
* #CQ "Outpatient physical therapy services furnished in whole or in part by a physical therapist assistant"
* #KX "Requirements specified in the medical policy have been met"
* #XE "Separate encounter"
* #XS "Separate structure"
* #XP "Separate practitioner"
* #XU "Unusual non-overlapping service"
* #GA "Waiver of liability statement issued as required by payer policy"
* #GX "Notice of liability issued, voluntary under payer policy"
* #GY "Item or service statutorily excluded or does not meet the definition of any Medicare benefit"
* #GZ "Item or service expected to be denied as not reasonable and necessary"
* #RT "Right side (never on a dry-needling line)"
* #LT "Left side (never on a dry-needling line)"

CodeSystem: ReviewReason
Id: review-reason
Title: "Dry-needling review reasons"
Description: "Why the adapter asks billing staff to review a case: the coding rule that held it (rules.md)."
* ^caseSensitive = true
* ^experimental = false
* #dry-needling-review "Review a dry-needling claim"
* #R1 "Which Procedures are dry needling"
* #R2 "Procedure or Encounter status"
* #R3 "The case: patient, date of service, rendering clinician"
* #R4 "Counting muscles"
* #R5 "Injections are not dry needling"
* #R6 "Choosing the code"
* #R7 "Modifiers"
* #R8 "Payer"
* #R9 "Diagnosis"
* #R10 "Same-day acupuncture"
* #R11 "Holds and non-claims"

CodeSystem: ClaimWorkflow
Id: claim-workflow
Title: "Claim hand-off states"
Description: "Tags a biller or clearinghouse puts on a Claim; the adapter never changes a Claim tagged submitted."
* ^caseSensitive = true
* ^experimental = false
* #submitted "Picked up for submission"

CodeSystem: WrittenBy
Id: written-by
Title: "Written by"
Description: "Tags the adapter puts on everything it writes, so users can find, audit and remove it."
* ^caseSensitive = true
* ^experimental = false
* #dry-needling-adapter "written by dry-needling-adapter"
