"""Waste in a tenant's ledger: retry storms, timed-out calls whose answer went unused, and decisions
that never heard back.

Retry storms. The same caller sending the same prompt again and again is a client bug (a retry loop
without backoff, a double-submitting form) that pays for one answer many times. A call's caller is
its metadata's user when set, else its team and feature: without a user, identical prompts from
different people using one feature look like one caller, so a tenant that wants them told apart sets
the user. A prompt is its `prompt_key` (a digest of tenant and whole conversation); entries logged
before the key existed have "" and are never matched as repeats. Two triggers, both per (caller, key):

- burst: at least `storm_min_calls` calls within any `storm_window_seconds`. The storm is the run of
  calls covered by such windows, split where two consecutive calls are more than a window apart.
- error repeat: a call that errored, repeated within `error_repeat_seconds`, again and again while
  each repeat errors too. The decision named fallbacks for a failure; re-sending at once pays again
  for what is likely the same failure.

A call is in at most one storm: bursts are found first, error repeats among the calls left. A storm
needed one answer: its waste is the cost of every call but the one kept, the first that did not
error (the first, if all did). A cache hit costs nothing, nor does a follower served the answer of
an identical request in flight; a storm of them wastes $0, yet it is still reported (its calls
counted) because the client loop behind it is the bug.

Timeouts. A call whose fed-back latency is past the tenant's limit and whose answer was not used:
it errored, or was rated 0 (the caller gave up on it). Only calls that reported feedback count; a
slow answer that was used is slow, not wasted. Grouped by team, feature and model, since the model
is what routing can change.

Abandoned. A decision that called for feedback (neither a cache hit nor a follower the service
closed with its leader's answer) that never got it: expired (no feedback within the service's wait,
whether or not it was then learned with the tenant's expired_quality), or, when
`abandoned_after_seconds` is set, still pending that long after it was made. Its cost is the
ledger's: the estimate, since no actual cost was reported. Grouped by team and feature, the owners
who can fix the missing feedback call.

Costs are the ledger's `cost_usd`: actual when settled, the estimate otherwise. The kinds can overlap
(a timed-out repeat in a storm), so each kind's total counts its own calls and `Waste.wasted_usd`
counts each decision once.

Pure and O(n log n): one sort by time, then linear passes. No clock: the caller passes `now`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

from router.domain.types import LedgerEntry, WasteAlert

SAMPLE_IDS = 5  # decision ids kept per storm or group: enough to look a case up, few enough to show


class StormTrigger:
    BURST = "burst"
    ERROR_REPEAT = "error_repeat"


@dataclass(frozen=True)
class WasteSettings:
    # 5 identical prompts within a minute is faster than a person re-asks after reading an answer,
    # and more than a sane retry policy (about 3 tries with backoff) sends.
    storm_window_seconds: float = 60.0
    storm_min_calls: int = 5
    # Within 10 s of an error is a retry without backoff and without trying the decision's fallbacks.
    error_repeat_seconds: float = 10.0
    # The tenant's latency limit; None: no timeout analysis (there is no sensible limit for everyone).
    timeout_ms: float | None = None
    # Pending this long also counts as abandoned; None: only expired decisions do, so the service's
    # feedback wait alone says when a decision is abandoned, as Stats' expired count does.
    abandoned_after_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.storm_window_seconds <= 0:
            raise ValueError(f"storm_window_seconds must be positive, got {self.storm_window_seconds}")
        if self.storm_min_calls < 2:
            raise ValueError(f"storm_min_calls must be at least 2, got {self.storm_min_calls}")
        if self.error_repeat_seconds < 0:
            raise ValueError(f"error_repeat_seconds must not be negative, got {self.error_repeat_seconds}")
        if self.timeout_ms is not None and self.timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be positive, got {self.timeout_ms}")
        if self.abandoned_after_seconds is not None and self.abandoned_after_seconds <= 0:
            raise ValueError(f"abandoned_after_seconds must be positive, got {self.abandoned_after_seconds}")


@dataclass(frozen=True)
class RetryStorm:
    trigger: str  # StormTrigger
    tenant_id: str
    user: str  # "" when the caller is a team and feature
    team: str  # the first call's (a user's calls may come from several)
    feature: str
    prompt_key: str
    calls: int
    errors: int
    cache_hits: int
    deduplicated: int  # followers served the answer of an identical request in flight
    first_at: float  # UNIX time of the first call
    last_at: float
    cost_usd: float  # every call's
    wasted_usd: float  # every call's but the one kept
    sample_ids: tuple[str, ...]  # the first calls' decision ids, in time order

    @property
    def caller(self) -> str:
        """"user=ann", or "team=search/feature=chat" for calls that name no user."""
        return f"user={self.user}" if self.user else f"team={self.team}/feature={self.feature}"


@dataclass(frozen=True)
class TimeoutGroup:
    team: str
    feature: str
    model: str
    timeouts: int  # answered calls past the limit whose answer was not used
    answered: int  # the group's calls that reported feedback
    wasted_usd: float  # what the timeouts cost
    max_latency_ms: float  # the slowest timeout's
    sample_ids: tuple[str, ...]

    @property
    def share(self) -> float:
        return self.timeouts / self.answered


@dataclass(frozen=True)
class AbandonedGroup:
    team: str
    feature: str
    abandoned: int
    decisions: int  # the group's decisions that called for feedback (not cache hits or served followers)
    cost_usd: float  # the abandoned decisions' estimates
    sample_ids: tuple[str, ...]

    @property
    def share(self) -> float:
        return self.abandoned / self.decisions


@dataclass(frozen=True)
class Waste:
    storms: list[RetryStorm]  # most wasteful first
    timeouts: list[TimeoutGroup]  # most wasteful first; empty without a timeout limit
    abandoned: list[AbandonedGroup]  # costliest first
    wasted_usd: float  # all three kinds, each decision counted once

    @property
    def storm_calls(self) -> int:
        return sum(storm.calls for storm in self.storms)

    @property
    def storm_wasted_usd(self) -> float:
        return sum(storm.wasted_usd for storm in self.storms)

    @property
    def timeout_calls(self) -> int:
        return sum(group.timeouts for group in self.timeouts)

    @property
    def timeout_wasted_usd(self) -> float:
        return sum(group.wasted_usd for group in self.timeouts)

    @property
    def abandoned_calls(self) -> int:
        return sum(group.abandoned for group in self.abandoned)

    @property
    def abandoned_usd(self) -> float:
        return sum(group.cost_usd for group in self.abandoned)


def find_waste(entries: Iterable[LedgerEntry], settings: WasteSettings, now: float) -> Waste:
    """The waste in one tenant's ledger entries (any order), as of UNIX time `now`."""
    ordered = sorted(entries, key=attrgetter("created_at", "decision_id"))
    storms, storm_waste = _storms(ordered, settings)
    timeouts, timed_out = _timeouts(ordered, settings.timeout_ms)
    abandoned, unanswered = _abandoned(ordered, settings.abandoned_after_seconds, now)
    wasted = {e.decision_id: e.cost_usd for e in (*storm_waste, *timed_out, *unanswered)}
    return Waste(storms=storms, timeouts=timeouts, abandoned=abandoned, wasted_usd=sum(wasted.values()))


