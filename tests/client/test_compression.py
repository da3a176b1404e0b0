"""Prompt compression: what it promises at every level, on random conversations (code and inline code
intact, kept words unchanged and in order, so kept numbers and negations too; system messages and the
last user turn's question untouched; idempotent; never longer; each level at most as long as the one
before), and one example of each transformation."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.client.compression import (_FILLER, LEVELS, REPEATED, TRIM_ABOVE, code_blocks, compress, inline_code,
                                       question_of, without_markers)
from router.domain.types import ChatMessage
from simulator.compression_eval import NEGATION, NUMBER

PARAGRAPHS = ["The measured value was 42 and it did not change over 3 runs of the whole test suite.",
              "Never deploy on a Friday without a rollback plan; we lost 1,000 orders that way in 2023."]
PIECES = st.one_of(
    st.sampled_from(["the", "report", "cost", "Total:", "is", "value.", "ok?", "it", "works!"]),
    st.sampled_from(["3.14", "1,000", "-7", "42", "2024", "0"]),
    st.sampled_from(["not", "no", "never", "don't", "without", "cannot"]),
    st.sampled_from(["Hi!", "I hope you are doing well.", "Thanks in advance!", "Please help me with the following.",
                     "Sure!", "I hope this helps!", "Thank you for your help."]),
    st.sampled_from(["  ", "\t", "   ", "\n", "\n\n", "\n\n\n\n", "  \n", "\n    indented  line  \n"]),
    st.sampled_from(["`a  b`", "`not 3`", "``x ` y``"]),
    st.sampled_from(["x  =  1", "if not y:\n    return -7", "print('a   b')\n\n\n\nz = 3.14"]).map(
        lambda body: f"\n```python\n{body}\n```\n"),
    st.sampled_from(PARAGRAPHS).map(lambda p: f"\n\n{p}\n\n"),
    st.integers(150, 200).map(lambda n: "\n" + "\n".join(f"entry {i}: status {i % 7} not ready" for i in range(n))),
)
CONTENTS = st.lists(PIECES, max_size=8).map(" ".join)
CONVERSATIONS = st.lists(st.builds(ChatMessage, st.sampled_from(["system", "user", "assistant"]), CONTENTS),
                         min_size=1, max_size=5)
EXAMPLES = settings(max_examples=25, deadline=None)


def words(text: str) -> list[str]:
    return without_markers(text).split()


def is_subsequence(short: list[str], long: list[str]) -> bool:
    rest = iter(long)
    return all(word in rest for word in short)


def fenced(messages) -> set[str]:
    return {block for m in messages for block in code_blocks(m.content)}


def inline(messages) -> set[str]:
    return {span for m in messages for span in inline_code(m.content)}


def everything(messages) -> str:
    return "\n".join(m.content for m in messages)


@EXAMPLES
@given(conversation=CONVERSATIONS)
def test_system_messages_and_the_last_user_question_are_never_touched(conversation):
    users = [i for i, m in enumerate(conversation) if m.role == "user"]
    for level in LEVELS:
        out = compress(conversation, level).messages
        assert [m for m in out if m.role == "system"] == [m for m in conversation if m.role == "system"]
        if users:
            assert out[users[-1]].content.endswith(question_of(conversation[users[-1]].content))


@EXAMPLES
@given(conversation=CONVERSATIONS)
def test_code_survives_byte_for_byte(conversation):
    light = compress(conversation, "light").messages
    for parts in (code_blocks, inline_code):
        assert [parts(m.content) for m in light] == [parts(m.content) for m in conversation]
    medium = compress(conversation, "medium").messages
    assert fenced(medium) == fenced(conversation) and inline(medium) == inline(conversation)
    aggressive = compress(conversation, "aggressive").messages
    assert fenced(aggressive) == fenced(conversation)  # a long code block is never trimmed
    assert inline(aggressive) <= inline(conversation)


@EXAMPLES
@given(conversation=CONVERSATIONS)
def test_kept_words_are_the_inputs_unchanged_and_in_order(conversation):
    light = compress(conversation, "light").messages
    assert [m.content.split() for m in light] == [m.content.split() for m in conversation]
    for level in ("medium", "aggressive"):
        for before, after in zip(conversation, compress(conversation, level).messages):
            assert is_subsequence(words(after.content), before.content.split())


@EXAMPLES
@given(conversation=CONVERSATIONS)
def test_numbers_and_negations_go_only_with_a_repeat_or_a_trimmed_middle(conversation):
    before = everything(conversation)
    for level in ("medium", "aggressive"):
        after = everything(compress(conversation, level).messages)
        for pattern in (NUMBER, NEGATION):
            found, kept = Counter(pattern.findall(before)), Counter(pattern.findall(without_markers(after)))
            assert kept <= found
            if "lines omitted" not in after:
                assert set(kept) == set(found)


@EXAMPLES
@given(conversation=CONVERSATIONS)
def test_idempotent_never_longer_and_each_level_at_most_the_one_before(conversation):
    results = [compress(conversation, level) for level in LEVELS]
    for level, result in zip(LEVELS, results):
        assert compress(result.messages, level).messages == result.messages
    assert results[0].tokens_before >= results[0].tokens_after >= results[1].tokens_after >= results[2].tokens_after
    assert results[0].chars_before >= results[0].chars_after >= results[1].chars_after >= results[2].chars_after


def test_light_normalises_whitespace_outside_code_and_indentation():
    text = "Some   text  here.   \n\n\n\nMore\ttext.\n    keep   this  indent\n```\nx  =  1\n\n\n\n```\nend `a  b`  "
    out = compress([ChatMessage("assistant", text)], "light").messages[0].content
    assert out == "Some text here.\n\nMore\ttext.\n    keep   this  indent\n```\nx  =  1\n\n\n\n```\nend `a  b`"


def test_medium_removes_whole_filler_sentences_only():
    earlier = ChatMessage("user", "Hi! I hope you are doing well. My build fails.\nThanks in advance for the 3 logs.\n"
                                  "Thank you for your help.")
    reply = ChatMessage("assistant", "Sure! It is not the cache.\n\nI hope this helps!")
    out = compress([earlier, reply, ChatMessage("user", "Why?")], "medium").messages
    assert out[0].content == "My build fails.\nThanks in advance for the 3 logs."  # that one carries a number
    assert out[1].content == "It is not the cache."


def test_filler_removal_never_empties_a_message_nor_drops_a_users_answer():
    conversation = [ChatMessage("user", "Thanks in advance!"), ChatMessage("assistant", "Shall I add tests?"),
                    ChatMessage("user", "Sure."), ChatMessage("assistant", "Done."), ChatMessage("user", "Now?")]
    assert compress(conversation, "aggressive").messages == tuple(conversation)


def test_the_last_user_question_is_kept_whole_even_with_filler_and_spaces():
    question = "Hi!  Thanks in advance.  What is  2 + 2?"
    out = compress([ChatMessage("user", f"Please help me with the following.\n\n\n{question}")], "aggressive")
    assert out.messages[0].content == question


def test_the_patterns_of_filler_cannot_match_a_number_a_negation_or_a_question():
    for pattern in _FILLER:
        literal = re.sub(r"\(\?:|\)\?|[()|]", " ", pattern)
        assert re.fullmatch(r"[a-z' ]+", literal), pattern
        assert not NEGATION.search(literal), pattern


def test_medium_replaces_an_earlier_copy_of_a_block_and_keeps_short_repeats():
    block = PARAGRAPHS[0]
    code = "```sql\nSELECT count(*) FROM orders WHERE created_at > now() - interval '7 days';\n```"
    conversation = [ChatMessage("user", f"Look:\n\n{block}\n\nOK.\n\n{code}"),
                    ChatMessage("assistant", f"{block}\n\nOK."), ChatMessage("user", f"Again:\n{code}\n\nWhy?")]
    out = compress(conversation, "medium").messages
    assert out[0].content == f"Look:\n\n{REPEATED}\n\nOK.\n\n{REPEATED}"
    assert out[1].content == f"{block}\n\nOK."  # the last copy stays, the short "OK." too
    assert out[2] == conversation[2]


def test_aggressive_trims_the_middle_of_long_text_but_never_a_code_block():
    log = "\n".join(f"12:00:{i:02d} worker {i} did not answer" for i in range(120))
    code = "```python\n" + "\n".join(f"step_{i} = {i}" for i in range(300)) + "\n```"
    text = f"My logs:\n{log}\n{code}\n{log}"
    assert len(log) / 4 > TRIM_ABOVE
    out = compress([ChatMessage("user", text), ChatMessage("user", "What went wrong?")], "aggressive").messages[0]
    before, trimmed_code, after = out.content.partition(code)
    assert trimmed_code == code
    for part in (before, after):
        assert re.search(r"\[… \d+ lines omitted …\]", part)
        assert "worker 0 did" in part or "My logs:" in part
        assert "worker 119 did" in part
    assert len(out.content) < len(text)


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="light, medium, aggressive"):
        compress([ChatMessage("user", "hi")], "extreme")


@pytest.mark.parametrize("content, question", [
    ("What is 2 + 2?", "What is 2 + 2?"),
    ("Context.\n\nMore context.\n\nThe question?\n", "The question?\n"),
    ("Fix this:\n```py\nx = 1\n```\n\n```py\ny = 2\n```", "Fix this:\n```py\nx = 1\n```\n\n```py\ny = 2\n```"),
    ("Intro.\n\n```py\n\nx = 1\n\n```", "Intro.\n\n```py\n\nx = 1\n\n```"),
    ("```py\nx = 1\n```", ""),
])
def test_the_question_is_the_last_paragraph_with_text(content, question):
    assert question_of(content) == question
