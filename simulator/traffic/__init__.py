"""Synthetic traffic: prompts a backend would send, each with its hidden category and difficulty.

The generator is in `generator.py`; the other modules hold its data (families per category, word
banks, pasted code and prose, system prompts)."""

from simulator.traffic.generator import SyntheticPrompt, TrafficGenerator, distinct_prompts

__all__ = ["SyntheticPrompt", "TrafficGenerator", "distinct_prompts"]
