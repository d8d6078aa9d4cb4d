"""Exceptions for problems the *user* can fix (a bad flag, file or environment).

The command line (:func:`gluon_aff.cli.run`) prints a :class:`UserError` as one ``error: ...``
line and exits with status 2; every other exception is a bug of ours and keeps its traceback.
They are raised only where the code knows the input is at fault (a checkpoint file that does not
load, a GPU asked for on the CPU build...); a plain ``ValueError`` from deep inside is not
assumed to be the user's. Both derive from the builtin type a library caller would catch
(``ValueError``, ``FileNotFoundError``), so ``except ValueError`` keeps working.
"""

__all__ = ['UserError', 'MissingInputError', 'UserNotice']


class UserError(ValueError):
    """Bad input the user can fix; the message names the file or value and what to do."""


class MissingInputError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist (or holds nothing usable)."""


class UserNotice(UserWarning):
    """A warning about what the user asked for (a value that was adjusted, a check that could
    not be made); the command line prints it as one ``warning: ...`` line."""
