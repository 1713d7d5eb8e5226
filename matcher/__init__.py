"""trialmatch: eligibility of FHIR patients for NCT07161193 (anti-CD19 CAR-T in refractory autoimmune disease)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trialmatch")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
