"""The project's own exception types.

Every error a user can cause (bad params, a bad corpus, a wrong checksum, a
corrupt checkpoint, an unknown character) is raised as a subclass of
`CharlmError` with a one-line message; the CLI and the stages print it without
a traceback and exit with status 2.
"""


class CharlmError(Exception):
    """Base class: a user-facing error with a one-line message."""


class ParamsError(CharlmError):
    """`params.yaml` (or a CLI option) is invalid."""


class DownloadError(CharlmError):
    """A corpus file could not be fetched or failed verification."""


class CorpusError(CharlmError):
    """A corpus is unusable: wrong encoding, empty, too small, ..."""


class VocabError(CharlmError):
    """A character is not in the vocabulary, or the vocabulary is unusable."""


class CheckpointError(CharlmError):
    """A checkpoint is missing, corrupt, unsafe or does not fit the params."""


class TrainingError(CharlmError):
    """Training diverged (NaN/inf loss) or cannot proceed."""
