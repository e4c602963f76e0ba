"""Classifier results beyond the headline metrics: what a text user reads after training.

:mod:`~seqstudio.core.classify.curves` holds the plain-numpy pieces (ROC and
precision-recall curves, the confusion matrix at any threshold, histograms of
predicted probabilities per class, the most confidently wrong samples);
:mod:`~seqstudio.core.classify.report` turns a trained model's outputs on a
split into a :class:`~seqstudio.core.classify.report.ClassifierReport` that
the window's Results page and scripts both read.
"""
