"""The studio window (the only package that imports Qt).

Start it with :func:`seqstudio.gui.app.create_window` (tests, embedding) or
:func:`seqstudio.gui.app.main` (the ``seqstudio`` command). Widget names and
signals for automation are listed in ``docs/automation.md``.
"""
