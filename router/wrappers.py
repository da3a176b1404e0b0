"""The OpenAI and Anthropic wrappers under their first import path, kept for users and notebooks; they
live in router/client/wrappers.py."""

from router.client.wrappers import (AsyncRoutedChat, QualityCallback, RoutedChat, wrap_anthropic, wrap_async_anthropic,
                                    wrap_async_openai, wrap_openai)

__all__ = ["AsyncRoutedChat", "QualityCallback", "RoutedChat", "wrap_anthropic", "wrap_async_anthropic",
           "wrap_async_openai", "wrap_openai"]
