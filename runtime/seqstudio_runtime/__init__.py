"""Run models exported from seqstudio without torch: numpy and onnxruntime only.

>>> from seqstudio_runtime import Predictor               # doctest: +SKIP
>>> Predictor.from_bundle("imdb-bundle").predict_text(["a wonderful film"]).labels  # doctest: +SKIP
['positive']
"""

from seqstudio_runtime.predictor import BundleError, Predictor, TextPredictions
from seqstudio_runtime.text import TextEncoder

__version__ = "0.1.0"
__all__ = ["BundleError", "Predictor", "TextPredictions", "TextEncoder", "__version__"]
