"""The mobile pages' one blueprint; view modules attach their routes to it at import time."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mobile", __name__, template_folder="templates", static_folder="static",
               static_url_path="/m/static")
