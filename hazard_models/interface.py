"""The hazard-model interface and its registry.

A hazard model declares its inputs (by contract and variable), its options (a pydantic
model) and a version, and implements :meth:`HazardModel.compute`. :meth:`HazardModel.run`
is the same for every model: it checks the inputs against their contracts and for
look-ahead, leaves out the station reports that failed quality control
(:func:`ingest.qc.failed_qc`: missing, never zero), calls ``compute``, adds the risk level
(:mod:`hazard_models.risk`), records provenance and validates the hazard-result contract.

>>> from hazard_models import available_models
>>> "rainstorm-observed" in available_models()
True
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import xarray as xr
from pydantic import BaseModel, ConfigDict

from hazard_models.config import RiskConfig, SignalScheme
from hazard_models.errors import ModelError
from hazard_models.region import Region
from hazard_models.risk import assess_risk
from ingest.contracts import (
    assert_no_lookahead,
    validate_gridded_field,
    validate_hazard_result,
    validate_station_obs,
    validate_tc_track,
)
from ingest.qc import failed_qc

__all__ = [
    "HazardModel",
    "InputSpec",
    "ModelOptions",
    "available_models",
    "get_model",
    "register_model",
]


class ModelOptions(BaseModel):
    """Base of every model's options: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def scheme_problems(self, scheme: SignalScheme) -> list[str]:
        """What in these options does not fit ``scheme`` (``"warn_probability: …"``), for
        options that name its levels; checked when the configuration is loaded and when
        the model is built."""
        return []


@dataclass(frozen=True)
class InputSpec:
    """An input a model declares: which contracts it accepts and which variables it needs."""

    contracts: tuple[str, ...]
    variables: tuple[str, ...]
    description: str
    optional: bool = False


_VALIDATORS = {
    "station observations": validate_station_obs,
    "gridded field": validate_gridded_field,
    "tropical cyclone track": validate_tc_track,
}


def input_contract(dataset: xr.Dataset) -> str:
    """Which contract ``dataset`` claims: station observations, tropical cyclone track or
    gridded field."""
    if "station" in dataset.dims:
        return "station observations"
    if "psl_min" in dataset.variables:
        return "tropical cyclone track"
    return "gridded field"


class HazardModel(ABC):
    """A registered hazard model.

    Parameters
    ----------
    scheme
        The signal scheme whose criteria the model evaluates.
    options
        Model options as written in configuration; validated against :attr:`Options`.
    risk
        How hazard levels and community vulnerability combine into risk levels.
    """

    name: ClassVar[str]
    hazard: ClassVar[str]
    version: ClassVar[str]
    inputs: ClassVar[Mapping[str, InputSpec]]
    Options: ClassVar[type[ModelOptions]] = ModelOptions

    def __init__(
        self,
        scheme: SignalScheme,
        options: Mapping[str, Any] | None = None,
        risk: RiskConfig | None = None,
    ) -> None:
        if scheme.hazard != self.hazard:
            raise ModelError(
                f"model {self.name!r} is for {self.hazard!r} but the scheme is for "
                f"{scheme.hazard!r}; choose a {self.hazard} scheme"
            )
        self.scheme = scheme
        self.options = self.Options.model_validate(dict(options or {}))
        problems = self.options.scheme_problems(scheme)
        if problems:
            raise ModelError(f"model {self.name!r}: options " + "; ".join(problems))
        self.risk = risk

    def _check_inputs(self, inputs: Mapping[str, xr.Dataset], issue_time: datetime) -> None:
        for name, spec in self.inputs.items():
            if name not in inputs and spec.optional:
                continue
            if name not in inputs:
                raise ModelError(
                    f"model {self.name!r} needs input {name!r} ({spec.description}); "
                    f"map it to a source under hazards.<name>.inputs"
                )
            dataset = inputs[name]
            contract = input_contract(dataset)
            if contract not in spec.contracts:
                raise ModelError(
                    f"model {self.name!r}: input {name!r} is a {contract}, expected one of "
                    f"{list(spec.contracts)}"
                )
            _VALIDATORS[contract](dataset)
            for variable in spec.variables:
                if variable not in dataset.data_vars:
                    raise ModelError(f"model {self.name!r}: input {name!r} lacks {variable!r}")
            assert_no_lookahead(dataset, issue_time, source=f"{self.name} input {name!r}")

    def run(
        self, inputs: Mapping[str, xr.Dataset], region: Region, issue_time: datetime
    ) -> xr.Dataset:
        """Run the model for ``issue_time`` and return a validated hazard result."""
        if issue_time.tzinfo is None:
            raise ModelError("issue_time has no timezone; pass an aware UTC datetime")
        issue_time = issue_time.astimezone(UTC)
        self._check_inputs(inputs, issue_time)
        usable, excluded = usable_inputs(inputs)
        result = self.compute(usable, region, issue_time).compute()
        result = assess_risk(result, region.communities, self.risk, self.hazard)
        result.attrs.update(
            hazard=self.hazard,
            model=self.name,
            model_version=self.version,
            scheme_source=self.scheme.source,
            issue_time=issue_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            region=region.name,
            inputs="; ".join(
                f"{name}: {inputs[name].attrs.get('source', inputs[name].attrs.get('title', '?'))}"
                for name in self.inputs
                if name in inputs
            ),
            Conventions="CF-1.10",
        )
        if excluded:
            result.attrs["excluded_reports"] = "; ".join(excluded)
        return validate_hazard_result(result)

    @abstractmethod
    def compute(
        self, inputs: Mapping[str, xr.Dataset], region: Region, issue_time: datetime
    ) -> xr.Dataset:
        """The model itself: inputs checked, times up to ``issue_time`` only."""


