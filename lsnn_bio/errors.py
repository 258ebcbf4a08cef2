"""Errors meant for people: what was wrong, where, and what would be accepted."""


class LsnnBioError(Exception):
    """Base class for every error this package raises on purpose."""


class DocumentError(LsnnBioError, ValueError):
    """A model or experiment document is invalid.

    The message names the file, the key path inside it (``populations.ALIF.size``)
    and, where possible, what would have been accepted.
    """

    def __init__(self, source, key, problem, accepted=None):
        self.source, self.key, self.problem, self.accepted = source, key, problem, accepted
        where = f"{source}" + (f", key '{key}'" if key else "")
        message = f"{where}: {problem}"
        if accepted:
            message += f" (accepted: {accepted})"
        super().__init__(message)


class UnsupportedConstruct(LsnnBioError, ValueError):
    """A Brian2 construct the twin cannot translate exactly.

    Raised instead of silently approximating: the message names the construct,
    the population or projection it appears in, and the supported alternative.
    """
