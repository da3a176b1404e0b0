"""Prompt compression, the `compress_prompt` rule action: the same request in fewer tokens.

The client wrappers call `compress` on a prompt's messages before the call, at the level the rule
names. The levels add up:

- light: whitespace. Trailing spaces go, a run of spaces inside a line becomes one, two or more blank
  lines become one, blank lines at either end go. An indented line keeps its spacing (it may be code or
  a table) and tabs stay (they may separate columns).
- medium: + boilerplate and repetition. Whole filler sentences from a short fixed list ("I hope this
  message finds you well.", "Thanks in advance!") go; none of them can carry a number, a negation or a
  question. A paragraph or code block of at least DEDUP_MIN_CHARS characters that comes again later in
  the conversation is replaced by REPEATED: the latest copy, the one nearest the question, stays.
- aggressive: + the middle of long pasted material. A stretch of text between code blocks over
  TRIM_ABOVE tokens keeps its first and last KEEP_EDGE tokens' worth of lines, "[… k lines omitted …]"
  between them. This level loses information by design; a long code block is kept whole. Trimming
  comes after de-duplication (so each level is at most as long as the one before), and the copy a
  REPEATED points to may be in the middle it trims.

Never touched, at any level: system (and developer) messages, the instructions, byte for byte; the last
user turn's question, byte for byte, which is its last paragraph with text in it and whatever follows
(`question_of`); fenced code blocks (``` or ~~~) and inline `code` spans, byte for byte (a repeated
block may be replaced whole, its later copy standing; at aggressive an inline span goes with the
trimmed text around it). Every word kept is a word of the input, unchanged and in order, so a kept
number or negation is the input's own. A message is never emptied by filler removal.

Security tasks must never be compressed: the caller (the rule and the wrappers) enforces that, this
module does not know what the task is. `compress` is idempotent and never returns more tokens than it
got, counted with the router's own estimate (router.domain.tokens: 4 characters a token).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from router.domain.rules import COMPRESSION_LEVELS
from router.domain.tokens import CHARS_PER_TOKEN, estimate_tokens
from router.domain.types import ChatMessage

LEVELS = COMPRESSION_LEVELS  # named where compress_prompt rules are checked: light, medium, aggressive
REPEATED = "[repeated below]"
DEDUP_MIN_CHARS = 64  # shorter blocks ("Yes.", "Total: 42") are not worth a reference
TRIM_ABOVE = 800  # tokens of text between two code blocks before its middle is trimmed
KEEP_EDGE = 200  # tokens' worth of whole lines kept at each end of trimmed text
_SYSTEM_ROLES = ("system", "developer")

# Filler removed wherever it is a whole sentence. Letters, spaces and apostrophes only: no pattern can
# match a number, a negation or a question, and tests/client/test_compression.py checks that it stays so.
_FILLER = (
    r"i hope (?:this|my) (?:message|email|note) finds you well",
    r"i hope (?:you are|you're|you have been|you've been|all is) (?:doing )?well",
    r"hope (?:you are|you're|all is) (?:doing )?well",
    r"(?:thank you|thanks) (?:so much |very much |a lot )?in advance",
    r"(?:thank you|thanks) (?:so much |very much |a lot )?for your (?:help|time|assistance)",
    r"any (?:help|advice|assistance) (?:would be|is) (?:greatly |much |really )?appreciated",
    r"i look forward to (?:your (?:response|reply|answer)|hearing from you)",
    r"looking forward to your (?:response|reply|answer)",
    r"please help me with (?:the following|this)",
    r"i hope this helps",
    r"hope this helps",
    r"let me know if you have any (?:other |more |further )?questions",
    r"feel free to ask if you have any (?:other |more |further )?questions",
)
# Removed only as a message's first sentence; the affirmations only from an assistant (a user's "Sure."
# may be the answer to a question).
_GREETINGS = r"(?:hi|hello|hey)(?: there)?|(?:thank you|thanks)(?: so much| very much| a lot)?"
_AFFIRMATIONS = r"sure|certainly|of course|absolutely|great question"
_FILLER_SENTENCE = re.compile(rf"(?:{'|'.join(_FILLER)})[.!:]*", re.IGNORECASE)
_USER_OPENER = re.compile(rf"(?:{_GREETINGS})[.!,]*", re.IGNORECASE)
_ASSISTANT_OPENER = re.compile(rf"(?:{_GREETINGS}|{_AFFIRMATIONS})[.!,]*", re.IGNORECASE)

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+).+?(?<!`)\1(?!`)")
_SENTENCE_END = re.compile(r"(?<=[.!?])(\s+)")
_OMITTED = re.compile(r"\[… \d+ lines omitted …\]")
_MARKERS = re.compile(rf"{re.escape(REPEATED)}|{_OMITTED.pattern}")


@dataclass(frozen=True)
class Compressed:
    messages: tuple[ChatMessage, ...]
    chars_before: int
    chars_after: int
    tokens_before: int  # estimated, as the router prices a prompt
    tokens_after: int


@dataclass(frozen=True)
class _Line:
    text: str
    code: bool = False  # a whole fenced code block, fences included


@dataclass
class _Part:
    """A message being compressed: its body and its question (kept as it is), as lines."""

    body: list[_Line]
    question: list[_Line]
    replaceable: bool  # may lose blocks to de-duplication: every turn but the last user one


def compress(messages: Sequence[ChatMessage], level: str) -> Compressed:
    """`messages` compressed at `level` (one of LEVELS), with the sizes before and after."""
    if level not in LEVELS:
        raise ValueError(f"unknown compression level {level!r}; expected one of {', '.join(LEVELS)}")
    rank = LEVELS.index(level)
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    parts = [None if m.role in _SYSTEM_ROLES else _part(m, i == last_user, rank >= 1) for i, m in enumerate(messages)]
    if rank >= 1:
        _deduplicate([p for p in parts if p is not None])
    if rank >= 2:
        for part in parts:
            if part is not None:
                part.body = _trimmed(part.body)
    compressed = tuple(m if p is None else ChatMessage(m.role, _render(p)) for m, p in zip(messages, parts))
    return Compressed(compressed, _chars(messages), _chars(compressed), _tokens(messages), _tokens(compressed))


def question_of(content: str) -> str:
    """The part of a last user turn compression keeps byte for byte: its last paragraph with text in it
    (a code block counts as part of the paragraph it touches) and whatever follows it."""
    lines = _parse(content)
    return _join(lines[_question_start(lines):])


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a text, fences included, in order."""
    return [line.text for line in _parse(text) if line.code]


