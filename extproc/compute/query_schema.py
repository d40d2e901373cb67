"""Nova's query-string schemas: which parameters an API accepts at a microversion, and Nova's 400 otherwise.

Nova validates a request's query (``req.GET.dict_of_lists()``: every name -> the list of its values) with a
JSON schema per API and microversion range (``nova/api/validation/__init__.py`` ``query_schema``). Before
2.75 unknown parameters are stripped and ignored (``additionalProperties: True``, or the legacy "soft"
check); from 2.75 most APIs refuse them, and from 2.102 every API does ("restrict additional query string
parameters for all APIs"). The message is Nova's: ``Invalid input for query parameters <name>. Value:
<value>. <reason>`` for a bad value, jsonschema's ``Additional properties are not allowed ('x' was
unexpected)`` for an unknown name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from extproc.compute import schemas
from extproc.errors import Service, bad_request, echo
from extproc.messages import ClientRequest, Reply

Json = dict[str, Any]
Version = tuple[int, int]

# 2.75: "400 for unknown param for query param and for request body" (the list and show APIs that had
# additionalProperties True); 2.102: every remaining API.
STRICT_QUERY_FROM: Version = (2, 75)
ALL_QUERIES_STRICT_FROM: Version = (2, 102)

# nova/api/validation/parameter_types.py
NON_NEGATIVE_INTEGER: Json = {
    "type": ["integer", "string"],
    "pattern": "^[0-9]*$",
    "minimum": 0,
    "minLength": 1,
}
STRING: Json = {"type": "string"}


def multi(schema: Json) -> Json:
    """``multi_params``: a parameter that may repeat."""
    return {"type": "array", "items": schema}


def single(schema: Json) -> Json:
    """``single_param``: a parameter given at most once."""
    return {**multi(schema), "maxItems": 1}


PAGINATION: Mapping[str, Json] = {"limit": multi(NON_NEGATIVE_INTEGER), "marker": multi(STRING)}


# Query formats: Nova's ``date-time`` (an ISO 8601 time, as ``timeutils.parse_isotime`` reads it).
QUERY_FORMATS = FormatChecker(formats=())


@QUERY_FORMATS.checks("date-time")
def _is_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    return parse_date_time(instance) is not None


def parse_date_time(value: str) -> datetime | None:
    """An ISO 8601 time ("Z" for UTC accepted), None if it is none."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _message(error: ValidationError) -> str:
    if error.path:
        # Nova pops the parameter name (the first path item), and shows the failing value.
        name = echo(error.path[0])
        return f"Invalid input for query parameters {name}. Value: {echo(error.instance)}. {error.message}"
    return schemas.reason(error)


class QuerySchema:
    """One API's query parameters (Nova's ``properties``), refused when unknown from ``strict_from``."""

    def __init__(
        self,
        properties: Mapping[str, Json],
        strict_from: Version = STRICT_QUERY_FROM,
        pattern_properties: Mapping[str, Json] | None = None,
    ) -> None:
        self.strict_from = strict_from
        self._lenient = _validator(properties, pattern_properties, strict=False)
        self._strict = _validator(properties, pattern_properties, strict=True)

    def refusal(self, req: ClientRequest, version: Version) -> Reply | None:
        """Nova's 400 when ``req``'s query is not valid at ``version``, else None."""
        if not req.query:
            # The schema names no required parameter: no query is always valid (and most reads have none;
            # jsonschema's walk of an empty object is ~20 us per request).
            return None
        validator = self._strict if version >= self.strict_from else self._lenient
        query = {name: list(values) for name, values in req.query.items()}
        for error in validator.iter_errors(query):
            return bad_request(Service.COMPUTE, _message(error))
        return None


def _validator(
    properties: Mapping[str, Json], pattern_properties: Mapping[str, Json] | None, *, strict: bool
) -> Draft4Validator:
    schema: Json = {"type": "object", "properties": dict(properties), "additionalProperties": not strict}
    if pattern_properties:
        schema["patternProperties"] = dict(pattern_properties)
    return Draft4Validator(schema, format_checker=QUERY_FORMATS)
