"""Calling the service: gRPC clients, the OpenAI and Anthropic wrappers, a server as a child process."""

from router.client.clients import AsyncRouterClient, RouterClient, auth_metadata, channel_credentials, status_name

__all__ = ["AsyncRouterClient", "RouterClient", "auth_metadata", "channel_credentials", "status_name"]
