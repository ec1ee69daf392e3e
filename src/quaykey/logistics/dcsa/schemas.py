"""Validate payloads against DCSA's published OpenAPI schemas, offline.

The vendored specifications under ``specs/`` (see ``specs/PROVENANCE.md``) are OpenAPI 3.0.3
documents. The event, error and location "domain" files are referenced by the API specs through
SwaggerHub URLs (``https://api.swaggerhub.com/domains/dcsaorg/EVENT_DOMAIN/3.1.0#...``); here
each URL resolves to the vendored copy, so validation never touches the network.

A payload that breaks its schema raises :class:`~quaykey.errors.DcsaValidationError` carrying a
DCSA error object (``error`` schema of DCSA Error Domain 2.0.0) whose ``errors[].field`` names
the offending field as a JSONPath; :func:`check` returns that object instead of raising.

References
----------
DCSA, "DCSA eBL 3.0.4" (EBL_v3.0.4), "EBL_PINT v3.0.0", "Event Domain 3.1.0",
"Error Domain 2.0.0", "Reefer 1.0.0-Beta-1", "IoT 1.0.0-Beta-1"; dcsaorg/DCSA-OpenAPI,
Apache License 2.0.
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources
from typing import Any

import yaml
from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from quaykey.errors import DcsaValidationError

__all__ = ["SCHEMAS", "check", "error_object", "validate"]

_SWAGGERHUB = "https://api.swaggerhub.com/domains/dcsaorg"
_LOCAL = "urn:quaykey:dcsa"

# Schema name -> (vendored file stem, component name). Names are DCSA's own.
SCHEMAS: dict[str, tuple[str, str]] = {
    "TransportDocument": ("EBL_v3.0.4", "TransportDocument"),
    "EnvelopeTransferChainEntry": ("EBL_PINT_v3.0.0", "EnvelopeTransferChainEntry"),
    "EnvelopeManifest": ("EBL_PINT_v3.0.0", "EnvelopeManifest"),
    "EnvelopeTransferChainEntrySignedContent": (
        "EBL_PINT_v3.0.0",
        "EnvelopeTransferChainEntrySignedContent",
    ),
    "EnvelopeManifestSignedContent": ("EBL_PINT_v3.0.0", "EnvelopeManifestSignedContent"),
    "Transaction": ("EBL_PINT_v3.0.0", "Transaction"),
    "equipmentEvent": ("event_domain_v3.1.0", "equipmentEvent"),
    "transportEvent": ("event_domain_v3.1.0", "transportEvent"),
    "shipmentEvent": ("event_domain_v3.1.0", "shipmentEvent"),
    "reeferEvent": ("event_domain_v3.1.0", "reeferEvent"),
    "iotEvent": ("event_domain_v3.1.0", "iotEvent"),
    "error": ("error_domain_v2.0.0", "error"),
}

# DCSA Error Domain 2.0.0 codes: 7003 out-of-range/invalid value, 7004 invalid type.
_ERROR_CODE = {"type": 7004}
_FIELD_MAX = 50  # detailedError.field maxLength


def _spec_files() -> list[Any]:
    folder = resources.files("quaykey.logistics.dcsa") / "specs"
    return sorted((p for p in folder.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)


@functools.cache
def _registry() -> Registry:
    """Every vendored spec under its local URN, and each domain file under its SwaggerHub URL."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    pairs = []
    for path in _spec_files():
        stem = path.name.removesuffix(".yaml")
        resource = DRAFT4.create_resource(yaml.load(path.read_text("utf-8"), Loader=loader))
        pairs.append((f"{_LOCAL}:{stem}", resource))
        if "_domain_v" in stem:
            name, version = stem.split("_v")
            pairs.append((f"{_SWAGGERHUB}/{name.upper()}/{version}", resource))
    return Registry().with_resources(pairs)


@functools.cache
def _validator(schema: str) -> OAS30Validator:
    if schema not in SCHEMAS:
        raise ValueError(f"schema must be one of {sorted(SCHEMAS)}, got {schema!r}")
    stem, component = SCHEMAS[schema]
    ref = {"$ref": f"{_LOCAL}:{stem}#/components/schemas/{component}"}
    return OAS30Validator(ref, registry=_registry(), format_checker=FormatChecker())


def _detail(err: ValidationError) -> dict[str, Any]:
    path = err.json_path
    if err.validator == "required" and isinstance(err.instance, dict):
        missing = [p for p in err.validator_value if p not in err.instance]
        if missing:
            path = f"{path}.{missing[0]}"
    value = err.instance if not isinstance(err.instance, (dict, list)) else "<object>"
    return {
        "errorCode": _ERROR_CODE.get(str(err.validator), 7003),
        "field": path if len(path) <= _FIELD_MAX else "..." + path[-(_FIELD_MAX - 3) :],
        "value": str(value)[:500],
        "reason": "invalidData" if err.validator != "required" else "missingProperty",
        "message": err.message[:200],
    }


def _path_key(err: ValidationError) -> list[str]:
    return [str(p) for p in err.absolute_path]


def error_object(
    details: list[dict[str, Any]],
    *,
    request_uri: str = "/",
    http_method: str = "POST",
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A DCSA Error Domain 2.0.0 ``error`` object (HTTP 400) around ``details``.

    Parameters
    ----------
    details
        ``detailedError`` objects, at least one.
    request_uri, http_method
        What the request was (DCSA reports them back).
    at
        Time of the error; now (UTC) by default.

    Examples
    --------
    >>> e = error_object([{"reason": "invalidData", "message": "bad", "field": "$.x"}])
    >>> e["statusCode"], e["errors"][0]["field"]
    (400, '$.x')
    >>> validate(e, "error")
    """
    if not details:
        raise ValueError("details must hold at least one detailedError")
    when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return {
        "httpMethod": http_method,
        "requestUri": request_uri,
        "statusCode": 400,
        "statusCodeText": "Bad Request",
        "errorMessage": "The supplied data could not be accepted",
        "errorDateTime": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "errors": details,
    }


def check(payload: Any, schema: str, *, request_uri: str = "/") -> dict[str, Any] | None:
    """Return ``None`` if ``payload`` satisfies DCSA ``schema``, else a DCSA error object.

    Parameters
    ----------
    payload
        Decoded JSON.
    schema
        A key of :data:`SCHEMAS` (DCSA's component name).
    request_uri
        Reported in the error object.

    Raises
    ------
    ValueError
        If ``schema`` is not a known name.

    Examples
    --------
    >>> err = check({"metadata": {}}, "iotEvent")
    >>> err["statusCode"], err["errors"][0]["field"]
    (400, '$.metadata.eventID')
    """
    errors = sorted(_validator(schema).iter_errors(payload), key=_path_key)
    if not errors:
        return None
    leaves = [e for e in errors if not e.context] or errors
    return error_object([_detail(e) for e in leaves[:10]], request_uri=request_uri)


def validate(payload: Any, schema: str, *, request_uri: str = "/") -> None:
    """Check ``payload`` against DCSA ``schema``; raise with a DCSA error object if it fails.

    Raises
    ------
    DcsaValidationError
        ``.error`` is the DCSA error object; the message names the first bad field.

    Examples
    --------
    >>> validate({"metadata": {}}, "iotEvent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    quaykey.errors.DcsaValidationError: iotEvent: $.metadata.eventID: 'eventID' is a required ...
    """
    error = check(payload, schema, request_uri=request_uri)
    if error is not None:
        first = error["errors"][0]
        raise DcsaValidationError(f"{schema}: {first['field']}: {first['message']}", error)
