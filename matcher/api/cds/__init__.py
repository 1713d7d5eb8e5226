"""CDS Hooks 2.0: the patient-view service trialmatch-nct07161193, its discovery, cards, feedback and patient page."""

from matcher.api.cds.routes import HOOK, SERVICE_ID, cds_router

__all__ = ["HOOK", "SERVICE_ID", "cds_router"]
