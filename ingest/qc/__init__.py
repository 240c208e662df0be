"""Quality control of station observations: range, step, spike, persistence, buddy.

QC *sets flags*; it never changes, removes or invents a value (DESIGN.md, ingest). For each
checked variable ``<var>`` it adds ``<var>_qc`` (``uint8``, dims of ``<var>``) with CF
``flag_masks`` and ``flag_meanings``; the reader's ``<var>_flag`` (what the source said)
is left as it was. One bit per test:

=====  =====================  ===============================================================
mask   meaning                set when
=====  =====================  ===============================================================
1      ``range_fail``         the value lies outside the plausible range of the variable
2      ``step_fail``          it differs from the previous plausible report, at most
                              ``step_per`` earlier, by more than ``step`` (the later report
                              of a jump is flagged; the return from a spike is not a step)
4      ``spike_fail``         it differs from both neighbouring reports by more than
                              ``spike`` in the same direction (up and back)
8      ``persistence_fail``   it belongs to a run of reports within ``tolerance`` of each
                              other spanning ``window`` or more (stuck sensor); runs at or
                              below ``exempt_at_or_below`` (dry, calm) are legitimate
16     ``buddy_fail``         ``|value - median(buddies)| > threshold · max(1.4826 · MAD,
                              min_spread)`` over the stations within ``radius`` that are
                              good for their source and passed the time-series tests
32     ``buddy_not_checked``  fewer than ``min_buddies`` such buddies at that time
=====  =====================  ===============================================================

Missing values (NaN) get 0: there is nothing to check, and the reader's flag already says
so. Values that fail the range test are left out of the step, spike and persistence
tests (an impossible value is no neighbour in time), and values failing any time-series
test or flagged by the source serve as no buddy. :func:`usable_observations` is the one
rule downstream code (gridding) uses: present, ``good`` for the source, no ``*_fail`` bit.

Rainfall and persistence: zero rainfall persists for weeks in dry weather, so by default
only a run of the same *non-zero* amount counts (``exempt_at_or_below = "0 mm"``); the
same holds for calm wind. A stuck tipping-bucket gauge reporting zero through a rainstorm
is found by the buddy check, not by persistence.

Parallelism: the time-series tests run per station through one
``xr.apply_ufunc(dask="parallelized")`` (core dim ``time``), the buddy check per time step
through another (core dim ``station``); station neighbours are found once with a haversine
ball tree. On dask input the flags are persisted once to count them for ``qc_summary``.

Thresholds, their units and their sources are in :mod:`ingest.qc.config`.
"""

from ingest.qc._run import (
    QC_FLAG_MASKS,
    QC_FLAG_MEANINGS,
    failed_qc,
    quality_control,
    usable_observations,
)
from ingest.qc.config import BuddyCheck, PersistenceCheck, QcConfig, VariableLimits, VariableQc

__all__ = [
    "QC_FLAG_MASKS",
    "QC_FLAG_MEANINGS",
    "BuddyCheck",
    "PersistenceCheck",
    "QcConfig",
    "VariableLimits",
    "VariableQc",
    "failed_qc",
    "quality_control",
    "usable_observations",
]
