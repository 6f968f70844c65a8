Alias: $CPT = http://www.ama-assn.org/go/cpt
Alias: $HCPCS = http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets
Alias: $ICD10CM = http://hl7.org/fhir/sid/icd-10-cm
Alias: $ClaimType = http://terminology.hl7.org/CodeSystem/claim-type
Alias: $FMStatus = http://hl7.org/fhir/fm-status
