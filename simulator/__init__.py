"""Synthetic traffic, the hidden world that grades the answers, and the benchmark that replays them."""
