"""The fake-vendor HTTP server lives in the plugin kit (destinations/kit/fakes.py); tests import it from here."""
from destinations.kit.fakes import FakeServer, Handler, Reply, Request

__all__ = ["FakeServer", "Handler", "Reply", "Request"]
