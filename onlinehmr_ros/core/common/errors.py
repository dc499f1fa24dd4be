"""Error types shared by every stage.

Each stage raises its own, more specific types too (``GeometryError``, ``BodyModelError``,
``SourceError``, ...); this module holds the one the stage contracts share.
"""


class InputError(ValueError):
    """Bad input to a core stage (wrong shape, encoding, value range); the message says what to change."""


def is_project_error(exc: BaseException) -> bool:
    """True for errors of this package's own types (``InputError``, ``GeometryError``, ``SourceError``,
    ...: every one says what was wrong and what to do), False for everything else.

    Entry points (``onlinehmr``, each node's ``main``) report project errors in one line with
    exit code 1 and let every other exception (``ValueError``, ``KeyError``, ... from a bug or a
    library) show its traceback.
    """
    return type(exc).__module__.split('.')[0] == 'onlinehmr_ros'
