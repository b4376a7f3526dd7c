"""flask-medialib: a media library for Flask apps (albums, smart covers, materials)."""

from .errors import MediaLibError
from .extension import MediaLib
from .state import get_state

__version__ = "0.1.0"

__all__ = ["MediaLib", "MediaLibError", "__version__", "get_state"]
