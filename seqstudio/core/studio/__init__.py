"""The studio document: what the window shows, held without Qt, announcing every change.

The window is a view of one :class:`StudioDocument`, as napari's viewer is a
view of its ``ViewerModel``: the document holds the project being edited, its
data settings and the prepared data, the layer stack and its check against the
data, the training settings, the trained model and the run under way, the run
history, the last results and the unsaved-changes mark. Every change is
announced on ``document.events`` (a psygnal ``SignalGroup``); panels subscribe
to the events they render and call the document's methods (intents) when the
user edits something. The use cases (train, continue, record a run, report
metrics, save, autosave) are here, once, and so testable without a window.

Events (``document.events.NAME.connect(callback)``)
---------------------------------------------------
``project(Project)``             another project was adopted (new, open, restored)
``name(str)``                    the project's name changed (title bar)
``data_settings(str, dict)``     the data source key and options to show changed
``data(object)``                 the prepared data (None: see ``data_error``) or the busy flag changed
``model_spec(ModelSpec)``        the layer stack changed
``check(ModelCheck)``            the stack's check against the data changed
``train_config(dict)``           the training settings changed (``TrainConfig.to_dict()``)
``trainable(bool, str)``         whether Train can start, and why not
``weights(bool)``                whether trained weights fit the stack and data (Continue)
``running(bool)``                a run started / ended
``run_finished(TrainResult)``    a run finished and was recorded
``runs(list)``                   the run history changed
``results(Results)``             the results to show changed (None fields: nothing yet)
``snapshot(dict)``               predictions of the model mid-run (series)
``modified(bool)``               the unsaved-changes mark changed
``error(ErrorReport)``           something the user asked for failed: what was being done, the exception

>>> from seqstudio.pluginapi.manager import builtin_registry
>>> doc = StudioDocument(builtin_registry())
>>> seen = []
>>> _ = doc.events.modified.connect(seen.append)
>>> doc.set_train_config({**doc.train, "epochs": 7})
>>> doc.modified, seen
(True, [True])
"""

from seqstudio.core.studio.document import StudioDocument, StudioEvents
from seqstudio.core.studio.parts import (
    ErrorReport,
    ModelCheck,
    Results,
    RunPlan,
    SeriesData,
    TextData,
    check_model,
    error_text,
    is_series,
    panel_options,
    series_predictions,
    text_predictions,
)

__all__ = ["ErrorReport", "ModelCheck", "Results", "RunPlan", "SeriesData", "StudioDocument",
           "StudioEvents", "TextData", "check_model", "error_text", "is_series", "panel_options",
           "series_predictions", "text_predictions"]
