ValueSet: DryNeedlingCodes
Id: dry-needling-codes
Title: "Dry-needling CPT codes"
Description: "The two codes of a dry-needling line (rules.md R6)."
* ^experimental = false
* $CPT#20560
* $CPT#20561

ValueSet: DryNeedlingLineModifiers
Id: dry-needling-line-modifiers
Title: "Modifiers allowed on a dry-needling line"
Description: "rules.md R7: 59 and the X{EPSU} subset on an NCCI PTP hit, 76/77 only by a person, GP/CQ for therapists, KX for Medicare sessions 13-20, and the liability modifiers. Never RT, LT, 50 or 25."
* ^experimental = false
* $CPT#59
* $CPT#76
* $CPT#77
* $HCPCS#XE
* $HCPCS#XS
* $HCPCS#XP
* $HCPCS#XU
* $HCPCS#GP
* $HCPCS#CQ
* $HCPCS#KX
* $HCPCS#GA
* $HCPCS#GX
* $HCPCS#GY
* $HCPCS#GZ

ValueSet: DryNeedlingClaimStatus
Id: dry-needling-claim-status
Title: "Statuses of a dry-needling Claim"
Description: "active (billable), draft (held for review, rules.md R11), cancelled (the session stopped being billable after the Claim was written)."
* ^experimental = false
* $FMStatus#active
* $FMStatus#draft
* $FMStatus#cancelled
