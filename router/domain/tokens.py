"""Token estimates for pricing a call before it is made."""

import math

# About four characters a token for English text with BPE tokenizers (OpenAI's rule of thumb);
# the estimate only prices the call, and feedback settles it with the real counts.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))
