"""Kubernetes ``Status`` bodies and the exception that carries them out of the handlers."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


class ApiError(Exception):
    """An API failure: ``code`` is the HTTP status, ``body`` the ``Status`` object sent to the client."""

    def __init__(self, body: Json) -> None:
        super().__init__(body.get("message", ""))
        self.body = body
        self.code = int(body["code"])


def failure(code: int, reason: str, message: str, details: Json | None = None) -> Json:
    body: Json = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def _details(resource: str, group: str, name: str | None) -> Json:
    details: Json = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = resource
    return details


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        failure(
            404,
            "NotFound",
            f'{qualified(resource, group)} "{name}" not found',
            _details(resource, group, name),
        )
    )


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        failure(
            409,
            "AlreadyExists",
            f'{qualified(resource, group)} "{name}" already exists',
            _details(resource, group, name),
        )
    )


def conflict(resource: str, name: str, group: str = "") -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": '
        "the object has been modified; please apply your changes to the latest version and try again"
    )
    return ApiError(failure(409, "Conflict", message, _details(resource, group, name)))


def bad_request(message: str) -> ApiError:
    return ApiError(failure(400, "BadRequest", message))


def unauthorized() -> ApiError:
    return ApiError(failure(401, "Unauthorized", "Unauthorized"))


def forbidden(resource: str, group: str, name: str | None, reason_text: str) -> ApiError:
    what = qualified(resource.split("/")[0], group)
    subject = f'{what} "{name}"' if name else what
    return ApiError(
        failure(
            403,
            "Forbidden",
            f"{subject} is forbidden: {reason_text}",
            _details(resource.split("/")[0], group, name),
        )
    )


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(failure(405, "MethodNotAllowed", message, {}))


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        failure(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"application/json-patch+json, application/merge-patch+json, "
            f"application/strategic-merge-patch+json (got {content_type!r})",
        )
    )


def gone(message: str) -> ApiError:
    return ApiError(failure(410, "Expired", message))


def internal_error(message: str) -> ApiError:
    return ApiError(
        failure(
            500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]}
        )
    )


def invalid(kind: str, group: str, name: str, causes: list[Json]) -> ApiError:
    """422 Invalid; ``causes`` are ``{reason, message, field}`` and render as ``field: message``."""
    rendered = [f"{c['field']}: {c['message']}" for c in causes]
    text = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    qualified_kind = f"{kind}.{group}" if group else kind
    details: Json = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = causes
    return ApiError(failure(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {text}', details))


def success(details: Json | None = None, code: int = 200, message: str | None = None) -> Json:
    body: Json = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if message is not None:
        body["message"] = message
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body
