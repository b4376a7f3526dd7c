"""marshmallow schemas of request parameters and response bodies.

Views load every query string and body through one of these, so a bad value
gets a 400 that names the field; the OpenAPI document is generated from them.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from .errors import HTTPError

# -- limits checked before any work ----------------------------------------------

# Material bodies are two levels deep; anything much deeper is hostile (100,000 nested
# ``[`` once raised RecursionError inside the JSON parser).
MAX_JSON_DEPTH = 32
# Longest object key in a JSON body (every key we read is a short field name).
MAX_KEY_LENGTH = 255
# Most tag ids one ``list`` may filter by: each is one LIKE in the query (SQLite refuses
# an expression tree deeper than 1000).
MAX_TAG_IDS = 100
_TOO_DEEP = "the JSON body is nested more than {} levels deep"
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
_RELEVANT = np.zeros(256, dtype=bool)
_RELEVANT[list(b'[]{}",')] = True
_QUOTE = ord('"')
_COMMA = ord(",")
_BLANK = re.compile(rb"[ \t\n\r]*")  # JSON's whitespace
_DEPTH_CHUNK = 1 << 22


def json_outline(data: bytes, limit: int | None = None) -> tuple[int, int]:
    """How deeply the JSON text ``data`` nests, and how many items its top-level array holds, in linear time.

    Escapes go first (left to right, as JSON reads them: ``\\\\`` then ``\\"``), so
    every quote left opens or closes a string; brackets outside strings step
    the depth up or down, and commas at depth 1 separate the top-level items,
    vectorised over chunks. Returns early, with a depth above ``limit``, once
    the depth exceeds it. The item count is 0 unless the text is an array. On
    malformed text both are exact up to the first error, where the parser stops anyway.
    """
    # Positions, not slices: a slice of a 64 MiB body would copy it.
    first = _past_blanks(data, 0)
    array = data[first : first + 1] == b"["
    text = np.frombuffer(data.replace(b"\\\\", b"").replace(b'\\"', b""), dtype=np.uint8)
    depth = deepest = inside = commas = 0
    for start in range(0, len(text), _DEPTH_CHUNK):
        chunk = text[start : start + _DEPTH_CHUNK]
        chunk = chunk[_RELEVANT[chunk]]  # quotes, brackets and commas only
        if not len(chunk):
            continue
        outside = ((np.cumsum(chunk == _QUOTE, dtype=np.int64) + inside) & 1) == 0
        running = np.cumsum(_STEP[chunk] * outside, dtype=np.int64) + depth
        deepest = max(deepest, int(running.max()))
        if limit is not None and deepest > limit:
            break
        if array:
            commas += int(np.count_nonzero((chunk == _COMMA) & outside & (running == 1)))
        depth, inside = int(running[-1]), int(not outside[-1])
    after = _past_blanks(data, first + 1)
    empty = not array or data[after : after + 1] == b"]"
    return deepest, 0 if empty else commas + 1


def _past_blanks(data: bytes, at: int) -> int:
    """The index of the first byte at or after ``at`` that is not JSON whitespace."""
    found = _BLANK.match(data, at)
    return found.end() if found else at


def json_depth(data: bytes, limit: int | None = None) -> int:
    """How deeply the arrays and objects of the JSON text ``data`` nest (see :func:`json_outline`)."""
    return json_outline(data, limit)[0]


def parse_json(data: bytes, *, max_items: int | None = None) -> Any:
    """A request body as JSON, checked before anything reads its values.

    400: not JSON, nested too deeply, or text a database cannot store (a lone
    surrogate, NUL) outside a batch item; 422 naming the item when it is in one;
    413 when a top-level array holds more than ``max_items`` items (counted
    before parsing, so millions of tiny items cost no memory).
    """
    depth, items = json_outline(data, MAX_JSON_DEPTH)
    if depth > MAX_JSON_DEPTH:
        raise HTTPError(_TOO_DEEP.format(MAX_JSON_DEPTH), status=400, code="InvalidParameter")
    if max_items is not None and items > max_items:
        raise HTTPError(
            f"{items} items in one request; at most {max_items} (MEDIALIB_MATERIAL_MAX_ITEMS): split the batch",
            status=413,
            code="TooManyItems",
        )
    try:
        value = json.loads(data)
    except RecursionError:  # cannot happen after the check above; a second line of defence
        raise HTTPError(_TOO_DEEP.format(MAX_JSON_DEPTH), status=400, code="InvalidParameter") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise HTTPError(
            f"the body must be JSON (Content-Type: application/json): {exc}"[:300], status=400, code="InvalidParameter"
        ) from None
    found = _bad_text(value, [])
    if found is not None:
        place, problem = found
        if place and isinstance(place[0], int):  # an item of a batch: 422 naming it, like other bad items
            field = ".".join(str(p) for p in place[1:])
            raise HTTPError(
                f"item {place[0]}: {field + ': ' if field else ''}{problem}",
                status=422,
                code="InvalidParameter",
                extra={"badIndexes": [place[0]]},
            )
        where = ".".join(str(p) for p in place) or "the body"
        raise HTTPError(f"{where}: {problem}", status=400, code="InvalidParameter")
    return value


_SURROGATE = re.compile("[\\ud800-\\udfff]")


def _text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (PostgreSQL refuses NUL, no database encodes lone surrogates)."""
    if "\x00" in text:
        return "holds a NUL character (\\u0000)"
    if not text.isascii():
        found = _SURROGATE.search(text)
        if found:
            return f"holds a lone surrogate (\\u{ord(found.group()):04x}); send valid Unicode text"
    return None


def _bad_text(value: Any, place: list[str | int]) -> tuple[list[str | int], str] | None:
    """The place and problem of the first string or key of ``value`` that cannot be stored."""
    if isinstance(value, str):
        problem = _text_problem(value)
        return (place, problem) if problem else None
    if isinstance(value, list):
        for index, inner in enumerate(value):
            found = _bad_text(inner, [*place, index])
            if found:
                return found
    elif isinstance(value, dict):
        for key, inner in value.items():
            if len(key) > MAX_KEY_LENGTH:
                return place, f"a key is longer than {MAX_KEY_LENGTH} characters"
            problem = _text_problem(key)
            if problem:
                return place, f"a key {problem}"
            found = _bad_text(inner, [*place, key])
            if found:
                return found
    return None


def _short(value: Any) -> str:
    """``repr(value)`` cut to a length an error message can echo."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# Ids, page numbers and times: ASCII digits only (str.isdigit() and int() take other scripts'
# digits, superscripts, '_' and spaces; "1\u00b3" passed one and failed the other: a 500).
_ASCII_ID = re.compile(r"[0-9]{1,19}")
_ASCII_INT = re.compile(r"-?[0-9]{1,19}")


class StrictInteger(fields.Integer):
    """An integer from JSON or a query string; a string must be ASCII digits with an optional '-'."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, str) and not _ASCII_INT.fullmatch(value)):
            raise self.make_error("invalid")
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._validated(value)


def load(schema: Schema, data: Any) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise HTTPError(describe(exc.messages), status=400, code="ParamInvalid") from None


def describe(messages: Any, prefix: str = "") -> str:
    """Flatten marshmallow's nested messages into 'field: message; ...'."""
    if isinstance(messages, dict):
        parts = [describe(v, f"{prefix}{k}." if prefix or k != "_schema" else "") for k, v in messages.items()]
        return "; ".join(p for p in parts if p)
    if isinstance(messages, list):
        text = " ".join(str(m) for m in messages if not isinstance(m, dict | list))
        nested = [describe(m, prefix) for m in messages if isinstance(m, dict | list)]
        head = f"{prefix.rstrip('.')}: {text}" if prefix and text else text
        return "; ".join(p for p in [head, *nested] if p)
    return f"{prefix.rstrip('.')}: {messages}" if prefix else str(messages)


class QuerySchema(Schema):
    """Query strings: unknown keys are ignored (cache busters, tracking tags)."""

    class Meta:
        unknown = EXCLUDE


class Flag(fields.String):
    """An SMH query flag: the key's presence sets it (``?info``, ``?info=1``); ``0``/``false`` clear it."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:  # type: ignore[override]
        return str(value).strip().lower() not in ("0", "false")


def _flag(description: str, data_key: str | None = None) -> Flag:
    return Flag(load_default=False, data_key=data_key, metadata={"description": description})


class TokenAuthQuery(QuerySchema):
    access_token = fields.String(load_default=None, metadata={"description": "An access token."})
    user_id = fields.String(
        load_default=None,
        validate=validate.Length(1, 255),
        metadata={"description": "Act as this user; only with an admin token issued without a user."},
    )


class SmhAuthQuery(TokenAuthQuery):
    library_secret = fields.String(
        load_default=None, metadata={"description": "SMH's alternative credential: acts as an admin token."}
    )


# -- SMH tokens -----------------------------------------------------------------


class IssueTokenQuery(QuerySchema):
    library_id = fields.String(required=True)
    library_secret = fields.String(
        required=True,
        metadata={
            "description": "The library secret. It travels in the query string: the extension's logs and "
            "werkzeug's request log redact it, but keep it out of other access logs (see the deployment docs)."
        },
    )
    space_id = fields.String(
        load_default=None, metadata={"description": "Comma-separated spaces the token is bound to."}
    )
    user_id = fields.String(load_default=None, validate=validate.Length(1, 255))
    client_id = fields.String(load_default=None, validate=validate.Length(1, 255))
    session_id = fields.String(load_default=None, validate=validate.Length(1, 255))
    grant = fields.String(
        load_default=None, metadata={"description": "Comma-separated SMH grants, e.g. admin; none: read-only."}
    )
    period = StrictInteger(
        load_default=None,
        metadata={"description": "Lifetime in seconds, granted again on every use (sliding expiry)."},
    )


class TokenResponse(Schema):
    accessToken = fields.String()
    expiresIn = fields.Integer()


class DeleteUserTokensQuery(QuerySchema):
    library_secret = fields.String(required=True)
    user_id = fields.String(required=True, validate=validate.Length(1, 255))
    client_id = fields.String(load_default=None, metadata={"description": "Up to 100, comma-separated."})
    session_id = fields.String(load_default=None, metadata={"description": "Up to 100, comma-separated."})


# -- SMH spaces -----------------------------------------------------------------


class CreateSpaceQuery(SmhAuthQuery):
    space_id = fields.String(load_default=None)
    public_read = fields.Boolean(
        load_default=None, metadata={"description": "Extension: same as the body's isPublicRead."}
    )


class CreateSpaceBody(Schema):
    """SMH's ``CreateSpaceRequest``: ``isPublicRead`` is stored; the others are accepted and unused."""

    class Meta:
        unknown = EXCLUDE

    isPublicRead = fields.Boolean(load_default=False)
    isMultiAlbum = fields.Boolean(load_default=False)
    allowPhoto = fields.Boolean(load_default=False)
    allowVideo = fields.Boolean(load_default=False)
    allowPhotoExtname = fields.List(fields.String(), load_default=list)
    allowVideoExtname = fields.List(fields.String(), load_default=list)
    recognizeSensitiveContent = fields.Boolean(load_default=False)
    spaceTag = fields.Raw(load_default=None)


class SpaceListQuery(SmhAuthQuery):
    marker = fields.String(load_default=None)
    limit = StrictInteger(load_default=20, validate=validate.Range(1, 1000))
    ordered = _flag("Sort by spaceId (enables prefix and start_name).")
    prefix = fields.String(load_default=None)
    start_name = fields.String(load_default=None, metadata={"description": "List the spaces after this id."})


class DeleteSpaceQuery(SmhAuthQuery):
    force = _flag("Delete a space that is not empty.")


class SpaceSchema(Schema):
    spaceId = fields.String()
    userId = fields.String(allow_none=True)
    isPublicRead = fields.Boolean()
    creationTime = fields.String()


class SpaceList(Schema):
    list = fields.List(fields.Nested(SpaceSchema))
    marker = fields.String(metadata={"description": "Absent on the last page."})


class SpaceCreated(Schema):
    spaceId = fields.String()


# -- SMH directories (albums) -----------------------------------------------------


class CreateDirectoryQuery(SmhAuthQuery):
    conflict_resolution_strategy = fields.String(load_default="ask", metadata={"description": "ask or rename"})
    with_inode = _flag("Accepted; inodes are not reported.")


class DirectoryBody(Schema):
    """Create (``metaData`` ...) or, with ``from``, rename/move the album ``from`` to the path."""

    class Meta:
        unknown = EXCLUDE

    from_ = fields.String(data_key="from", load_default=None)
    metaData = fields.Dict(keys=fields.String(), values=fields.String(), load_default=None)
    labels = fields.List(fields.String(), load_default=None)
    localCreationTime = fields.String(load_default=None)
    localModificationTime = fields.String(load_default=None)


class ListDirectoryQuery(SmhAuthQuery):
    by_marker = _flag("Marker paging (limit, marker, nextMarker).", data_key="by-marker")
    by_page = _flag("Page paging (page, page_size, totalNum).", data_key="by-page")
    marker = fields.String(load_default=None)
    limit = StrictInteger(load_default=20, validate=validate.Range(1, 1000))
    page = StrictInteger(load_default=1, validate=validate.Range(1, 1_000_000))
    page_size = StrictInteger(load_default=20, validate=validate.Range(1, 1000))
    order_by = fields.String(load_default=None, metadata={"description": "name, creationTime, modificationTime, size"})
    order_by_type = fields.String(load_default=None, metadata={"description": "asc or desc"})
    filter = fields.String(load_default=None, metadata={"description": "onlyDir or onlyFile"})


class DirectoryEntry(Schema):
    name = fields.String()
    type = fields.String(metadata={"description": "dir, image or video"})
    creationTime = fields.String()
    modificationTime = fields.String()
    contentType = fields.String()
    size = fields.String(metadata={"description": "Bytes, as a string (SMH)."})
    eTag = fields.String()
    crc64 = fields.String(allow_none=True, metadata={"description": "CRC-64/XZ of the bytes, decimal."})
    metaData = fields.Dict(keys=fields.String(), values=fields.String())
    mediaId = fields.Integer(metadata={"description": "Extension: the media id."})
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)


