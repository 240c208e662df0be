"""Typhoon hazard: parametric wind profiles and wind averaging-period conversion.

:mod:`~hazard_models.typhoon.profiles` holds the axisymmetric profiles (Holland 1980, 2008,
2010; Willoughby et al. 2006) behind ``get_profile(name)``, the radius of maximum wind
estimated from pressure, the gradient-to-surface reduction and the motion asymmetry.
:mod:`~hazard_models.typhoon.wind_conversion` converts between 1-, 2-, 3- and 10-min winds
and gives gust factors (WMO/TD-No. 1555).
"""

from hazard_models.typhoon.profiles import (
    StormState,
    WindProfile,
    available_profiles,
    get_profile,
    gradient_to_surface,
    radius_of_maximum_wind,
    translation_asymmetry,
)
from hazard_models.typhoon.wind_conversion import (
    conversion_factor,
    convert_averaging_period,
    convert_dataarray,
    gust_factor,
)

__all__ = [
    "StormState",
    "WindProfile",
    "available_profiles",
    "conversion_factor",
    "convert_averaging_period",
    "convert_dataarray",
    "get_profile",
    "gradient_to_surface",
    "gust_factor",
    "radius_of_maximum_wind",
    "translation_asymmetry",
]
