"""Data: what a model trains on.

``prepared`` holds :class:`~seqstudio.core.data.prepared.PreparedData`, the
contract every source returns; ``series`` reads and prepares CSV time series;
``text`` tokenizes, builds vocabularies and pads reviews.
"""