def waste_alerts(waste: Waste, detected_at: float, min_wasted_usd: float = 0.0) -> list[WasteAlert]:
    """One alert per storm that wasted at least `min_wasted_usd` (at $0, storms of cache hits and followers too)."""
    return [
        WasteAlert(tenant_id=s.tenant_id, team=s.team, feature=s.feature, caller=s.caller, trigger=s.trigger,
                   first_decision_id=s.sample_ids[0], started_at=s.first_at, ended_at=s.last_at, calls=s.calls,
                   wasted_usd=s.wasted_usd, detected_at=detected_at)
        for s in waste.storms if s.wasted_usd >= min_wasted_usd
    ]


# --- Retry storms --------------------------------------------------------------------------------


def _storms(ordered: list[LedgerEntry], settings: WasteSettings) -> tuple[list[RetryStorm], list[LedgerEntry]]:
    """Every storm, most wasteful first, and the calls each wasted."""
    # Most prompts are sent once: counting keys first spares grouping those by caller.
    sent = Counter(entry.prompt_key for entry in ordered)
    repeats: defaultdict[tuple[str | tuple[str, str], str], list[LedgerEntry]] = defaultdict(list)
    for entry in ordered:
        if entry.prompt_key and sent[entry.prompt_key] > 1:
            # The caller: the user, else (team, feature), a tuple no user's string equals. Inline:
            # this runs once per entry, where a function call is a measurable share of the time.
            caller = entry.user or (entry.team, entry.feature)
            repeats[caller, entry.prompt_key].append(entry)
    storms, wasted = [], []
    for calls in repeats.values():
        if len(calls) < 2:
            continue
        for trigger, run in _runs(calls, settings):
            storm, run_waste = _storm(trigger, run)
            storms.append(storm)
            wasted += run_waste
    storms.sort(key=lambda s: (-s.wasted_usd, -s.calls, s.first_at, s.sample_ids[0]))
    return storms, wasted


def _in_burst(times: list[float], window: float, min_calls: int) -> list[bool]:
    """Whether each call lies in some window of `window` seconds holding at least `min_calls` calls.

    Two pointers: `end` is the last call within a window of `start`, and `reach` the furthest call
    any qualifying window starting at or before `start` covers; both only move forward, so O(n)."""
    marks, end, reach = [], 0, -1
    for start, at in enumerate(times):
        end = max(end, start)
        while end + 1 < len(times) and times[end + 1] - at <= window:
            end += 1
        if end - start + 1 >= min_calls:
            reach = end
        marks.append(reach >= start)
    return marks


