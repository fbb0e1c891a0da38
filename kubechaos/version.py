"""The release of kubechaos, on the ground floor so every room can name it in what it writes."""

__version__ = "0.1.0"
