"""Typhoon hazard: forecast-track wind fields, signal probabilities and arrival times.

One module per concern, in the order a cycle uses them:

=====================  =====================================================================
module                 what it holds
=====================  =====================================================================
``cliper``             baseline track forecaster (persistence + climatology) for replays
``cliper_fit``         its regressions fitted on the JMA best tracks of earlier seasons
``track``              storm parameters per fix from any agency's track, hourly
``ensemble``           perturbed members around a forecast (position, intensity, size)
``profiles``           Holland 1980/2008/2010 and Willoughby 2006 profiles (``get_profile``)
``structure``          radius of maximum wind from pressure, surface reduction, motion asymmetry
``windfield``          the wind at any points, one dask-parallel kernel
``exposure``           land fraction from a DEM; roughness and gust factors
``wind_conversion``    1-, 2-, 3-, 10-min means and gust factors (WMO/TD-No. 1555)
``model``              the registered ``typhoon-ensemble`` hazard model
``analysis``           ``typhoon-analysis``: the best track's own wind field (replay truth)
=====================  =====================================================================
"""

from hazard_models.typhoon.cliper import CliperModel, cliper_forecast
from hazard_models.typhoon.cliper_fit import fit_cliper, training_tracks
from hazard_models.typhoon.ensemble import TrackErrors, perturb_parameters
from hazard_models.typhoon.exposure import land_fraction, roughness_factor
from hazard_models.typhoon.profiles import (
    StormState,
    WindProfile,
    available_profiles,
    get_profile,
)
from hazard_models.typhoon.structure import (
    gradient_to_surface,
    radius_of_maximum_wind,
    translation_asymmetry,
)
from hazard_models.typhoon.track import interpolate_parameters, storm_parameters
from hazard_models.typhoon.wind_conversion import (
    conversion_factor,
    convert_averaging_period,
    convert_dataarray,
    gust_factor,
)
from hazard_models.typhoon.windfield import storm_distance, surface_wind

__all__ = [
    "CliperModel",
    "StormState",
    "TrackErrors",
    "WindProfile",
    "available_profiles",
    "cliper_forecast",
    "conversion_factor",
    "convert_averaging_period",
    "convert_dataarray",
    "fit_cliper",
    "get_profile",
    "gradient_to_surface",
    "gust_factor",
    "interpolate_parameters",
    "land_fraction",
    "perturb_parameters",
    "radius_of_maximum_wind",
    "roughness_factor",
    "storm_distance",
    "storm_parameters",
    "surface_wind",
    "training_tracks",
    "translation_asymmetry",
]
