"""Open311 GeoReport v2: the routes (routes.py) and the documents they answer (documents.py)."""

from services.intake.adapters.open311.documents import ITEMS, error_response
from services.intake.adapters.open311.routes import router

__all__ = ["ITEMS", "error_response", "router"]
