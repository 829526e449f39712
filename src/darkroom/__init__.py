"""darkroom: a photo gallery with an event-driven image pipeline."""

__version__ = "0.1.0"