def usable_inputs(
    inputs: Mapping[str, xr.Dataset],
) -> tuple[dict[str, xr.Dataset], list[str]]:
    """The inputs with every station report that failed quality control set missing, and a
    line per input variable that lost reports (``"pr of input 'pr': 1 of 270 reports
    failed QC"``).

    QC sets flags and never changes a value (:mod:`ingest.qc`; ingest and the live cycle
    both run it), so this is where an impossible gauge reading stops: a model must not
    warn on it, and missing is not dry (the windows' coverage drops instead). The source's
    own flags are the reader's business: it sets NaN where the source gave no value, and a
    value it keeps under another flag (HKO's ``not_listed`` district: a dry hour) is a
    value. Gridded fields and tracks are passed through.
    """
    usable: dict[str, xr.Dataset] = {}
    excluded: list[str] = []
    for name, dataset in inputs.items():
        checked = [v for v in dataset.data_vars if f"{v}_qc" in dataset.data_vars]
        if "station" not in dataset.dims or not checked:
            usable[name] = dataset
            continue
        masked = dataset.copy()
        for variable in checked:
            values = dataset[variable]
            failed = failed_qc(dataset, str(variable)) & values.notnull()
            left_out = int(failed.sum())
            if left_out:
                masked[variable] = values.where(~failed)
                excluded.append(
                    f"{variable} of input {name!r}: {left_out} of "
                    f"{int(values.notnull().sum())} reports failed QC"
                )
        usable[name] = masked
    return usable, excluded


_MODELS: dict[str, type[HazardModel]] = {}


def register_model(cls: type[HazardModel]) -> type[HazardModel]:
    """Class decorator adding a model to the registry under ``cls.name``."""
    if cls.name in _MODELS:
        raise ValueError(f"hazard model {cls.name!r} is registered twice")
    _MODELS[cls.name] = cls
    return cls


def _load_builtin() -> None:
    from hazard_models.heatwave import model as _heatwave  # noqa: F401
    from hazard_models.rainstorm import nowcast, observed  # noqa: F401
    from hazard_models.typhoon import analysis, model  # noqa: F401
    from hazard_models.waterlogging import model as _waterlogging  # noqa: F401


def available_models() -> list[str]:
    """Names of all registered hazard models, sorted."""
    _load_builtin()
    return sorted(_MODELS)


def get_model(name: str) -> type[HazardModel]:
    """Return the model class registered as ``name``.

    Raises
    ------
    ValueError
        If no model has that name; the message lists the ones that exist.
    """
    _load_builtin()
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown hazard model {name!r}; available models: {', '.join(sorted(_MODELS))}"
        ) from None
