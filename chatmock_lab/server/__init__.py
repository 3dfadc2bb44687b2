"""The HTTP server: app factory, routes per dialect, and runners."""

from chatmock_lab.server.app import create_app
from chatmock_lab.server.runner import BackgroundServer, run_foreground

__all__ = ["BackgroundServer", "create_app", "run_foreground"]
