"""MedHaven: an open trusted research environment for medical AI.

Hospitals keep de-identified OMOP CDM data at home; approved computations
travel to it. See ``docs/`` and the README for the tour.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medhaven")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
