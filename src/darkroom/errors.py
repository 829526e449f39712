"""Errors a caller can act on. Adapters translate vendor errors into these."""


class DarkroomError(Exception):
    """Base of every error darkroom raises on purpose."""

    code = "error"


class NotFound(DarkroomError):
    code = "not_found"


class Conflict(DarkroomError):
    """A conditional write lost: the record changed or already exists."""

    code = "conflict"


class TooLarge(DarkroomError):
    code = "too_large"


class Unsupported(DarkroomError):
    """Not a format darkroom accepts (not an image, or a wrong content type)."""

    code = "unsupported"


class InvalidImage(DarkroomError):
    """Claims to be an image but cannot be decoded safely."""

    code = "invalid_image"


class BadRequest(DarkroomError):
    code = "bad_request"


class Forbidden(DarkroomError):
    """A signature that is missing, tampered with or expired."""

    code = "forbidden"


class Unavailable(DarkroomError):
    """A backend did not answer; trying again later may work."""

    code = "unavailable"


PERMANENT_IMAGE_ERRORS: tuple[type[DarkroomError], ...] = (InvalidImage, TooLarge, Unsupported)
"""Failures that retrying cannot fix: the photo ends `failed`, the job is not retried."""


class Unauthorized(DarkroomError):
    """No credentials, or credentials that are wrong, expired or revoked."""

    code = "unauthorized"


class TooManyRequests(DarkroomError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    code = "too_many_requests"
