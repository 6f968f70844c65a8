"""The review page: what the adapter wrote, as one HTML file for billing staff and auditors."""