def inline_code(text: str) -> list[str]:
    """The inline code spans of a text (outside its code blocks), in order."""
    return [span.group(0) for line in _parse(text) if not line.code for span in _INLINE_CODE.finditer(line.text)]


def without_markers(text: str) -> str:
    """A compressed text without the markers compression writes (a repeat, an omission)."""
    return _MARKERS.sub("", text)


def _part(message: ChatMessage, last_user: bool, without_filler: bool) -> _Part:
    """A message split into body and question (only the last user turn has one), the body's filler
    removed unless that would empty the message, its whitespace normalised."""
    lines = _parse(message.content)
    start = _question_start(lines) if last_user else len(lines)
    body, question = lines[:start], lines[start:]
    if without_filler:
        shorter = _without_filler(body, message.role)
        body = shorter if question or _has_text(shorter) else body
    return _Part(_normalised(body), question, not last_user)


def _chars(messages: Sequence[ChatMessage]) -> int:
    return sum(len(m.content) for m in messages)


def _tokens(messages: Sequence[ChatMessage]) -> int:
    return sum(estimate_tokens(m.content) for m in messages)


def _parse(content: str) -> list[_Line]:
    """Lines of text, each fenced code block one line of its own; `_join` gives the content back."""
    raw = content.split("\n")
    lines, i = [], 0
    while i < len(raw):
        fence = _FENCE.match(raw[i])
        if fence is None:
            lines.append(_Line(raw[i]))
            i += 1
            continue
        closing = re.compile(rf" {{0,3}}{re.escape(fence.group(1)[0])}{{{len(fence.group(1))},}}\s*")
        end = next((j for j in range(i + 1, len(raw)) if closing.fullmatch(raw[j])), len(raw) - 1)
        lines.append(_Line("\n".join(raw[i : end + 1]), code=True))  # an unclosed fence runs to the end
        i = end + 1
    return lines


def _join(lines: list[_Line]) -> str:
    return "\n".join(line.text for line in lines)


def _render(part: _Part) -> str:
    if part.body and part.question:
        return _join(part.body + [_Line("")] + part.question)
    return _join(part.body or part.question)


def _blank(line: _Line) -> bool:
    return not line.code and not line.text.strip()


def _has_text(lines: list[_Line]) -> bool:
    return any(not _blank(line) for line in lines)


def _question_start(lines: list[_Line]) -> int:
    """Where the last paragraph with text outside code begins (the end when there is none)."""
    start, found = len(lines), False
    for i in range(len(lines) - 1, -1, -1):
        if _blank(lines[i]):
            if found:
                return start
            continue
        start = i
        found = found or not lines[i].code
    return start if found else len(lines)


def _normalised(lines: list[_Line]) -> list[_Line]:
    """Whitespace: tidy lines, one blank line at most between paragraphs, none at either end."""
    out: list[_Line] = []
    for line in lines:
        line = line if line.code else _Line(_tidy(line.text))
        if _blank(line) and (not out or _blank(out[-1])):
            continue
        out.append(line)
    while out and _blank(out[-1]):
        out.pop()
    return out


