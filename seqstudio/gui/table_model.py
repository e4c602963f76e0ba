"""A read-only Qt table model over a pandas DataFrame.

The view asks only for the cells it shows, so a 1,000,000-row file scrolls
smoothly: nothing is converted up front, each visible cell is formatted on
demand from the column's numpy array.

>>> import pandas as pd
>>> model = DataFrameModel(pd.DataFrame({"a": [1.5, 2.0]}))   # doctest: +SKIP
>>> model.rowCount(), model.columnCount()                      # doctest: +SKIP
(2, 1)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt


class DataFrameModel(QAbstractTableModel):
    """Shows a DataFrame (index as the row header); ``set_frame`` swaps it in place."""

    def __init__(self, frame: pd.DataFrame | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._frame = pd.DataFrame()
        self._columns: list[np.ndarray] = []
        self._index: np.ndarray = np.empty(0)
        if frame is not None:
            self.set_frame(frame)

    @property
    def frame(self) -> pd.DataFrame:
        return self._frame

    def set_frame(self, frame: pd.DataFrame) -> None:
        """Replace the shown frame (columns kept as numpy arrays for O(1) cell access)."""
        self.beginResetModel()
        self._frame = frame
        # to_numpy per column keeps each column's own dtype (no object upcast of the whole frame).
        self._columns = [frame.iloc[:, i].to_numpy() for i in range(frame.shape[1])]
        self._index = frame.index.to_numpy()
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._index)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return _format_cell(self._columns[index.column()][index.row()])
        if role == Qt.ItemDataRole.TextAlignmentRole:
            value = self._columns[index.column()][index.row()]
            if isinstance(value, int | float | np.number):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            value = self._columns[index.column()][index.row()]
            if _is_missing(value):
                from PySide6.QtGui import QColor

                return QColor("#c0392b")  # missing values stand out: the user must choose a policy
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return str(self._frame.columns[section])
        return _format_cell(self._index[section])


def _is_missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _format_cell(value) -> str:
    if _is_missing(value):
        return "NA"
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    if isinstance(value, np.datetime64 | pd.Timestamp):
        ts = pd.Timestamp(value)
        return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else str(ts)
    return str(value)
