"""yujing.alerting: warnings from risk (lifecycle, CAP 1.2, subscriptions, delivery).

Empty until the alerting issue lands; hazard results (``ingest.contracts``) are its input.
"""