def _tidy(text: str) -> str:
    text = text.rstrip()
    if text[:1] in (" ", "\t"):
        return text  # indented: code or a table, perhaps, whose spacing means something
    return _outside_inline_code(text, lambda piece: re.sub(" {2,}", " ", piece))


def _outside_inline_code(text: str, change: Callable[[str], str]) -> str:
    pieces, end = [], 0
    for span in _INLINE_CODE.finditer(text):
        pieces += [change(text[end : span.start()]), span.group(0)]
        end = span.end()
    return "".join(pieces + [change(text[end:])])


def _without_filler(lines: list[_Line], role: str) -> list[_Line]:
    """Lines without filler sentences; a line left empty goes. A line holding code (a fence, a backtick)
    is left as it is, and so is an indented one."""
    opener = _ASSISTANT_OPENER if role == "assistant" else _USER_OPENER
    out: list[_Line] = []
    opening = True  # no text yet: the next sentence opens the message
    for line in lines:
        if not (line.code or line.text[:1] in (" ", "\t") or "`" in line.text or "~~~" in line.text):
            text = _drop_filler(line.text, opener if opening else None)
            if not text.strip() and line.text.strip():
                continue
            line = _Line(text)
        out.append(line)
        opening = opening and _blank(line)
    return out


def _drop_filler(text: str, opener: re.Pattern | None) -> str:
    """A line without its filler sentences; `opener`: what else may go as the message's first sentence."""
    text = text.rstrip()
    while True:
        pieces = _SENTENCE_END.split(text)  # sentence, separator, sentence, …, sentence
        sentences = list(zip(pieces[::2], pieces[1::2] + [""]))
        kept = [(s, gap) for k, (s, gap) in enumerate(sentences)
                if not (_FILLER_SENTENCE.fullmatch(s) or (k == 0 and opener and opener.fullmatch(s)))]
        if len(kept) == len(sentences):
            return text
        text = "".join(s + gap for s, gap in kept).rstrip()


def _units(lines: list[_Line]) -> list[tuple[int, int, tuple[bool, str]]]:
    """The blocks de-duplication compares: each code block, each paragraph of text between code
    blocks and markers, as (start, end, key); a block holding an omission is never a repeat."""
    units, start = [], None
    for i, line in enumerate(lines + [_Line("")]):
        separate = _blank(line) or line.code or line.text == REPEATED
        if separate and start is not None:
            text = " ".join(_join(lines[start:i]).split())
            if not any(_OMITTED.fullmatch(x.text) for x in lines[start:i]):
                units.append((start, i, (False, text)))
            start = None
        if line.code:
            units.append((i, i + 1, (True, line.text)))
        elif not separate and start is None:
            start = i
    return [unit for unit in units if len(unit[2][1]) >= DEDUP_MIN_CHARS]


def _deduplicate(parts: list[_Part]) -> None:
    """Replace every block that comes again later in the conversation; the last copy stays."""
    found = [(p, region, unit) for p, part in enumerate(parts) for region in ("body", "question")
             for unit in _units(getattr(part, region))]
    last = {unit[2]: k for k, (_, _, unit) in enumerate(found)}
    for k in range(len(found) - 1, -1, -1):  # from the end, so earlier line numbers stay right
        p, region, (start, end, key) = found[k]
        if parts[p].replaceable and last[key] != k:
            lines = getattr(parts[p], region)
            lines[start:end] = [_Line(REPEATED)]


def _trimmed(lines: list[_Line]) -> list[_Line]:
    """Each stretch of text between code blocks over TRIM_ABOVE tokens without its middle."""
    out: list[_Line] = []
    stretch: list[_Line] = []
    for line in lines + [_Line("", code=True)]:
        if not line.code:
            stretch.append(line)
            continue
        out += _trimmed_stretch(stretch) + [line]
        stretch = []
    return out[:-1]


def _trimmed_stretch(lines: list[_Line]) -> list[_Line]:
    if estimate_tokens(_join(lines)) <= TRIM_ABOVE:
        return lines
    head = _edge(lines)
    tail = len(lines) - _edge(lines[head:][::-1])
    middle = lines[head:tail]
    marker = _Line(f"[… {len(middle)} lines omitted …]")
    # Nothing to omit but an omission already made, or too little to be worth the marker: leave it.
    if all(_OMITTED.fullmatch(line.text) for line in middle) or len(_join(middle)) <= len(marker.text):
        return lines
    return lines[:head] + [marker] + lines[tail:]


def _edge(lines: list[_Line]) -> int:
    """How many leading lines fit in KEEP_EDGE tokens (one at least)."""
    budget, count = KEEP_EDGE * CHARS_PER_TOKEN, 0
    for line in lines:
        budget -= len(line.text) + 1
        if budget < 0 and count:
            break
        count += 1
    return count
