"""Errors that the command line reports as one line, without a traceback."""


class SfpError(Exception):
    """A user-facing error: the message is printed as `sfp: error: <message>` and the command exits 2."""


class ConfigError(SfpError):
    """A recipe or override that does not validate."""


class StorageError(SfpError):
    """A location that cannot be read or written (missing file, unreachable S3, bad URI)."""


class FrameStoreError(SfpError):
    """A frame store that is missing, half-written or of an unsupported schema version."""


class ModelError(SfpError):
    """A model URI that names no registered model, version, alias or run, or a model that cannot be used."""