class DirectoryListing(Schema):
    path = fields.List(fields.String())
    nextMarker = fields.String(metadata={"description": "by-marker: absent on the last page."})
    fileCount = fields.Integer()
    subDirCount = fields.Integer()
    totalNum = fields.Integer()
    contents = fields.List(fields.Nested(DirectoryEntry))


class AlbumCreated(Schema):
    path = fields.List(fields.String(), metadata={"description": "[AlbumName]"})
    creationTime = fields.String()


# -- SMH files --------------------------------------------------------------------


class FileQuery(SmhAuthQuery):
    info = _flag("Answer the file's information as JSON instead of a 302.")
    preview = _flag("302 to a preview image (face-aware square crop with size).")
    period = StrictInteger(
        load_default=None, validate=validate.Range(60, 7200), metadata={"description": "cosUrl lifetime"}
    )
    purpose = fields.String(load_default=None)
    content_disposition = fields.String(load_default=None)
    size = StrictInteger(load_default=None, validate=validate.Range(1, 100_000))
    scale = StrictInteger(load_default=None, validate=validate.Range(1, 100))
    width_size = StrictInteger(load_default=None, validate=validate.Range(1, 100_000))
    height_size = StrictInteger(load_default=None, validate=validate.Range(1, 100_000))
    frame_number = StrictInteger(load_default=None, validate=validate.Range(1, 100_000))


