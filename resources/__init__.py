"""Embedded data shipped with seqstudio (the Airline Passengers series, icons)."""

from importlib.resources import files


def path(name: str):
    """Return a traversable for an embedded resource file, e.g. ``path("airline-passengers.csv")``."""
    return files(__name__) / name
