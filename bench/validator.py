"""The event validator's speed: the typed models (dashboard.domain.events) against the hand-written validator they
replaced (bench/validator_reference.py), side by side on the same events in one run.

    .venv/bin/python bench/validator.py [--events 100000] [--rounds 7] [--invalid 0.1] [--seed 7]

The events are the simulator's at 1,000 events/s (every kind, from fixed poles, detectors, car parks and spots, as
the live ingest sees them), a share of them spoiled in one field each (a wrong type, a value out of range, a point
outside the district, a bad time …). Each round validates all of them with each validator in turn; the figures
are the best round of each in CPU time of this process (the machine is shared: CPU time leaves out the time other
tenants hold the cores, and the best round is the one least disturbed), and the median of the rounds' ratios.
Three ways in:

- `dicts`: validate_event on parsed events (what the simulator's tests and the ingest service call per event);
- `bodies`: request bodies of 500 events as JSON bytes, parsed and validated as POST /api/v1/events does
  (the reference with json.loads, the models with json.loads and with orjson.loads);
- `variants`: the models' other ways in, for the choice of design: per-kind `model_validate` instead of the union's
  TypeAdapter; the TypeAdapter alone (models, no event dicts); each event's JSON bytes validated by pydantic itself
  (`validate_json`) against orjson.loads + validate_event; and a whole body validated by pydantic as JSON bytes
  (a list of the union), which must fall back to one event at a time as soon as one event in it is invalid.

Ends with one line of JSON (keys in bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import validator_reference as reference  # noqa: E402
from dashboard.domain import events as models  # noqa: E402
from dashboard.domain import rules as c  # noqa: E402

# A Wednesday in January (heating season), 10:00 Beijing time: a busy hour of every stream.
START = 1768953600.0
BODY_EVENTS = 500
# How an event is spoiled: (field chosen at random among its own) -> a wrong value.
SPOILERS: tuple[Callable[[Any], Any], ...] = (
    lambda v: None,  # missing as null
    lambda v: "x y",  # a string where a number, id or choice is due
    lambda v: -1e9 if isinstance(v, int | float) else 10**6,  # out of range
    lambda v: True,  # a boolean
    lambda v: "",  # empty
    lambda v: "2026-01-01T00:00:00",  # a time without a zone
)


def corpus(n: int, invalid: float, seed: int) -> tuple[list[dict[str, Any]], float]:
    """`n` raw events of every kind (a share `invalid` spoiled in one field each) and the `now` to judge them at."""
    from simulator.feed import Simulator

    sim = Simulator(seed, 1000, start=START)
    t0 = START + 2 * 3600  # 10:00 in Beijing
    span = n / 1000 * 1.05
    events = [dict(ev) for ev in sim.events(t0, t0 + span)][:n]
    # The hour's tickets, ticket updates and incidents (the live rate has few): 2 % of the events, spread in.
    durable = [dict(ev) for ev in sim.durable_events(t0 - 3 * 3600, t0 + span)][: n // 50]
    rng = random.Random(seed)
    for ev in durable:
        events[rng.randrange(len(events))] = ev
    for ev in rng.sample(events, int(len(events) * invalid)):
        name = rng.choice(list(ev))
        ev[name] = rng.choice(SPOILERS)(ev[name])
    return events, t0 + span


def _per_event(validate: Callable[[Any, float], tuple[Any, Any]], events: list[Any], now: float) -> float:
    """CPU seconds to validate every event one by one."""
    t = time.process_time()
    for ev in events:
        validate(ev, now)
    return time.process_time() - t


def _per_body(loads: Callable[[bytes], Any], validate_batch: Callable[..., Any], bodies: list[bytes],
              now: float) -> float:
    """CPU seconds to parse and validate every body."""
    t = time.process_time()
    for body in bodies:
        validate_batch(loads(body), now, BODY_EVENTS)
    return time.process_time() - t


def _by_kind(raw: Any, now: float) -> tuple[Any, Any]:
    """The models chosen by hand (a dict lookup on kind) instead of the discriminated union."""
    model = models.MODEL_OF_KIND.get(raw.get("kind"))
    if model is None:
        return None, "kind"
    try:
        return model.model_validate(raw, context={"now": now}).to_event(), None
    except ValidationError as exc:
        return None, exc


def _union_only(raw: Any, now: float) -> tuple[Any, Any]:
    """The union's TypeAdapter alone: models, no event dicts (what the validation itself costs)."""
    try:
        return models.EVENT_ADAPTER.validate_python(raw, context={"now": now}), None
    except ValidationError as exc:
        return None, exc


def _json_each(raw: bytes, now: float) -> tuple[Any, Any]:
    """pydantic parsing and validating one event's JSON bytes itself."""
    try:
        return models.EVENT_ADAPTER.validate_json(raw, context={"now": now}).to_event(), None
    except ValidationError as exc:
        return None, exc


def _orjson_each(raw: bytes, now: float) -> tuple[Any, Any]:
    """orjson parsing one event's JSON bytes, validate_event validating it."""
    return models.validate_event(orjson.loads(raw), now)