class DeleteFileQuery(SmhAuthQuery):
    permanent = _flag("Accepted: there is no recycle bin, every delete is permanent.")


class BeginUploadQuery(SmhAuthQuery):
    """``PUT ...?filesize`` (simple) or ``POST ...?multipart&filesize`` begins an SMH upload session."""

    filesize = StrictInteger(required=True, validate=validate.Range(0, 2**63 - 1), metadata={"description": "Bytes."})
    multipart = _flag("Multipart session: parts PUT to {path}?partNumber=n&uploadId=...")
    conflict_resolution_strategy = fields.String(
        load_default="rename", validate=validate.OneOf(["ask", "rename", "overwrite"])
    )
    traffic_limit = fields.String(load_default=None, metadata={"description": "Accepted, not applied."})
    internal_domain = fields.String(load_default=None, metadata={"description": "Accepted, not applied."})


class BeginUploadBody(Schema):
    """``SimpleUploadFileRequest``/``MultipartUploadFileRequest``: instant-upload hashes are accepted, unused."""

    class Meta:
        unknown = EXCLUDE

    beginningHash = fields.String(load_default=None)
    fullHash = fields.String(load_default=None)
    size = fields.String(load_default=None)
    labels = fields.List(fields.String(), load_default=None)
    category = fields.String(load_default=None)
    localCreationTime = fields.String(load_default=None)
    localModificationTime = fields.String(load_default=None)


