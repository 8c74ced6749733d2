"""``polymodal serve``: any generating model under test as an OpenAI-compatible endpoint."""

from polymodal.serve.server import ChatServer, parse_chat_request, serve_forever

__all__ = ["ChatServer", "parse_chat_request", "serve_forever"]
