"""User-facing errors.

Every error a user can cause (a bad CSV, an impossible layer stack, a missing
plugin, a NaN loss) is a :class:`SeqStudioError` that says *what* is wrong,
*where* (file, row, column, layer) and *how to fix it*. The CLI prints it and
exits with status 2; the window shows it and stays usable.

>>> err = DataError("column 'Passengers' has 3 missing values", where="rows 5, 9, 12",
...                 fix="choose missing='interpolate' or clean the file")
>>> print(err)
column 'Passengers' has 3 missing values (at rows 5, 9, 12)
  fix: choose missing='interpolate' or clean the file
"""

from __future__ import annotations


class SeqStudioError(Exception):
    """An error the user can act on: what went wrong, where, and the fix."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.what
        if self.where:
            text += f" (at {self.where})"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text

    def __reduce__(self):  # keep the keyword arguments when pickled across processes
        return (_rebuild, (type(self), self.what, self.where, self.fix, self.__dict__))


def _rebuild(cls, what, where, fix, state):
    obj = cls.__new__(cls)
    SeqStudioError.__init__(obj, what, where=where, fix=fix)
    obj.__dict__.update(state)
    return obj


class DataError(SeqStudioError):
    """The data cannot be read or prepared (file, column, row)."""


class ModelSpecError(SeqStudioError):
    """A layer's arguments are invalid, or the stack cannot work on this data.

    ``layer_index`` is the position of the offending layer in the stack (or None
    when the whole stack is at fault) so that a view can highlight it.
    """

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None,
                 layer_index: int | None = None):
        self.layer_index = layer_index
        super().__init__(what, where=where, fix=fix)


class TrainingError(SeqStudioError):
    """Training cannot start or continue (bad config, NaN loss, out of memory)."""


class ProjectError(SeqStudioError):
    """A project file is damaged, from a future version, or names a missing plugin."""


class PluginError(SeqStudioError):
    """A plugin failed to load or to register, or a needed plugin is missing."""
