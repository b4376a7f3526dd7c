"""Media decoding, face detection and cover cropping, free of Flask.

Nothing here imports TensorFlow until a RetinaFace detection actually runs.
"""

from flask_medialib.imaging.crop import encode_image, plan_as_dict, plan_crop, render_cover
from flask_medialib.imaging.decode import first_video_frame, load_image, load_media_image
from flask_medialib.imaging.faces import (
    Face,
    FaceDetector,
    NullDetector,
    RetinaFaceDetector,
    check_installed,
    load_detector,
    tensorflow_imported,
)
from flask_medialib.imaging.probe import DEFAULT_MAX_PIXELS, MediaInfo, probe_media

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "Face",
    "FaceDetector",
    "MediaInfo",
    "NullDetector",
    "RetinaFaceDetector",
    "check_installed",
    "encode_image",
    "first_video_frame",
    "load_detector",
    "load_image",
    "load_media_image",
    "plan_as_dict",
    "plan_crop",
    "probe_media",
    "render_cover",
    "tensorflow_imported",
]
