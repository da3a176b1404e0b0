"""Domain errors; the gRPC edge maps each to its status code."""


class RouterError(Exception):
    """Base of the errors a caller can act on."""


class InvalidArgument(RouterError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(RouterError):
    pass


class AlreadyExists(RouterError):
    pass


class ResourceExhausted(RouterError):
    """A budget has no room for the call."""


class Blocked(RouterError):
    """A tenant's rule refuses the request."""


class FailedPrecondition(RouterError):
    """The request is valid but the state it acts on does not allow it (e.g. editing a config-file rule)."""


class Unauthenticated(RouterError):
    """The call carries no key, or one the server does not know."""


class PermissionDenied(RouterError):
    """The caller's key does not allow this tenant or this call."""


class CannotStart(Exception):
    """What the server found on disk must not be served (a damaged file, a decision log that does not
    match the learner's snapshots); the message names the file, what is wrong and how to proceed.
    Not a RouterError: no call sees it, `serve` prints it and exits with code 2."""


class StorageUnavailable(RouterError):
    """The service's storage refused a write (a full disk, an I/O error, a read-only file): nothing of
    the call was kept, and the same call may be sent again once storage recovers."""
