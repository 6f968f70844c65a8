"""Billing formats: what a clearinghouse (X12 837P) or a practice-management system (HL7 v2
DFT^P03) needs from a coded Claim, built by pure functions; the sinks write them."""
