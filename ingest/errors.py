"""Exceptions raised while bringing data into yujing.

Every package of yujing has an ``errors.py``; they share one root so that the command
line can report any of them the same way::

    YujingError                      root of everything yujing raises on purpose
    ├── DataError                    an input (file, feed, dataset) is wrong
    │   ├── SourceError              a source cannot be read: names the source, path/URL, field
    │   ├── ContractError            a dataset breaks its contract: names the variable and fix
    │   └── LookAheadError           data later than the issue time reached a model
    └── (hazard_models.errors, yujing.errors derive from the classes above)

A message always says what was wrong and what to do about it, e.g.
``station 59493: tas=412.0 degC is outside [-60, 60]; check the feed's units``.
"""

from __future__ import annotations

__all__ = ["ContractError", "DataError", "LookAheadError", "SourceError", "YujingError"]


class YujingError(Exception):
    """Root of every error yujing raises on purpose."""


class DataError(YujingError):
    """An input file, feed or dataset is wrong."""


class SourceError(DataError):
    """A source cannot be read.

    Parameters
    ----------
    source
        Name of the source (configured name or reader name).
    location
        Path or URL that was read.
    problem
        What was wrong, naming the field where there is one.
    fix
        What the user can do about it.
    """

    def __init__(self, source: str, location: str, problem: str, fix: str) -> None:
        self.source = source
        self.location = location
        self.problem = problem
        self.fix = fix
        super().__init__(f"source {source!r} ({location}): {problem}; {fix}")


class ContractError(DataError):
    """A dataset does not follow its data contract.

    Parameters
    ----------
    contract
        Name of the contract (``station observations``, ``gridded field`` ...).
    variable
        The variable, coordinate or attribute at fault.
    problem
        What was wrong.
    fix
        What to do about it.
    """

    def __init__(self, contract: str, variable: str, problem: str, fix: str) -> None:
        self.contract = contract
        self.variable = variable
        self.problem = problem
        self.fix = fix
        super().__init__(f"{contract}: {variable!r} {problem}; {fix}")


class LookAheadError(DataError):
    """A model was handed data valid after its issue time."""
