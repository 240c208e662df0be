"""yujing.hazard_models: the region, community layer, hazard models and risk.

One subpackage per hazard; every model is registered and chosen by name from configuration
(:func:`get_model`). Maths lives in pure, dask-safe functions; models declare inputs and
levels; nothing here imports Airflow.
"""

from hazard_models.interface import (
    HazardModel,
    InputSpec,
    ModelOptions,
    available_models,
    get_model,
    register_model,
)

__all__ = [
    "HazardModel",
    "InputSpec",
    "ModelOptions",
    "available_models",
    "get_model",
    "register_model",
]
