"""The console's one blueprint; view modules attach their routes to it at import time."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
