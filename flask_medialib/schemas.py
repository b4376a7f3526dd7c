"""marshmallow schemas of request parameters and response bodies.

Views load every query string and body through one of these, so a bad value
gets a 400 that names the field; the OpenAPI document is generated from them.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from .errors import HTTPError


def load(schema: Schema, data: Any) -> dict[str, Any]:
    try:
        return schema.load(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise HTTPError(describe(exc.messages), status=400, code="InvalidParameter") from None


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


class TokenAuthQuery(QuerySchema):
    access_token = fields.String(load_default=None, metadata={"description": "An access token."})
    user_id = fields.String(
        load_default=None,
        validate=validate.Length(1, 255),
        metadata={"description": "Act as this user; only with an admin token issued without a user."},
    )


class IssueTokenQuery(QuerySchema):
    library_id = fields.String(required=True)
    library_secret = fields.String(required=True)
    space_id = fields.String(load_default=None)
    user_id = fields.String(load_default=None, validate=validate.Length(1, 255))
    grant = fields.String(load_default=None, metadata={"description": "Comma-separated grants, e.g. admin"})
    period = fields.Integer(load_default=None, strict=False, metadata={"description": "Lifetime in seconds."})


class TokenResponse(Schema):
    accessToken = fields.String()
    expiresIn = fields.Integer()


class CreateSpaceQuery(TokenAuthQuery):
    space_id = fields.String(load_default=None)
    public_read = fields.Boolean(load_default=False)


class SpaceSchema(Schema):
    spaceId = fields.String()
    isPublicRead = fields.Boolean()
    creationTime = fields.String()


class SpaceCreated(Schema):
    spaceId = fields.String()


class DirectoryEntry(Schema):
    name = fields.String()
    type = fields.String(metadata={"description": "dir, image or video"})
    creationTime = fields.String()
    mediaId = fields.Integer()
    size = fields.Integer()
    width = fields.Integer()
    height = fields.Integer()


class DirectoryListing(Schema):
    path = fields.List(fields.String())
    contents = fields.List(fields.Nested(DirectoryEntry))


class FileInfo(Schema):
    path = fields.List(fields.String())
    name = fields.String()
    mediaId = fields.Integer()
    type = fields.String()
    size = fields.Integer()
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    duration = fields.Float(allow_none=True)
    creationTime = fields.String()


class SmhError(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    requestId = fields.String(required=True)
