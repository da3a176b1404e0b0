"""The cache's false-hit guard: which pairs of questions it may treat as the same question.

The guard never sees embeddings: each test passes the similarity a pair would have, usually 1.0,
so that only the guard's own judgement is under test.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.cache.guard import DEFAULT_THRESHOLD, PREFILTER_STATIC_COSINE, GuardVerdict, judge

SAME = 1.0  # a similarity that passes any threshold


def kind(verdict: GuardVerdict) -> str:
    """The rule that rejected, without the details ("numbers differ: 2014 vs 2015" -> "numbers differ")."""
    return verdict.reason.split(":")[0]


# --- Rewordings of one question pass --------------------------------------------------------------


@pytest.mark.parametrize(("query", "candidate"), [
    ("How can I learn Photoshop?", "What is the best way to learn Photoshop?"),
    ("Why does US support Pakistan?", "Why does the US support Pakistan?"),
    ("What is your 2017 New Year's resolution?", "What is your New Year's Resolution(s) for 2017?"),
    ("How do I delete WhatsApp chats permanently?", "How can I delete permanently my whatsapp chat?"),
    ("Which laptop is best under Rs 30,000?", "What is the best laptop under 30000 rupees?"),
    ("What do you think about the removal of the 3.5mm jack from the iPhone 7?",
     "How do you feel about Apple removing the 3.5 mm headphone jack in iPhone 7?"),
])
def test_a_reworded_question_with_the_same_specifics_passes(query, candidate):
    verdict = judge(query, candidate, SAME)
    assert verdict.accepted, verdict.reason
    assert verdict.reason == ""


def test_a_name_only_one_side_spells_out_is_not_a_difference():
    assert judge("Why is Quora biased against Trump?", "Why does Quora hate Donald J Trump?", SAME).accepted


def test_a_possessive_or_plural_spelling_of_a_name_is_the_same_name():
    assert judge("What is better, Burger King or McDonald's?", "Which do you prefer, McDonalds or Burger King?",
                 SAME).accepted


def test_capitalised_words_opening_a_sentence_or_line_are_not_names():
    query = "Hi! Set up CI for our project.\n\nDetails:\n- Upload the coverage report.\n- Fail on lint errors."
    candidate = "Set up CI for our project.\n\nRequirements:\n- Fail on lint errors.\n- Upload the coverage report."
    assert judge(query, candidate, SAME).accepted


def test_title_case_function_words_are_not_names():
    assert judge("What Is The Best Way To Learn Python?", "How Do I Learn Python?", SAME).accepted


# --- A different specific rejects -----------------------------------------------------------------


@given(st.integers(1900, 2100), st.integers(1900, 2100),
       st.sampled_from(["What are some good psychological thriller movies of {}?",
                        "Who won the Super Bowl in {}?",
                        "What major events happened in {}?"]))
def test_questions_differing_only_in_a_year_are_never_judged_the_same(year_a, year_b, template):
    verdict = judge(template.format(year_a), template.format(year_b), SAME)
    assert verdict.accepted == (year_a == year_b)
    if year_a != year_b:
        assert kind(verdict) == "numbers differ"


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_changing_a_number_flips_an_accepted_pair_to_rejected(n, m):
    query = "Can I get a full ride scholarship with {} on the new SAT?"
    candidate = "Is a full ride scholarship possible with a new SAT score of {}?"
    assert judge(query.format(n), candidate.format(n), SAME).accepted
    assert judge(query.format(n), candidate.format(m), SAME).accepted == (n == m)


@pytest.mark.parametrize(("query", "candidate"), [
    ("Is it possible to score 99 percentile in CAT?", "Is it possible to score 99.5+ percentile on CAT?"),
    ("How much does it cost to replace the tires of a BMW 530d?",
     "How much does it cost to replace the tires of a BMW 520d?"),
    ("What are good movies?", "What are good movies of 2015?"),
    ("I was charged two times this month.", "I was charged three times this month."),
])
def test_different_numbers_reject(query, candidate):
    assert kind(judge(query, candidate, SAME)) == "numbers differ"


@pytest.mark.parametrize(("query", "candidate"), [
    ("Why am I gaining weight?", "Why am I not gaining weight?"),
    ("Why do my plants grow?", "Why don't my plants grow?"),
    ("Why do my plants grow?", "Why don\u2019t my plants grow?"),
    ("Can I travel to Canada with a visa?", "Can I travel to Canada without a visa?"),
])
def test_a_negation_on_one_side_only_rejects(query, candidate):
    assert kind(judge(query, candidate, SAME)) == "negation differs"


def test_only_narrows_a_question():
    verdict = judge("Why do women shave their legs?", "Why do women ONLY shave their legs?", SAME)
    assert kind(verdict) == "quantifier differs"


@pytest.mark.parametrize(("query", "candidate"), [
    ("Where is the Royal Enfield Service Center in Varanasi city?",
     "Where is the Royal Enfield Service Center in Faridabad city?"),
    ("What is the property tax rate in Granville, Ohio compared to Utah?",
     "What is the property tax rate in Granville, Ohio compared to California?"),
])
def test_a_name_swapped_for_another_rejects(query, candidate):
    verdict = judge(query, candidate, SAME)
    assert kind(verdict) == "names differ"
    assert "vs" in verdict.reason  # the reason names what differs


# --- The threshold --------------------------------------------------------------------------------


def test_a_similarity_below_the_threshold_rejects_and_the_score_is_the_similarity():
    verdict = judge("How do I learn Go?", "How do I learn Go?", 0.5)
    assert verdict == GuardVerdict(False, 0.5, verdict.reason)
    assert "below" in verdict.reason


def test_the_threshold_is_inclusive_and_defaults_to_DEFAULT_THRESHOLD():
    assert judge("How do I learn Go?", "How can I learn Go?", DEFAULT_THRESHOLD).accepted
    assert not judge("How do I learn Go?", "How can I learn Go?", DEFAULT_THRESHOLD - 1e-6).accepted
    assert judge("How do I learn Go?", "How can I learn Go?", 0.5, threshold=0.5).accepted


def test_the_thresholds_are_similarities():
    assert 0 < DEFAULT_THRESHOLD <= 1
    assert 0 < PREFILTER_STATIC_COSINE <= 1


# --- Properties -----------------------------------------------------------------------------------

fragments = st.sampled_from([
    "How", "do", "I", "learn", "Python", "in", "2016", "not", "only", "Paris", "London", "the", "best",
    "way", "to", "get", "a", "job", "3.5", "30,000", "can't", "never", "Why", "What", "is", "McDonald's",
    "?", ".", "!", "\n", "-", ":", "two", "one", "US", "USA", "Kraków", "C++", "don\u2019t",
])
texts = st.one_of(st.lists(fragments, max_size=14).map(" ".join), st.text(max_size=60))
similarities = st.floats(0.0, 1.0)


@given(texts, texts, similarities)
def test_the_verdict_is_symmetric_in_query_and_candidate(a, b, similarity):
    forward, backward = judge(a, b, similarity), judge(b, a, similarity)
    assert forward.accepted == backward.accepted
    assert forward.score == backward.score == similarity
    assert kind(forward) == kind(backward)


@given(texts, st.floats(DEFAULT_THRESHOLD, 1.0))
def test_a_question_is_always_the_same_as_itself(text, similarity):
    assert judge(text, text, similarity).accepted


@given(texts, texts, similarities)
def test_a_rejection_always_says_why_and_an_acceptance_never_does(a, b, similarity):
    verdict = judge(a, b, similarity)
    assert verdict.accepted == (verdict.reason == "")
