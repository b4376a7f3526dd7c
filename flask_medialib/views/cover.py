"""Album cover API (placeholder until the cover issue lands)."""

from .common import smh_blueprint

bp = smh_blueprint("medialib_cover", __name__)