_BODY = TypeAdapter(list[models.AnyEvent])


def _json_body(raw: bytes, now: float, max_events: int) -> Any:
    """A body's bytes validated by pydantic as a list of events; one event at a time when one is invalid."""
    try:
        found = _BODY.validate_json(raw, context={"now": now})
    except ValidationError:
        return models.validate_batch(orjson.loads(raw), now, max_events)
    return [(i, m.to_event()) for i, m in enumerate(found)], [], None


def measure(n: int, rounds: int, invalid: float, seed: int, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Both validators (and the models' variants) on the same events; rates in events per second."""
    events, now = corpus(n, invalid, seed)
    kinds = Counter(ev.get("kind") if ev.get("kind") in c.EVENT_KINDS else "spoiled kind" for ev in events)
    # The same verdicts, or the comparison means nothing.
    ref_ok = sum(reference.validate_event(ev, now)[1] is None for ev in events)
    new_ok = sum(models.validate_event(ev, now)[1] is None for ev in events)
    say(f"{len(events):,} events ({', '.join(f'{k} {v:,}' for k, v in kinds.most_common())}); valid: reference "
        f"{ref_ok:,}, models {new_ok:,}")
    bodies = [json.dumps(events[i : i + BODY_EVENTS]).encode() for i in range(0, len(events), BODY_EVENTS)]
    each_json = [orjson.dumps(ev) for ev in events]
    runs: dict[str, Callable[[], float]] = {
        "reference_dicts": lambda: _per_event(reference.validate_event, events, now),
        "models_dicts": lambda: _per_event(models.validate_event, events, now),
        "reference_bodies_json": lambda: _per_body(json.loads, reference.validate_batch, bodies, now),
        "models_bodies_json": lambda: _per_body(json.loads, models.validate_batch, bodies, now),
        "models_bodies_orjson": lambda: _per_body(orjson.loads, models.validate_batch, bodies, now),
        "variant_model_validate_by_kind": lambda: _per_event(_by_kind, events, now),
        "variant_union_without_event_dicts": lambda: _per_event(_union_only, events, now),
        "variant_validate_json_each": lambda: _per_event(_json_each, each_json, now),
        "variant_orjson_loads_each": lambda: _per_event(_orjson_each, each_json, now),
        "variant_validate_json_bodies": lambda: _per_body(lambda b: b, _json_body, bodies, now),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up: caches (the geography's memo), branch predictors
        run()
    for i in range(rounds):
        for name, run in runs.items():
            times[name].append(run())
        say(f"round {i + 1}/{rounds}: reference {len(events) / times['reference_dicts'][-1]:,.0f} ev/s, "
            f"models {len(events) / times['models_dicts'][-1]:,.0f} ev/s")
    rate = {name: round(len(events) / min(ts)) for name, ts in times.items()}

    def ratio(new: str, old: str) -> float:
        """The median over the rounds of old time / new time."""
        return round(statistics.median(o / nw for o, nw in zip(times[old], times[new], strict=True)), 3)

    return {
        "validator_events": len(events),
        "validator_invalid_share": invalid,
        "validator_rounds": rounds,
        "validator_reference_ev_per_s": rate["reference_dicts"],
        "validator_models_ev_per_s": rate["models_dicts"],
        "validator_ratio": round(rate["models_dicts"] / rate["reference_dicts"], 3),
        "validator_ratio_median": ratio("models_dicts", "reference_dicts"),
        "validator_bodies_reference_ev_per_s": rate["reference_bodies_json"],
        "validator_bodies_models_ev_per_s": rate["models_bodies_json"],
        "validator_bodies_models_orjson_ev_per_s": rate["models_bodies_orjson"],
        "validator_bodies_ratio": round(rate["models_bodies_json"] / rate["reference_bodies_json"], 3),
        "validator_variants_ev_per_s": {name.removeprefix("variant_"): rate[name] for name in runs
                                        if name.startswith("variant_")},
        "validator_same_verdicts": ref_ok == new_ok,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print one line of JSON last."""
    p = argparse.ArgumentParser(prog="bench/validator.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=100_000, help="events to validate (default 100,000)")
    p.add_argument("--rounds", type=int, default=7, help="rounds of each (default 7; the best counts)")
    p.add_argument("--invalid", type=float, default=0.1, help="share of spoiled events (default 0.1)")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    out = measure(args.events, args.rounds, args.invalid, args.seed)
    print(f"validate_event: reference {out['validator_reference_ev_per_s']:,} ev/s, models "
          f"{out['validator_models_ev_per_s']:,} ev/s, ratio {out['validator_ratio']} (median of rounds "
          f"{out['validator_ratio_median']}); request bodies: reference "
          f"{out['validator_bodies_reference_ev_per_s']:,}, models {out['validator_bodies_models_ev_per_s']:,} "
          f"(orjson {out['validator_bodies_models_orjson_ev_per_s']:,}) ev/s")
    print(json.dumps(out, separators=(", ", ": ")), flush=True)
    return 0 if out["validator_same_verdicts"] else 1


if __name__ == "__main__":
    sys.exit(main())
