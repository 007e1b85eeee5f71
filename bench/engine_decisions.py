"""Benchmark: decisions per second of the pure-Python engine on one core.

1,000,000 candidates over 200,000 partners and 20 triggers, with ledgers of recent
touches on every channel, three frequency caps, topic cooldowns, arbitration and an
office-hours send window with German public holidays per federal state. Only the call
to ``decide`` is timed; generating the input is not.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import (  # noqa: E402
    Calendar,
    Candidate,
    CapRule,
    Channel,
    Consent,
    MessageClass,
    Outcome,
    PartnerFacts,
    Policy,
    SendWindow,
    Touch,
    decide,
)

NOW = datetime(2026, 11, 23, 9, 0)
DAY = timedelta(days=1)
REGIONS = [
    "BB",
    "BE",
    "BW",
    "BY",
    "HB",
    "HE",
    "HH",
    "MV",
    "NI",
    "NW",
    "RP",
    "SH",
    "SL",
    "SN",
    "ST",
    "TH",
]
TOPICS = ["offers", "seminars", "service", "lifecycle", None]
CHANNEL_SETS = [
    (Channel.EMAIL,),
    (Channel.EMAIL, Channel.SMS),
    (Channel.SMS, Channel.EMAIL),
    (Channel.PHONE,),
    (Channel.NEWSLETTER,),
]


def build(partners: int, candidates: int, triggers: int, seed: int = 7):
    rnd = random.Random(seed)
    consent_sets = [
        frozenset(Consent),
        frozenset({Consent.EMAIL}),
        frozenset({Consent.EMAIL, Consent.SMS}),
        frozenset(),
    ]
    facts, ledger = {}, {}
    for pid in range(1, partners + 1):
        facts[pid] = PartnerFacts(
            pid,
            email=f"p{pid}@example.com" if rnd.random() > 0.03 else None,
            consents=consent_sets[rnd.randrange(4) if rnd.random() < 0.3 else 0],
            phone="+4940%07d" % pid if rnd.random() > 0.2 else None,
            timezone="Europe/Berlin" if rnd.random() > 0.05 else "America/New_York",
            country="DE",
            region=rnd.choice(REGIONS),
            preferred_channel=rnd.choice([None, None, Channel.EMAIL, Channel.SMS]),
        )
        ledger[pid] = [
            Touch(
                NOW - timedelta(hours=rnd.randrange(1, 24 * 30)),
                rnd.choice(
                    [Channel.EMAIL, Channel.SMS, Channel.PHONE, Channel.NEWSLETTER, Channel.LETTER]
                ),
                trigger_id=rnd.choice([None, rnd.randrange(1, triggers + 1)]),
                topic=rnd.choice(TOPICS),
                counts=rnd.random() > 0.1,
            )
            for _ in range(rnd.randrange(0, 7))
        ]
    trigger_defs = [
        dict(
            priority=rnd.randrange(0, 10),
            value=float(rnd.randrange(0, 100)),
            message_class=rnd.choice(list(MessageClass)),
            topic=rnd.choice(TOPICS),
            channels=rnd.choice(CHANNEL_SETS),
            cooldown=rnd.choice([None, 30 * DAY, 60 * DAY]),
        )
        for _ in range(triggers)
    ]
    cands = []
    for i in range(candidates):
        tid = rnd.randrange(1, triggers + 1)
        cands.append(
            Candidate(
                trigger_id=tid,
                partner_id=rnd.randrange(1, partners + 1),
                occurrence_key=f"occ:{i % 50}",
                earliest=None if rnd.random() > 0.2 else NOW + timedelta(hours=rnd.randrange(48)),
                latest=None if rnd.random() > 0.3 else NOW + timedelta(days=rnd.randrange(1, 20)),
                **trigger_defs[tid - 1],
            )
        )
    policy = Policy(
        caps=(
            CapRule(3, 7 * DAY),
            CapRule(1, 14 * DAY, Channel.SMS),
            CapRule(1, 30 * DAY, Channel.PHONE),
        ),
        topic_cooldowns=(("offers", 14 * DAY), ("seminars", 7 * DAY)),
        arbitration_window=DAY,
        max_defer=14 * DAY,
        window=SendWindow(frozenset(range(6)), clock(8), clock(20), skip_holidays=True),
    )
    decided = {
        (rnd.randrange(1, triggers + 1), rnd.randrange(1, partners + 1), "occ:1")
        for _ in range(candidates // 100)
    }
    return cands, facts, ledger, policy, decided


def main(partners=200_000, candidates=1_000_000, triggers=20):
    cands, facts, ledger, policy, decided = build(partners, candidates, triggers)
    calendar = Calendar()
    start = time.process_time()
    wall = time.perf_counter()
    decisions = decide(
        cands, facts, now=NOW, ledger=ledger, policy=policy, decided=decided, calendar=calendar
    )
    cpu = time.process_time() - start
    wall = time.perf_counter() - wall
    outcomes = {o.value: 0 for o in Outcome}
    for d in decisions:
        outcomes[d.outcome.value] += 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "bench": "engine_decisions",
                "value": round(len(decisions) / wall),
                "unit": "decisions/s",
                "peak_rss_mb": round(peak_mb),
                "candidates": len(cands),
                "partners": partners,
                "triggers": triggers,
                "seconds": round(wall, 2),
                "cpu_seconds": round(cpu, 2),
                "outcomes": outcomes,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
