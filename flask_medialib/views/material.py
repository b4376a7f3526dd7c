"""Material library API (placeholder until the material issue lands)."""

from flask import Blueprint

bp = Blueprint("medialib_material", __name__)
