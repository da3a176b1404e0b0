"""The semantic cache: a stored answer served for the same question asked again, and the false-hit guard
that tells the same question from a similar one."""
