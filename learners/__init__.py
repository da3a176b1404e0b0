"""Routing policies: the Vowpal Wabbit bandit and the baselines it is measured against."""
