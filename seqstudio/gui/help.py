"""Help menu: the user guide (Markdown in a QTextBrowser) and About (versions and device).

The guide ships inside the package as ``seqstudio/gui/user_guide.md`` so an
installed seqstudio finds it; ``docs/user-guide.md`` in the repository points
there.

>>> "Train" in user_guide_text()
True
"""

from __future__ import annotations

import platform
import re
from html import escape as html_escape
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

GUIDE_FILE = Path(__file__).with_name("user_guide.md")

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|obj|exc):`~?([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")


def doc_text(text: str, *, html: bool = False) -> str:
    """A docstring line as a user reads it: no reStructuredText markup.

    ````(..., in)```` becomes ``(..., in)`` (in a ``<code>`` span with ``html``),
    ``:class:`~seqstudio.core.registry.Registry``` becomes ``Registry``.

    >>> doc_text("Fully connected: ``(..., in) -> (..., units)``; see :class:`~a.b.Dense`.")
    'Fully connected: (..., in) -> (..., units); see Dense.'
    >>> doc_text("``(time,)`` ids", html=True)
    '<code>(time,)</code> ids'
    """
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1].rstrip("()"), text)
    if html:
        text = html_escape(text)
        return _LITERAL.sub(lambda m: f"<code>{m.group(1)}</code>", text)
    return _LITERAL.sub(lambda m: m.group(1), text)


def user_guide_text() -> str:
    """The user guide as Markdown (a short note when the file is missing from the install)."""
    try:
        return GUIDE_FILE.read_text(encoding="utf-8")
    except OSError:
        return ("# seqstudio\n\nThe user guide file is missing from this installation "
                f"(expected {GUIDE_FILE}). See the project's docs/ folder.\n")


def versions() -> dict[str, str]:
    """Versions of seqstudio and what it runs on, plus the device training would use.

    Examples
    --------
    >>> sorted(versions())[:3]
    ['PySide6', 'Python', 'Qt']
    """
    import pyqtgraph
    import PySide6
    import torch
    from PySide6.QtCore import qVersion

    from seqstudio import __version__
    from seqstudio.core.train.devices import resolve_device

    try:
        device = str(resolve_device("auto"))
    except Exception as exc:  # noqa: BLE001 - About must open whatever the device state
        device = f"unknown ({exc})"
    if device.startswith("cuda"):
        try:
            device += f" ({torch.cuda.get_device_name(torch.device(device))})"
        except Exception:  # noqa: BLE001
            pass
    return {
        "seqstudio": __version__,
        "torch": torch.__version__,
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "pyqtgraph": pyqtgraph.__version__,
        "Python": platform.python_version(),
        "device": device,
    }


def about_text() -> str:
    """The About box as Markdown: one line per version, then the device."""
    lines = ["## seqstudio", "", "A desktop studio for sequence models.", ""]
    lines += [f"- **{name}** {value}" for name, value in versions().items()]
    return "\n".join(lines) + "\n"


class HelpDialog(QDialog):
    """A non-modal dialog showing Markdown in a ``QTextBrowser`` (links open externally)."""

    def __init__(self, title: str, markdown: str, parent: QWidget | None = None, *,
                 object_name: str = "helpDialog", size=(720, 640)):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName(object_name)
        self.browser = QTextBrowser(self)
        self.browser.setObjectName(object_name + "Text")
        self.browser.setAccessibleName(title)
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(markdown)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(*size)


def show_user_guide(parent: QWidget | None = None) -> HelpDialog:
    """Open the user guide (objectName ``userGuideDialog``, text ``userGuideDialogText``)."""
    dialog = HelpDialog("seqstudio user guide", user_guide_text(), parent, object_name="userGuideDialog")
    dialog.show()
    return dialog


def show_about(parent: QWidget | None = None) -> HelpDialog:
    """Open About (objectName ``aboutDialog``, text ``aboutDialogText``)."""
    dialog = HelpDialog("About seqstudio", about_text(), parent, object_name="aboutDialog", size=(420, 320))
    dialog.show()
    return dialog
