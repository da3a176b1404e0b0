"""Prompt classification: task category, security flag and complexity for the routing policy.

Two signals are added per category. Cosine similarity to labelled example prompts
(exemplars.yaml) generalises to wordings no rule anticipated; keyword rules catch unmistakable
cues (a traceback, "translate", "CVE-2024-...") that a sentence embedding can blur.

The security flag feeds the safety floor, so each flag says where it came from, in order of
authority: the caller's hint, an explicit security term (a rule anyone can read), or the trained
detector's probability (router/reading/detector.py) at or above a threshold, which a tenant may
set. Without a trained detector the exemplars' verdict stands in for it (1 when security_critical
wins, else 0).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from router.config.settings import DEFAULT_SECURITY_THRESHOLD
from router.domain.categories import CATEGORIES, SECURITY_CRITICAL
from router.domain.tokens import CHARS_PER_TOKEN
from router.reading.detector import SecurityDetector
from router.reading.vectors import Embedder, unit_rows

# Mean of the k best similarities: one near-duplicate exemplar should not decide alone, yet a
# category made of several tight clusters (e.g. chat: greetings, support, role play) is not
# diluted the way a single centroid would be.
TOP_K = 3

# Turns the score margin between the best and the runner-up category into a confidence: a tie is
# 0.5, and a margin of 0.1 (one strong keyword, or a clearly closer exemplar cluster) is ~0.92.
CONFIDENCE_SCALE = 0.04

# Rules nudge rather than overrule. On the held-out prompts the right category's exemplar
# similarity leads the runner-up by a median 0.09 (quartiles 0.02-0.13), so a strong cue settles a
# close call, while a clear embedding verdict survives a stray cue for another category.
STRONG = 0.12
WEAK = 0.05
RULE_CAP = 0.3

SECURITY_HINTS = frozenset({"security", SECURITY_CRITICAL})


class SecuritySource:
    """Why a prompt is flagged as security work, in order of authority."""

    HINT = "hint"
    RULE = "rule"
    DETECTOR = "detector"

# Keyword rules read only this many characters from each end of a prompt. The ask is stated at the
# start (an instruction) or at the end (a question after pasted material); the middle of a long
# prompt is the material itself, whose words describe it rather than the task. It also bounds the
# cost: Python's regex engine spends about a microsecond per character over all rules.
RULE_WINDOW = 2000

# Every pattern below is written in lower case and matched against the lowercased prompt, which is
# about four times faster than re.IGNORECASE.

# Terms that name a security task outright. They are searched in the whole prompt, not just the
# rule window: a missed flag costs more than the ~0.15 µs per character the search takes. Each is
# specific enough that benign prompts rarely use it: "secure" (a seat), "token" (NLP) and a bare
# "exploit" (a market, explore/exploit) are left out on purpose; exploit counts only next to what
# gets exploited.
_SECURITY_TERMS = re.compile(
    r"""\b(?:
        vulnerabilit(?:y|ies)
      | exploitable
      | (?:an|working|public|remote|kernel|zero[- ]day)\s+exploits?
      | exploit(?:s|ed|ing)?\s+(?:\w+\s+){0,2}?(?:vulnerabilit\w*|bugs?|flaws?|overflows?|weakness\w*|cve)
      | cve(?:-\d{4}-\d+|s)?
      | xss | xsrf | csrf | ssrf | sqli | rce | owasp | mitm
      | cross[- ]site[- ](?:scripting|request[- ]forgery)
      | server[- ]side[- ]request[- ]forgery
      | remote[- ]code[- ]execution
      | (?:sql|nosql|command|code|shell|os|ldap|xpath|xml|template|header|prompt|html)[- ]injection
      | (?:auth|authentication|authori[sz]ation|login|access[- ]control|2fa|mfa)[- ]bypass(?:es|ed|ing)?
      | bypass(?:es|ed|ing)?\s+(?:the\s+|our\s+|an?\s+)?
        (?:auth\w*|login|access[- ]control|2fa|mfa|permission\s+checks?)
      | privilege[- ]escalation | escalat\w+\s+(?:\w+\s+)?privileges? | escalate\s+to\s+(?:root|admin\w*)
      | pen(?:etration)?[- ]?test(?:s|ing|ers?)?
      | threat[- ]model(?:s|ing|ling)?
      | (?:secrets?|credentials?|api[- ]keys?|passwords?|private[- ]keys?|access[- ]tokens?)
        \s+(?:were\s+|was\s+|got\s+)?(?:leak\w*|expos\w*|compromis\w*)
      | leak(?:s|ed|ing)?\s+(?:\w+\s+){0,2}?(?:secrets?|credentials?|api[- ]keys?|passwords?|private[- ]keys?)
      | encryption\s+(?:review|audit)
      | (?:review|audit)\w*\s+(?:\w+\s+){0,3}?(?:encryption|cryptograph\w*)
      | security\s+(?:audit|review|assessment|scan\w*|hardening|flaws?|holes?|bugs?|issues?|patch\w*|risks?)
      | (?:audit|review)\w*\s+(?:\w+\s+){0,3}?(?:for\s+)?security
      | (?:path|directory)[- ]traversal | buffer[- ]overflow | use[- ]after[- ]free
      | insecure[- ]deseriali[sz]ation | session[- ](?:fixation|hijack\w*) | clickjacking
      | man[- ]in[- ]the[- ]middle | zero[- ]day | malware | ransomware
      | brute[- ]force\s+(?:attacks?|login\w*|attempts?)
      | attack[- ](?:surface|vectors?)
      | saniti[sz]\w*\s+(?:\w+\s+){0,3}?(?:against|to\s+prevent)\s+(?:\w+\s+){0,2}?injection
    )\b""",
    re.VERBOSE,
)


def _cue(source: str) -> re.Pattern[str]:
    return re.compile(source, re.MULTILINE)


# Keyword cues per category: (pattern, weight). A pattern counts once however often it matches,
# so a long prompt does not outvote a short one by repetition.
_RULES_BY_CATEGORY: dict[str, tuple[tuple[re.Pattern[str], float], ...]] = {
    SECURITY_CRITICAL: (
        (_SECURITY_TERMS, 0.2),
        (_cue(r"\b(?:security|hardening|harden\s+(?:the|our|this)|encrypt\w*|access[- ]control|rbac"
              r"|attackers?|malicious)\b"), WEAK),
    ),
    "complex_implementation": (
        (_cue(r"\b(?:architect\w*|re-?architect\w*|system\s+design|distributed|microservices?|event[- ]sourc\w*"
              r"|multi[- ](?:region|tenant|threaded)|lock[- ]free|consensus|raft|paxos|shard\w*|replicat\w+"
              r"|fault[- ]toleran\w*|zero[- ]downtime|without\s+downtime|federation|orchestrat\w*)\b"), STRONG),
        (_cue(r"\b(?:real[- ]time|scal(?:able|ability|es?\s+to)|end[- ]to[- ]end|from\s+scratch|concurren\w*"
              r"|pipeline|engine|platform|migrat\w+)\b"), WEAK),
    ),
    "standard_implementation": (
        (_cue(r"\b(?:write|create|implement|add|build|make|generate|convert|refactor|give\s+me|i\s+need)\b"
              r"\s+(?:\w+\s+){0,4}?(?:function|method|class|component|endpoint|script|query|tests?|hook"
              r"|regex|dockerfile|workflow|form|page|button|model|handler|decorator|migration|cli|route"
              r"|validation|toggle)s?\b"), STRONG),
        (_cue(r"\b(?:unit\s+tests?|pytest|jest|crud|rest\s+api|async/await)\b"), WEAK),
    ),
    "analysis_debug": (
        (_cue(r"\b(?:debug\w*|traceback|stack\s*trace|exception|segfault|segmentation\s+fault|crash\w*"
              r"|memory\s+leak|race\s+condition|root\s+cause|code\s+review|profil(?:e|ing)\s+(?:this|the|my|our)"
              r"|sentiment|anomal\w*|bottleneck|regression)\b"), STRONG),
        # Error class names: KeyError, NullPointerException ("terror" is the one English look-alike).
        (_cue(r"\b(?!terror\b)\w+(?:error|exception)\b"), STRONG),
        (_cue(r"\b(?:error|bug|fail\w*|not\s+working|doesn't\s+work|broken|slow\w*|latency|analy[sz]\w*|compare"
              r"|extract|classify|categori[sz]e|why\s+(?:does|is|do|did|are)"
              r"|review\s+(?:this|my|the)\s+(?:code|pr|pull\s+request|diff))\b"), WEAK),
    ),
    "documentation": (
        (_cue(r"\b(?:readme|docstrings?|jsdoc|javadoc|changelog|release\s+notes|runbook|openapi|swagger"
              r"|api\s+(?:docs|documentation|reference)|design\s+doc|decision\s+record|contributing\.md"
              r"|data\s+dictionary|document(?:ation)?\s+(?:the|this|our|these|every|all)"
              r"|(?:write|add|update|create)\s+(?:the\s+|some\s+)?(?:docs|documentation|comments))\b"), STRONG),
        (_cue(r"\b(?:docs|documentation|comments|tutorial|guide|onboarding|reference)\b"), WEAK),
    ),
    "simple_query": (
        # A short last line that asks a question: one-line answers, whatever the topic.
        (_cue(r"(?:\A|\n)[ \t]*(?:what(?:'s|\s+is|\s+are|\s+does|\s+do|\s+year|\s+time)?"
              r"|how\s+(?:do|can|many|much)\s+i?|which|who|when|where|is|are|does|define)\b"
              r"[^\n]{0,80}\s*\Z"), STRONG),
        (_cue(r"\b(?:stand\s+for|default\s+port|shortcut|syntax\s+for|difference\s+between"
              r"|convert\s+\d)\b"), WEAK),
    ),
    "chat": (
        (_cue(r"(?:\A|\n)[ \t]*(?:hi|hello|hey|howdy|yo|good\s+(?:morning|afternoon|evening)|thanks|thank\s+you"
              r"|cheers|bye|goodbye|ok|okay|lol|haha)\b"), STRONG),
        (_cue(r"\b(?:my\s+(?:order|account|subscription|refund|package|parcel|delivery)|refund|cancel\s+my"
              r"|how\s+are\s+you|just\s+(?:want\s+to\s+)?(?:chat|talk)|pretend\s+(?:to\s+be|you're|you\s+are)"
              r"|role[- ]?play)\b"), STRONG),
    ),
    "content": (
        (_cue(r"\b(?:summari[sz]\w*|summary|tl;?dr|translat\w*|paraphras\w*|rewrite|reword|proofread\w*"
              r"|grammar|spelling|shorten|condense)\b"), STRONG),
        (_cue(r"\b(?:email|blog\s+post|article|newsletter|essay|linkedin|press\s+release|tone|formal|concise"
              r"|simplify|bullet\s+points)\b"), WEAK),
    ),
    "reasoning": (
        (_cue(r"\b(?:prove|proof|theorem|probability|expected\s+value|integral|derivative|equation|solve\s+for"
              r"|how\s+many\s+ways|puzzle|riddle|syllogism|break[- ]even|logically|deduce)\b"), STRONG),
        (_cue(r"\b(?:calculate|compute|estimate|optimal|trade-?offs?|pros\s+and\s+cons|justify|constraints"
              r"|should\s+(?:we|i)\b[^.?\n]{0,60}\bor\b|schedule|allocate|step\s+by\s+step)\b"), WEAK),
        (_cue(r"\d\s*[-+*/^=×÷]\s*\d|\bx\^?\d"), WEAK),
    ),
    "creative": (
        (_cue(r"\b(?:poem|poetry|haiku|sonnet|limerick|lyrics|(?<!user\s)stor(?:y|ies)|fairy\s+tale|screenplay"
              r"|monologue|slogans?|taglines?|jingle|ad\s+copy|marketing\s+copy|brainstorm\w*|toast)\b"), STRONG),
        (_cue(r"\b(?:fiction|fantasy|sci-fi|villain|characters?|catchy|captions?|invent|imagine|names?\s+for"
              r"|ideas\s+for|come\s+up\s+with|creative|vivid)\b"), WEAK),
    ),
}

_RULES = tuple(_RULES_BY_CATEGORY[category] for category in CATEGORIES)

# Complexity: how much a capable model is needed, whatever the category. The category sets the
# floor (an architecture task is hard even when stated in one line); the text adds what the
# category cannot know: how much there is to read, how many steps and constraints, pasted code.
_COMPLEXITY_BASE: dict[str, float] = {
    SECURITY_CRITICAL: 0.55,
    "complex_implementation": 0.6,
    "standard_implementation": 0.35,
    "analysis_debug": 0.4,
    "documentation": 0.3,
    "simple_query": 0.05,
    "chat": 0.05,
    "content": 0.2,
    "reasoning": 0.45,
    "creative": 0.3,
}
# Log-scaled so the first few hundred tokens matter most; ~2000 tokens earns the full share.
_LENGTH_SHARE, _LENGTH_FULL_TOKENS = 0.25, 2000
_STEP_WEIGHT, _STEP_CAP = 0.03, 0.15
_CONSTRAINT_WEIGHT, _CONSTRAINT_CAP = 0.02, 0.1
_CODE_BLOCK_WEIGHT, _CODE_BLOCK_CAP = 0.05, 0.1

_STEP_MARKERS = re.compile(
    r"\b(?:first(?:ly)?|second(?:ly)?|third(?:ly)?|then|next|after\s+that|afterwards|finally|lastly|step\s+\d+)\b"
    r"|^[ \t]*\d+[.)]\s",
    re.MULTILINE,
)
_CONSTRAINT_MARKERS = re.compile(
    r"\b(?:must|should|needs?\s+to|required?|ensure|make\s+sure|without|at\s+least|at\s+most|no\s+more\s+than"
    r"|within|never|always|only)\b|^[ \t]*[-*•]\s",
    re.MULTILINE,
)
_CODE_FENCE = re.compile(r"^[ \t]*```", re.MULTILINE)


@dataclass(frozen=True)
class Classification:
    category: str  # one of router.domain.categories.CATEGORIES
    complexity: float  # in [0, 1]
    confidence: float  # in [0, 1], how sure the category is
    security_probability: float = 0.0  # the detector's
    hinted: bool = False  # the caller said it is security work
    ruled: bool = False  # an explicit security term is in the prompt

    @property
    def security(self) -> bool:
        """Flagged at the default threshold (the service applies each tenant's own)."""
        return bool(self.security_source())

    def security_source(self, threshold: float = DEFAULT_SECURITY_THRESHOLD) -> str:
        """Why the prompt is security work at this threshold ("hint", "rule", "detector"), or "" if it is not."""
        if self.hinted:
            return SecuritySource.HINT
        if self.ruled:
            return SecuritySource.RULE
        return SecuritySource.DETECTOR if self.security_probability >= threshold else ""


class Classifier:
    """Scores every category by exemplar similarity plus keyword rules; the best one wins."""

    def __init__(self, embedder: Embedder, exemplars_path: str | Path | None = None,
                 detector: SecurityDetector | None = None):
        self.detector = detector
        exemplars = load_exemplars(exemplars_path)
        # One batch call at start-up; classify() then costs one matrix-vector product.
        vectors = embedder.embed([text for category in CATEGORIES for text in exemplars[category]])
        # Similarity is measured around the exemplars' centroid. Prompts share a common direction
        # that squeezes every category's score together: under the static table a prompt's mean
        # cosine with the exemplars is 0.83 (MiniLM's 0.17), and its categories' scores span a
        # median 0.06 from best to worst, too little to tell security apart.
        self._centre = vectors.mean(axis=0)
        self._matrix = unit_rows(vectors - self._centre)
        self._rows = _category_rows([len(exemplars[category]) for category in CATEGORIES])

    def classify(self, text: str, embedding: np.ndarray, task_hint: str = "") -> Classification:
        """Classify a prompt from its text and its unit-norm embedding (computed by the caller)."""
        lowered = text.lower()
        window = _head_and_tail(lowered)
        scores = self._similarity_scores(embedding) + _rule_scores(window)
        order = np.argsort(scores)[::-1]
        category = CATEGORIES[int(order[0])]
        confidence = _margin_confidence(float(scores[order[0]] - scores[order[1]]))
        hinted = task_hint.strip().lower() in SECURITY_HINTS
        if hinted:
            # The caller knows the task is security work: that is a label, not a guess.
            category, confidence = SECURITY_CRITICAL, 1.0
        ruled = _SECURITY_TERMS.search(lowered) is not None
        if self.detector is not None:
            probability = self.detector.probability(window, embedding)
        else:
            probability = 1.0 if category == SECURITY_CRITICAL else 0.0
        flagged = hinted or ruled or probability >= DEFAULT_SECURITY_THRESHOLD
        if category == SECURITY_CRITICAL and not flagged:
            # The exemplars lean to security, the detector (better at it) does not: the next category.
            category = CATEGORIES[int(order[1])]
        return Classification(category, _complexity(window, len(text), category), confidence, probability,
                              hinted, ruled)

    def _similarity_scores(self, embedding: np.ndarray) -> np.ndarray:
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self._matrix.shape[1]:
            raise ValueError(f"embedding has {vector.shape[0]} dimensions, the exemplars {self._matrix.shape[1]}")
        centred = vector - self._centre
        # The appended -inf is what the padding in self._rows points at: it never reaches the top k.
        similarities = np.append(self._matrix @ centred / max(float(np.linalg.norm(centred)), 1e-12), -np.inf)
        return np.sort(similarities[self._rows], axis=1)[:, -TOP_K:].mean(axis=1)


def load_exemplars(path: str | Path | None = None) -> dict[str, list[str]]:
    """Read and check an exemplars file; the one shipped with the package when no path is given."""
    if path is None:
        source = "router/reading/exemplars.yaml"
        text = resources.files("router.reading").joinpath("exemplars.yaml").read_text(encoding="utf-8")
    else:
        source = str(path)
        text = Path(path).read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{source}: expected a mapping from category to a list of example prompts")
    unknown = [repr(name) for name in doc if name not in CATEGORIES]
    if unknown:
        raise ValueError(f"{source}: unknown category {', '.join(unknown)}; known: {', '.join(CATEGORIES)}")
    # A category without exemplars could only ever win on keywords: refuse rather than skew scores.
    missing = [category for category in CATEGORIES if not doc.get(category)]
    if missing:
        raise ValueError(f"{source}: no exemplars for {', '.join(missing)}")
    for category in CATEGORIES:
        items = doc[category]
        if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
            raise ValueError(f"{source}: {category} must be a list of non-empty strings")
        if len(items) < TOP_K:
            raise ValueError(f"{source}: {category} has {len(items)} exemplars, at least {TOP_K} are needed")
    return {category: [item.strip() for item in doc[category]] for category in CATEGORIES}


def _head_and_tail(lowered: str) -> str:
    if len(lowered) <= 2 * RULE_WINDOW:
        return lowered
    return lowered[:RULE_WINDOW] + "\n" + lowered[-RULE_WINDOW:]


@functools.lru_cache(maxsize=8)
def _rule_scores(window: str) -> np.ndarray:
    """Keyword score per category (in CATEGORIES order), each capped at RULE_CAP.

    The regexes are most of a classification's cost, and a prompt given a second look by the
    precise model is the same text: the last few answers are kept.
    """
    scores = np.array(
        [min(RULE_CAP, sum(weight for pattern, weight in rules if pattern.search(window))) for rules in _RULES]
    )
    scores.flags.writeable = False
    return scores


def _complexity(window: str, length_chars: int, category: str) -> float:
    """How demanding the prompt is, in [0, 1].

    Markers are counted in the rule window only: a prompt long enough to be cut has reached their
    caps long before; its length is taken whole.
    """
    tokens = length_chars / CHARS_PER_TOKEN  # exactness does not matter here
    length = _LENGTH_SHARE * min(1.0, math.log1p(tokens / 20) / math.log1p(_LENGTH_FULL_TOKENS / 20))
    steps = min(_STEP_CAP, _STEP_WEIGHT * len(_STEP_MARKERS.findall(window)))
    constraints = min(_CONSTRAINT_CAP, _CONSTRAINT_WEIGHT * len(_CONSTRAINT_MARKERS.findall(window)))
    code = min(_CODE_BLOCK_CAP, _CODE_BLOCK_WEIGHT * (len(_CODE_FENCE.findall(window)) // 2))
    return min(1.0, _COMPLEXITY_BASE[category] + length + steps + constraints + code)


def _category_rows(counts: list[int]) -> np.ndarray:
    """Exemplar indices per category, one row each, padded with the index one past the last.

    One gather and one sort then give every category's top k at once; a np.partition per
    category costs ~20 µs each, more than all the rest of classify().
    """
    padding = sum(counts)
    rows = np.full((len(counts), max(counts)), padding, dtype=np.intp)
    start = 0
    for row, count in enumerate(counts):
        rows[row, :count] = np.arange(start, start + count)
        start += count
    return rows


def _margin_confidence(margin: float) -> float:
    return 1.0 / (1.0 + math.exp(-margin / CONFIDENCE_SCALE))
