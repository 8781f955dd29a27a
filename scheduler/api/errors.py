"""DMS's errors as its JSON 1.1 protocol sends them: an HTTP status and `{"__type": code, "message": ...}`,
which botocore turns into `ClientError` with `Error.Code` and the matching `client.exceptions.<Code>`."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client; `code` is DMS's (or AWS's common) error code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}


def not_found(message: str) -> ApiError:
    return ApiError("ResourceNotFoundFault", message)


def already_exists(message: str) -> ApiError:
    return ApiError("ResourceAlreadyExistsFault", message)


def invalid_state(message: str) -> ApiError:
    return ApiError("InvalidResourceStateFault", message)


def invalid_value(message: str) -> ApiError:
    return ApiError("InvalidParameterValueException", message)


def invalid_combination(message: str) -> ApiError:
    return ApiError("InvalidParameterCombinationException", message)


def missing(name: str) -> ApiError:
    # What AWS's JSON services say for a required member left out (botocore checks before sending; raw callers do not).
    return ApiError("ValidationException",
                    f"1 validation error detected: Value null at '{name}' failed to satisfy constraint: "
                    "Member must not be null")


def unknown_operation(name: str) -> ApiError:
    return ApiError("UnknownOperationException", f"Operation {name} is not supported by OpenDMS's DMS API")


def internal(message: str) -> ApiError:
    return ApiError("InternalFailure", message, 500)


def auth_missing() -> ApiError:
    return ApiError("MissingAuthenticationTokenException",
                    "Missing Authentication Token: sign requests with Signature Version 4 and a key of "
                    "`dms api keys create`", 403)


def auth_unknown_key() -> ApiError:
    return ApiError("UnrecognizedClientException",
                    "The security token included in the request is invalid: make an access key with "
                    "`dms api keys create`", 403)


def auth_bad_signature(message: str = "") -> ApiError:
    return ApiError("InvalidSignatureException", message or (
        "The request signature we calculated does not match the signature you provided. Check your AWS "
        "Secret Access Key and signing method."), 403)
