"""The demo's story, told on a fresh demo database by ``make demo`` (through ``odoo-bin
shell``, with ``env`` given): the shipped journeys are started and a few contacts are put
at different points of them, as if they had entered days ago. Only the demo database
gets this; the test database never runs it.

Times are moved back with SQL after each contact's real run through the journey, so
what the screens show (decisions, deliveries, the participants' next steps, the step
counters) is what the product itself decided.
"""

from datetime import timedelta

from odoo import fields


def _shift(env, participants, days):
    """Move everything these participants did ``days`` into the past."""
    env.flush_all()
    cr = env.cr
    ids = participants.ids
    delta = timedelta(days=days)
    cr.execute(
        """UPDATE marketing_trigger_delivery v SET scheduled_at = scheduled_at - %s,
               sent_at = sent_at - %s, opened_at = opened_at - %s, clicked_at = clicked_at - %s
           FROM marketing_journey_run r WHERE r.decision_id = v.decision_id
             AND r.participant_id = ANY(%s)""",
        [delta, delta, delta, delta, ids],
    )
    cr.execute(
        """UPDATE marketing_trigger_touch t SET date = date - %s
           FROM marketing_trigger_delivery v JOIN marketing_journey_run r
             ON r.decision_id = v.decision_id
           WHERE t.delivery_id = v.id AND r.participant_id = ANY(%s)""",
        [delta, ids],
    )
    cr.execute(
        """UPDATE marketing_trigger_decision d SET decided_at = decided_at - %s,
               send_at = send_at - %s
           FROM marketing_journey_run r WHERE r.decision_id = d.id
             AND r.participant_id = ANY(%s)""",
        [delta, delta, ids],
    )
    cr.execute(
        "UPDATE marketing_journey_run SET create_date = create_date - %s "
        "WHERE participant_id = ANY(%s)",
        [delta, ids],
    )
    cr.execute(
        "UPDATE marketing_journey_participant SET entered_at = entered_at - %s, "
        "next_check_at = %s WHERE id = ANY(%s)",
        [delta, fields.Datetime.now(), ids],
    )
    env.invalidate_all()


def _work(env):
    """What the crons would do now: advance journeys, dispatch what is due."""
    for _i in range(5):
        env["marketing.journey.participant"]._cron_advance()
        env["marketing.trigger.delivery"]._cron_dispatch()


def _contact(env, name, email, **values):
    return (
        env["res.partner"]
        .with_context(tracking_disable=True)
        .create(
            {
                "name": name,
                "email": email,
                "marketing_consent_email": True,
                "tz": "Europe/Berlin",
                "country_id": env.ref("base.de").id,
                "user_id": env.ref("base.user_admin").id,
                **values,
            }
        )
    )


def tell(env):
    ref = env.ref
    welcome = ref("marketing_trigger.marketing_journey_welcome")
    seminar = ref("marketing_trigger.marketing_journey_seminar")
    winback = ref("marketing_trigger.marketing_journey_winback")
    aftersale = ref("marketing_trigger.marketing_journey_aftersale")
    (welcome | seminar | winback | aftersale).action_run()
    Participant = env["marketing.journey.participant"]

    # Welcome programme: one contact who just confirmed, one four days in (the day-3
    # mail went out), one who ordered (goal reached, the coupon is never sent).
    lena = _contact(env, "Lena Hoffmann", "lena.hoffmann@example.com", city="Hamburg")
    paul = _contact(env, "Paul Schulz", "paul.schulz@example.com", city="Berlin")
    mia = _contact(env, "Mia Keller", "mia.keller@example.com", city="Munich")
    in_welcome = welcome._enter([(p, "doi:demo") for p in (lena, paul, mia)])
    _work(env)
    later = in_welcome.filtered(lambda p: p.partner_id in (paul | mia))
    _shift(env, later, 4)
    _work(env)
    order = env["sale.order"].create(
        {
            "partner_id": mia.id,
            "order_line": [
                fields.Command.create(
                    {"product_id": ref("marketing_trigger.demo_product_seminar").id}
                )
            ],
        }
    )
    order.action_confirm()
    _work(env)

    # Seminar follow-up: Tom clicked the programme (his salesperson got an activity,
    # the seven tips follow in a week); Eva did not open it within 7 days.
    interest = env["marketing.trigger.interest"].search([], limit=1)
    extra = {"marketing_interest_ids": [fields.Command.link(interest.id)]} if interest else {}
    tom = _contact(env, "Tom Richter", "tom.richter@example.com", phone="+49 170 5550101", **extra)
    eva = _contact(env, "Eva Braun", "eva.braun@example.com", city="Cologne", **extra)
    in_seminar = seminar._enter([(p, "segment") for p in (tom, eva)])
    _work(env)
    # The programme went out yesterday (Tom) and eight days ago (Eva).
    _shift(env, in_seminar.filtered(lambda p: p.partner_id == tom), 1)
    _shift(env, in_seminar.filtered(lambda p: p.partner_id == eva), 8)
    _work(env)
    tom_decision = in_seminar.filtered(lambda p: p.partner_id == tom).run_ids.decision_id
    tom_decision.delivery_ids._record_engagement("clicked")
    _work(env)

    # Win-back and after-sale: a lapsed customer got the win-back email; Anna's order
    # brought the after-sale thank-you.
    jan = _contact(env, "Jan Zimmermann", "jan.zimmermann@example.com", customer_rank=1)
    winback._enter([(jan, "lapse:demo")])
    anna = ref("marketing_trigger.demo_partner_anna")
    env["sale.order"].create(
        {
            "partner_id": anna.id,
            "order_line": [
                fields.Command.create(
                    {"product_id": ref("marketing_trigger.demo_product_seminar").id}
                )
            ],
        }
    ).action_confirm()
    env["marketing.trigger.event"]._cron_process_events()
    _work(env)
    count = Participant.search_count([])
    print(f"demo story: {count} contacts in journeys")  # noqa: T201 - shown by make demo
