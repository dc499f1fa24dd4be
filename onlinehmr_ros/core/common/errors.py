"""Error types shared by every stage.

Each stage raises its own, more specific types too (``GeometryError``, ``BodyModelError``,
``SourceError``, ...); this module holds the one the stage contracts share.
"""


class InputError(ValueError):
    """Bad input to a core stage (wrong shape, encoding, value range); the message says what to change."""