class UploadSessionQuery(SmhAuthQuery):
    """``POST .../{confirmKey}?confirm`` or ``?renew``; ``DELETE .../{confirmKey}?upload``."""

    confirm = _flag("Confirm the upload (body {crc64}).")
    renew = _flag("Renew a multipart session.")
    upload = _flag("DELETE: abort the upload session.")
    conflict_resolution_strategy = fields.String(load_default=None)


class ConfirmUploadBody(Schema):
    class Meta:
        unknown = EXCLUDE

    crc64 = fields.String(load_default=None, validate=validate.Regexp(r"[0-9]{1,20}"))
    labels = fields.List(fields.String(), load_default=None)
    category = fields.String(load_default=None)
    localCreationTime = fields.String(load_default=None)
    localModificationTime = fields.String(load_default=None)


class UploadPartQuery(QuerySchema):
    partNumber = StrictInteger(load_default=None, validate=validate.Range(1, 10_000))
    uploadId = fields.String(load_default=None, validate=validate.Length(1, 64))


class UploadTarget(Schema):
    domain = fields.String()
    path = fields.String()
    uploadId = fields.String()
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    confirmKey = fields.String()
    expiration = fields.String()


class FileInfo(Schema):
    path = fields.List(fields.String())
    name = fields.String()
    type = fields.String()
    creationTime = fields.String()
    modificationTime = fields.String()
    contentType = fields.String()
    size = fields.String(metadata={"description": "Bytes, as a string (SMH)."})
    eTag = fields.String()
    crc64 = fields.String(allow_none=True)
    metaData = fields.Dict(keys=fields.String(), values=fields.String())
    cosUrl = fields.String(metadata={"description": "info=1: a signed URL of the bytes."})
    mediaId = fields.Integer(metadata={"description": "Extension: the media id."})
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    duration = fields.Float(allow_none=True)