def _runs(calls: list[LedgerEntry], settings: WasteSettings) -> list[tuple[str, list[LedgerEntry]]]:
    """One caller's calls of one prompt (in time order) cut into storms: bursts, then error repeats
    among the calls no burst took."""
    times = [call.created_at for call in calls]
    window = settings.storm_window_seconds
    in_burst = _in_burst(times, window, settings.storm_min_calls)
    runs, i = [], 0
    while i < len(calls):
        j = i + 1
        if in_burst[i]:
            while j < len(calls) and in_burst[j] and times[j] - times[j - 1] <= window:
                j += 1
            runs.append((StormTrigger.BURST, calls[i:j]))
        else:
            while (j < len(calls) and not in_burst[j] and calls[j - 1].error
                   and times[j] - times[j - 1] <= settings.error_repeat_seconds):
                j += 1
            if j - i >= 2:
                runs.append((StormTrigger.ERROR_REPEAT, calls[i:j]))
        i = j
    return runs


def _storm(trigger: str, calls: list[LedgerEntry]) -> tuple[RetryStorm, list[LedgerEntry]]:
    """The storm and the calls it wasted: all but the first that did not error (the first if all did)."""
    kept = next((call for call in calls if not call.error), calls[0])
    wasted = [call for call in calls if call is not kept]
    first = calls[0]
    storm = RetryStorm(
        trigger=trigger, tenant_id=first.tenant_id, user=first.user, team=first.team, feature=first.feature,
        prompt_key=first.prompt_key, calls=len(calls), errors=sum(call.error for call in calls),
        cache_hits=sum(call.cache_hit for call in calls), deduplicated=sum(call.deduplicated for call in calls),
        first_at=first.created_at, last_at=calls[-1].created_at, cost_usd=sum(call.cost_usd for call in calls),
        wasted_usd=sum(call.cost_usd for call in wasted), sample_ids=_sample(calls),
    )
    return storm, wasted


# --- Timeouts and abandoned decisions ------------------------------------------------------------


def _answered(entry: LedgerEntry) -> bool:
    """The caller reported on a call it made: not a cache hit, an expiry or a call never made."""
    return entry.settled_at is not None and not (entry.cache_hit or entry.expired or entry.not_called)


def _unused(entry: LedgerEntry) -> bool:
    """The answer was not used: the call errored, or was rated 0."""
    return entry.error or (entry.quality is not None and entry.quality <= 0)


def _timeouts(ordered: list[LedgerEntry], limit_ms: float | None) -> tuple[list[TimeoutGroup], list[LedgerEntry]]:
    """Timeouts per (team, feature, model), most wasteful first, and the timed-out calls."""
    if limit_ms is None:
        return [], []
    answered: Counter[tuple[str, str, str]] = Counter()
    found: defaultdict[tuple[str, str, str], list[LedgerEntry]] = defaultdict(list)
    for entry in ordered:
        if not _answered(entry):
            continue
        key = (entry.team, entry.feature, entry.model)
        answered[key] += 1
        if entry.latency_ms > limit_ms and _unused(entry):
            found[key].append(entry)
    groups = [
        TimeoutGroup(team=team, feature=feature, model=model, timeouts=len(calls),
                     answered=answered[(team, feature, model)], wasted_usd=sum(call.cost_usd for call in calls),
                     max_latency_ms=max(call.latency_ms for call in calls), sample_ids=_sample(calls))
        for (team, feature, model), calls in found.items()
    ]
    groups.sort(key=lambda g: (-g.wasted_usd, -g.timeouts, g.team, g.feature, g.model))
    return groups, [call for calls in found.values() for call in calls]


def _is_abandoned(entry: LedgerEntry, after_seconds: float | None, now: float) -> bool:
    if entry.expired:
        return True
    return after_seconds is not None and entry.settled_at is None and now - entry.created_at >= after_seconds


def _abandoned(ordered: list[LedgerEntry], after_seconds: float | None,
               now: float) -> tuple[list[AbandonedGroup], list[LedgerEntry]]:
    """Abandoned decisions per (team, feature), costliest first, and the decisions."""
    decisions: Counter[tuple[str, str]] = Counter()
    found: defaultdict[tuple[str, str], list[LedgerEntry]] = defaultdict(list)
    for entry in ordered:
        if entry.cache_hit or entry.deduplicated:
            continue
        key = (entry.team, entry.feature)
        decisions[key] += 1
        if _is_abandoned(entry, after_seconds, now):
            found[key].append(entry)
    groups = [
        AbandonedGroup(team=team, feature=feature, abandoned=len(calls), decisions=decisions[(team, feature)],
                       cost_usd=sum(call.cost_usd for call in calls), sample_ids=_sample(calls))
        for (team, feature), calls in found.items()
    ]
    groups.sort(key=lambda g: (-g.cost_usd, -g.abandoned, g.team, g.feature))
    return groups, [call for calls in found.values() for call in calls]


def _sample(calls: list[LedgerEntry]) -> tuple[str, ...]:
    return tuple(call.decision_id for call in calls[:SAMPLE_IDS])
