"""The alert store and the dispatcher: nothing lost, nothing sent twice.

=================  ======================================================================
module             what it holds
=================  ======================================================================
``tables``         the alert-store tables (cycles, warning states, proposals, messages,
                   deliveries, impact states, audit log)
``records``        what the store takes in and gives back
``store``          :class:`AlertStore`: one-transaction cycles, reviews, claim/settle
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
from alerting.outbox.store import AlertStore, Claimed

__all__ = [
    "AlertStore",
    "AuditRecord",
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
