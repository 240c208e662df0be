"""The alert store and the dispatcher: nothing lost, nothing sent twice.

=================  ======================================================================
module             what it holds
=================  ======================================================================
``tables``         the alert-store tables (cycles, warning states, proposals, messages,
                   deliveries, impact states, audit log)
``records``        what the store takes in and gives back
``store``          :class:`AlertStore`: the three parts below on one connection, and
                   what the API, console and health checks read
``cycles``         one cycle's outcome in one transaction; the warnings in force
``reviews``        proposals waiting for the forecaster; a review step and what it sends
``queue``          the dispatcher's side: claim, settle, release, requeue, heartbeats
``_base``          the connection, clock and the message and delivery writers they share
``dispatcher``     :class:`Dispatcher`: batches, retries with backoff, dead letters
=================  ======================================================================
"""

from alerting.outbox.dispatcher import Dispatcher, DispatchReport, RetryPolicy
from alerting.outbox.records import (
    AuditRecord,
    CycleReceipt,
    DeliveryRecord,
    ImpactRecord,
    ImpactUpdate,
    MessageRecord,
    NewDelivery,
)
from alerting.outbox.store import AlertStore, Claim, Claimed

__all__ = [
    "AlertStore",
    "AuditRecord",
    "Claim",
    "Claimed",
    "CycleReceipt",
    "DeliveryRecord",
    "DispatchReport",
    "Dispatcher",
    "ImpactRecord",
    "ImpactUpdate",
    "MessageRecord",
    "NewDelivery",
    "RetryPolicy",
]
