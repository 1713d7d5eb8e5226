"""trialmatch: eligibility of FHIR patients for NCT07161193 (anti-CD19 CAR-T in refractory autoimmune disease).

The top-level package exports its version only. The core is used through its modules, whose names are
those of their main function (`matcher.evaluate.evaluate`, `matcher.rank.rank`), so re-exporting the
function here would hide the module; the subpackages (`matcher.codes`, `matcher.criteria`, `matcher.fhir`,
`matcher.api`, `matcher.jobs`) each export their own surface.
"""

from importlib import metadata

try:
    __version__ = metadata.version("trialmatch")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
