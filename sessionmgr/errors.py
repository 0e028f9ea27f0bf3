"""The error taxonomy shared by the core, the service and the API.

Every error a client can cause carries an HTTP status, a snake_case code and a
message that says what was wrong and where; the API turns it into
``{"error": {"code", "message"}}`` unchanged. Anything else that escapes is a
bug and is reported as such, without details.
"""

from __future__ import annotations


class SessionmgrError(Exception):
    """An error the caller caused and can fix; never a bug."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidInput(SessionmgrError):
    """A value failed validation; ``field`` names where (``sessions[1].email``)."""

    status = 400
    code = "invalid_input"

    def __init__(self, field: str, message: str, *, code: str | None = None):
        super().__init__(f"{field}: {message}" if field else message, code=code)
        self.field = field


class NotFound(SessionmgrError):
    status = 404
    code = "not_found"


class Conflict(SessionmgrError):
    status = 409
    code = "conflict"


class Unauthorized(SessionmgrError):
    status = 401
    code = "unauthorized"


class Forbidden(SessionmgrError):
    status = 403
    code = "forbidden"


class TooManyRequests(SessionmgrError):
    status = 429
    code = "too_many_requests"


class AlreadyRunning(SessionmgrError):
    """A second daemon on the same home."""

    status = 409
    code = "already_running"