class SmhError(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    requestId = fields.String(required=True)


# -- material API (Eqxiu-style third-party material library) -----------------

_TAG_IDS = re.compile(r"[0-9]{1,18}(,[0-9]{1,18})*")
# A stored file of the caller's own space, by media id (ASCII digits only: no "\u0661").
MEDIA_REF = re.compile(r"media:([1-9][0-9]{0,18})")
_TIME_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def material_path(value: str, field: str = "path") -> str:
    """``path``: an http(s) URL or ``media:<id>``; ``tmbPath``: an http(s) URL. Raises ValidationError.

    Storage keys are never accepted: they would let a client name bytes it
    does not own (another library's file, staging files, folders).
    """
    if value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        if not parts.hostname or any(ch.isspace() for ch in value):
            raise ValidationError(f"{field} {value!r} is not a valid http(s) URL")
        return value
    if field == "path":
        found = MEDIA_REF.fullmatch(value)
        if found and int(found.group(1)) <= 2**63 - 1:
            return value
        raise ValidationError(
            "must be an http(s) URL or media:<id>, a stored file of this enterprise "
            "(the id is its mediaId or material id)"
        )
    raise ValidationError("must be an http(s) URL")


class IdList(fields.Field):
    """Ids as ``"1,2,3"`` (the API's form) or a JSON list of integers; duplicates keep the first.

    At most ``limit`` ids (default ``MEDIALIB_MATERIAL_MAX_ITEMS``) may be sent, duplicates
    included: more is a 413 found before any id is parsed. Parsing is linear.
    """

    def __init__(self, *, limit: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = limit

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[int]:
        limit = self.limit
        if limit is None:
            from .state import get_state

            limit = int(get_state().config["MEDIALIB_MATERIAL_MAX_ITEMS"])
        if isinstance(value, str):
            parts: list[Any] = []
            for match in _PARTS.finditer(value):  # stops at the limit: "1,1,1..." is never split whole
                part = match.group().strip()
                if part:
                    if len(parts) == limit:
                        raise too_many_ids(limit)
                    parts.append(part)
        elif isinstance(value, list):
            if len(value) > limit:
                raise too_many_ids(limit)
            parts = value
        else:
            raise ValidationError("must be comma-separated ids such as 1,2,3")
        ids: dict[int, None] = {}
        for part in parts:
            if isinstance(part, str) and _ASCII_ID.fullmatch(part):
                number = int(part)
            elif isinstance(part, int) and not isinstance(part, bool):
                number = part
            else:
                raise ValidationError(
                    f"{_short(part)} is not an id; use comma-separated positive integers (ASCII digits) such as 1,2,3"
                )
            if number < 1 or number > 2**63 - 1:
                raise ValidationError(f"{_short(number)} is not an id; ids are positive integers below 2**63")
            ids[number] = None
        if not ids:
            raise ValidationError("name at least one id, such as 1,2,3")
        return list(ids)


_PARTS = re.compile(r"[^,]+")


def too_many_ids(limit: int) -> HTTPError:
    return HTTPError(
        f"more than {limit} ids in one request; at most {limit} (MEDIALIB_MATERIAL_MAX_ITEMS): split the batch",
        status=413,
        code="TooManyItems",
    )


class MaterialAuthQuery(QuerySchema):
    token = fields.String(
        load_default=None, metadata={"description": "An access token bound to the enterprise (space)."}
    )
    openId = fields.String(
        required=True, validate=validate.Length(1, 255), metadata={"description": "The acting user."}
    )
    corpId = fields.String(
        load_default=None,
        metadata={"description": "The enterprise (space id); needed only with a library-wide admin token."},
    )


class MaterialItemIn(Schema):
    """One item of ``add``; unknown keys are refused so a typo never drops data silently."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(1, 255))
    bizType = StrictInteger(
        required=True,
        validate=validate.OneOf([2, 3]),
        metadata={"description": "2 enterprise, 3 employee (visible to its openId only)"},
    )
    type = StrictInteger(
        required=True,
        validate=validate.OneOf([1, 2, 3, 4]),
        metadata={"description": "1 image, 2 audio, 3 video, 4 text"},
    )
    uploadType = StrictInteger(load_default=0, validate=validate.Range(0, 3))
    path = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2048),
        metadata={"description": "An http(s) URL, or media:<id>: a stored file of this enterprise."},
    )
    tmbPath = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2048))
    width = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(0, 1_000_000))
    height = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(0, 1_000_000))
    size = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(0, 2**62))
    durationTime = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0, 10**9))
    createTime = fields.String(
        load_default=None, allow_none=True, metadata={"description": "YYYY-MM-DD HH:MM:SS in MEDIALIB_TIMEZONE"}
    )
    content = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=65_535))
    tagIds = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=1000),
        metadata={"description": "Comma-separated tag ids such as 1,2,3"},
    )
    keywords = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, str] = {}
        if not data["name"].strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in data["name"]):
            errors["name"] = "must not be blank or contain control characters"
        for key in ("path", "tmbPath"):
            if data.get(key):
                try:
                    material_path(data[key], key)
                except ValidationError as exc:
                    errors[key] = str(exc.messages[0])
        if data["type"] == 4 and not data.get("content"):
            errors["content"] = "is required for type 4 (text)"
        if data["type"] != 4 and not data.get("path"):
            errors["path"] = "is required for types 1 to 3 (image, audio, video)"
        if data.get("tagIds") is not None and not _TAG_IDS.fullmatch(data["tagIds"]):
            errors["tagIds"] = "must be comma-separated tag ids such as 1,2,3"
        if data.get("createTime") is not None and not _TIME_FORMAT.fullmatch(data["createTime"]):
            errors["createTime"] = "must look like 2024-05-01 13:45:00 (YYYY-MM-DD HH:MM:SS)"
        if errors:
            raise ValidationError(errors)


class MaterialRenameIn(Schema):
    class Meta:
        unknown = RAISE

    materialId = StrictInteger(required=True, validate=validate.Range(1, 2**63 - 1))
    name = fields.String(required=True, validate=validate.Length(1, 255))

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if not data["name"].strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in data["name"]):
            raise ValidationError({"name": "must not be blank or contain control characters"})


class MaterialDeleteIn(Schema):
    class Meta:
        unknown = RAISE

    materialIds = IdList(required=True, metadata={"description": "Comma-separated material ids, e.g. 1,2"})


class MaterialListQuery(MaterialAuthQuery):
    name = fields.String(
        load_default=None,
        validate=validate.Length(max=255),
        metadata={"description": "Substring of the name; % and _ match themselves."},
    )
    pageNo = StrictInteger(load_default=1, validate=validate.Range(1, 1_000_000))
    pageSize = StrictInteger(load_default=10, validate=validate.Range(1, 100))
    type = StrictInteger(load_default=None, validate=validate.OneOf([1, 2, 3, 4]))
    tagIds = fields.String(
        load_default=None,
        metadata={"description": f"Materials with any of these tag ids (at most {MAX_TAG_IDS})"},
    )
    bizType = StrictInteger(load_default=None, validate=validate.OneOf([2, 3]))
    startTime = StrictInteger(
        load_default=None,
        validate=validate.Range(0, 253_402_300_799_000),
        metadata={"description": "Epoch milliseconds; createTime at or after it"},
    )
    endTime = StrictInteger(
        load_default=None,
        validate=validate.Range(0, 253_402_300_799_000),
        metadata={"description": "Epoch milliseconds; createTime at or before it"},
    )

    @validates_schema
    def _check(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("tagIds") and data["tagIds"].count(",") >= MAX_TAG_IDS:
            raise ValidationError({"tagIds": f"names more than {MAX_TAG_IDS} tag ids; at most {MAX_TAG_IDS}"})
        if data.get("tagIds") is not None and not _TAG_IDS.fullmatch(data["tagIds"]):
            raise ValidationError({"tagIds": "must be comma-separated tag ids such as 1,2,3"})
        if (
            data.get("startTime") is not None
            and data.get("endTime") is not None
            and (data["startTime"] > data["endTime"])
        ):
            raise ValidationError({"endTime": "must not be before startTime"})


class MaterialIdsQuery(MaterialAuthQuery):
    materialIds = IdList(required=True, metadata={"description": "Comma-separated material ids, e.g. 1,2,3"})


class MaterialEventsQuery(MaterialAuthQuery):
    after = StrictInteger(
        load_default=0,
        validate=validate.Range(0, 2**63 - 1),
        metadata={"description": "Cursor: the last eventId the replica has applied."},
    )
    limit = StrictInteger(load_default=100, validate=validate.Range(1, 1000))


class MaterialItemOut(Schema):
    id = fields.Integer()
    name = fields.String()
    bizType = fields.Integer()
    type = fields.Integer()
    corpId = fields.String()
    uploadType = fields.Integer()
    path = fields.String(allow_none=True)
    tmbPath = fields.String(allow_none=True)
    height = fields.Integer(allow_none=True)
    width = fields.Integer(allow_none=True)
    size = fields.Integer(allow_none=True)
    durationTime = fields.Float(allow_none=True)
    keywords = fields.String(allow_none=True)
    status = fields.Integer()
    createUser = fields.String(allow_none=True)
    createTime = fields.String()
    updateUser = fields.String(allow_none=True)
    updateTime = fields.String()
    content = fields.String(allow_none=True)
    tagId = fields.String(allow_none=True)
    transcodePath = fields.String(allow_none=True)
    coverPath = fields.String(allow_none=True)


class MaterialEventOut(Schema):
    eventId = fields.Integer()
    eventType = fields.String(metadata={"description": "material_add, material_rename or material_delete"})
    corpId = fields.String()
    occurredAt = fields.String()
    data = fields.Dict()


class Envelope(Schema):
    """Every answer of the material API, errors included; ``code`` is a string, "200" on success."""

    success = fields.Boolean(required=True)
    code = fields.String(required=True)
    msg = fields.String(required=True)
    obj = fields.Raw(allow_none=True)
    map = fields.Dict(allow_none=True)
    list = fields.List(fields.Raw(), allow_none=True)


class MaterialEnvelope(Envelope):
    list = fields.List(fields.Nested(MaterialItemOut), allow_none=True)


class MaterialEventsEnvelope(Envelope):
    list = fields.List(fields.Nested(MaterialEventOut), allow_none=True)


def load_batch(schema: Schema, data: Any, *, what: str = "item", status: int = 422) -> list[dict[str, Any]]:
    """Load a JSON array of items; errors name the index and the field (at most five of them)."""
    if not isinstance(data, list):
        raise HTTPError(f"the body must be a JSON array of {what}s", status=400, code="InvalidParameter")
    try:
        return schema.load(data, many=True)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        bad = sorted((k for k in messages if isinstance(k, int)), key=int)
        parts = [f"{what} {index}: {describe(messages[index])}" for index in bad[:5]]
        if len(bad) > 5:
            parts.append(f"and {len(bad) - 5} more bad {what}s")
        raise HTTPError(
            "; ".join(parts) or describe(messages),
            status=status,
            code="InvalidParameter",
            extra={"badIndexes": bad[:100]},
        ) from None


# -- album covers -------------------------------------------------------------


class CoverQuery(TokenAuthQuery):
    size = StrictInteger(
        load_default=None,
        metadata={
            "description": "Side of the square cover in pixels, 1 to MEDIALIB_COVER_MAX_SIZE; "
            "without it the original image (a video's first frame)."
        },
    )

    @validates("size")
    def _size_in_range(self, value: int | None, **_kwargs: Any) -> None:
        from .state import get_state

        top = get_state().config["MEDIALIB_COVER_MAX_SIZE"]
        if value is not None and not 1 <= value <= top:
            raise ValidationError(f"must be an integer from 1 to {top}, not {value}")
