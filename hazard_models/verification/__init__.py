"""yujing.hazard_models.verification: how good were the forecasts and the warnings.

Shared by every hazard. Pure functions on numpy arrays, DataArrays (dask-safe where the
result is an array) and pandas tables:

- :mod:`~hazard_models.verification.categorical` — yes/no contingency table and scores
  (POD, FAR, CSI, bias, HSS, ETS, ...).
- :mod:`~hazard_models.verification.spatial` — fractions skill score (Roberts & Lean 2008).
- :mod:`~hazard_models.verification.probabilistic` — Brier score and skill, reliability
  table, Murphy's decomposition.
- :mod:`~hazard_models.verification.lead_time` — event-based warning verification: lead
  time per area and level as defined in ``DESIGN.md``, POD/FAR/CSI of warnings, and our
  issue times against an agency's.
"""

from hazard_models.verification.categorical import (
    ContingencyTable,
    contingency_from_threshold,
    contingency_table,
)
from hazard_models.verification.lead_time import (
    compare_issue_times,
    lead_time_summary,
    warning_lead_times,
)
from hazard_models.verification.probabilistic import (
    BrierDecomposition,
    brier_decomposition,
    brier_score,
    brier_skill_score,
    reliability_table,
)
from hazard_models.verification.spatial import (
    fractions_skill_score,
    fractions_skill_score_by_lead_time,
    fractions_skill_score_target,
)

__all__ = [
    "BrierDecomposition",
    "ContingencyTable",
    "brier_decomposition",
    "brier_score",
    "brier_skill_score",
    "compare_issue_times",
    "contingency_from_threshold",
    "contingency_table",
    "fractions_skill_score",
    "fractions_skill_score_by_lead_time",
    "fractions_skill_score_target",
    "lead_time_summary",
    "reliability_table",
    "warning_lead_times",
]
