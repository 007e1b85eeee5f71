"""Marketing ▸ Overview: what the triggers and journeys did and what it brought.

- ``marketing.trigger.result``: one row per decided occurrence (a read-only SQL view), with
  the trigger, its journey, the channel, the outcome and why in plain words, whether the
  message went out, was opened or clicked by a person (machine opens and clicks never
  count), and whether it converted: a confirmed sales order of the contact within the
  attribution window after the message (30 days by default, contact policy), attributed
  to the *last* marketing message before the order, so that an order is counted once
  (service messages, such as an order's thank-you or a delivery notice, get no credit). Graph, pivot
  and list, exported with Odoo's own list export.
- ``marketing.trigger.pressure``: per cap of the contact policy, how many contacts are at
  it or over it now.
- ``marketing.trigger.queue``: the work queues, how many items wait and since when.
"""

from datetime import timedelta

from odoo import fields, models
from odoo.tools import SQL

from .common import CHANNEL_SELECTION
from .marketing_trigger_decision import REASONS

OUTCOMES = [
    ("send", "Sent"),
    ("defer", "Deferred"),
    ("suppress", "Suppressed"),
    ("error", "Failed"),
]


class MarketingTriggerPolicy(models.Model):
    _inherit = "marketing.trigger.policy"

    attribution_days = fields.Integer(
        "Attribution window (days)",
        default=30,
        help="A confirmed order of the contact within this many days after a message counts "
        "as that message's conversion (the last message before the order gets it).",
    )

    _sql_constraints = [
        (
            "attribution_days_positive",
            "CHECK(attribution_days > 0)",
            "The attribution window must be at least one day.",
        ),
    ]


class MarketingTriggerResult(models.Model):
    _name = "marketing.trigger.result"
    _description = "Marketing Results"
    _auto = False
    _order = "decided_at desc"
    _rec_name = "trigger_id"

    decided_at = fields.Datetime("Decided", readonly=True)
    trigger_id = fields.Many2one("marketing.trigger", readonly=True)
    journey_id = fields.Many2one("marketing.journey", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Contact", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    channel = fields.Selection(CHANNEL_SELECTION, readonly=True)
    outcome = fields.Selection(OUTCOMES, readonly=True)
    reason = fields.Selection(REASONS, string="Why", readonly=True)
    occurrences = fields.Integer(readonly=True, aggregator="sum")
    sent = fields.Integer(
        readonly=True,
        aggregator="sum",
        help="Accepted by the mail server or provider, or handed to the salesperson.",
    )
    suppressed = fields.Integer(readonly=True, aggregator="sum")
    opened = fields.Integer(
        readonly=True, aggregator="sum", help="Opened by a person (not a mail proxy)."
    )
    clicked = fields.Integer(
        readonly=True, aggregator="sum", help="Clicked by a person (not a link scanner)."
    )
    converted = fields.Integer(
        readonly=True,
        aggregator="sum",
        help="The contact confirmed an order within the attribution window after this "
        "message, and this was the last message before the order.",
    )
    revenue = fields.Monetary(
        readonly=True, aggregator="sum", help="Untaxed amount of the orders attributed to it."
    )

    @property
    def _table_query(self):
        return SQL(
            """
            WITH sent AS (
                SELECT d.id, d.decision_id, d.partner_id, d.sent_at, d.company_id,
                       d.opened_at, d.clicked_at, t.message_class
                FROM marketing_trigger_delivery d
                JOIN marketing_trigger t ON t.id = d.trigger_id
                WHERE d.state = 'sent' AND d.sent_at IS NOT NULL
            ), attributed AS (
                -- each confirmed order goes to the last marketing message sent to its
                -- contact within the window before it (service messages, such as an
                -- order's thank-you or a delivery notice, follow orders: no credit)
                SELECT DISTINCT ON (so.id) so.id AS order_id, s.id AS delivery_id,
                       so.amount_untaxed
                FROM sale_order so
                JOIN sent s ON s.partner_id = so.partner_id AND s.sent_at < so.date_order
                    AND s.message_class != 'service'
                JOIN marketing_trigger_policy pol ON pol.company_id = s.company_id
                WHERE so.state = 'sale'
                  AND so.date_order <= s.sent_at + pol.attribution_days * interval '1 day'
                ORDER BY so.id, s.sent_at DESC, s.id DESC
            ), per_delivery AS (
                SELECT delivery_id, COUNT(*) AS orders, SUM(amount_untaxed) AS revenue
                FROM attributed GROUP BY delivery_id
            )
            SELECT dec.id, dec.decided_at, dec.trigger_id,
                   COALESCE(step.journey_id, entry.id) AS journey_id,
                   dec.partner_id, dec.company_id, c.currency_id, dec.channel,
                   dec.outcome, dec.reason_code AS reason, 1 AS occurrences,
                   (s.id IS NOT NULL)::int AS sent,
                   (dec.outcome = 'suppress')::int AS suppressed,
                   (s.opened_at IS NOT NULL OR s.clicked_at IS NOT NULL)::int AS opened,
                   (s.clicked_at IS NOT NULL)::int AS clicked,
                   (pd.orders IS NOT NULL)::int AS converted,
                   COALESCE(pd.revenue, 0) AS revenue
            FROM marketing_trigger_decision dec
            JOIN res_company c ON c.id = dec.company_id
            LEFT JOIN sent s ON s.decision_id = dec.id
            LEFT JOIN per_delivery pd ON pd.delivery_id = s.id
            LEFT JOIN marketing_journey_step step ON step.trigger_id = dec.trigger_id
            LEFT JOIN marketing_journey entry ON entry.entry_trigger_id = dec.trigger_id
            WHERE dec.reason_code != 'duplicate'
            """
        )


class MarketingTriggerPressure(models.Model):
    """How many contacts are at or over each cap now (touches in the cap's window)."""

    _name = "marketing.trigger.pressure"
    _description = "Contact Pressure"
    _auto = False
    _order = "company_id, cap_id"
    _rec_name = "cap_id"

    cap_id = fields.Many2one("marketing.trigger.policy.cap", string="Cap", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    channel = fields.Selection(CHANNEL_SELECTION, readonly=True, string="Channel (empty: all)")
    limit = fields.Integer("At most", readonly=True, aggregator=None)
    days = fields.Integer("In (days)", readonly=True, aggregator=None)
    contacts_touched = fields.Integer(
        "Contacts reached",
        readonly=True,
        help="Contacts with at least one counted touch in the window.",
    )
    contacts_at_cap = fields.Integer(
        "At the cap", readonly=True, help="Contacts who cannot get one more message now."
    )
    contacts_over_cap = fields.Integer(
        "Over the cap",
        readonly=True,
        help="More touches than the cap (service messages, manual touches).",
    )

    @property
    def _table_query(self):
        return SQL(
            """
            SELECT cap.id, cap.id AS cap_id, pol.company_id, cap.channel, cap.limit, cap.days,
                   COUNT(t.partner_id) AS contacts_touched,
                   COUNT(t.partner_id) FILTER (WHERE t.n >= cap.limit) AS contacts_at_cap,
                   COUNT(t.partner_id) FILTER (WHERE t.n > cap.limit) AS contacts_over_cap
            FROM marketing_trigger_policy_cap cap
            JOIN marketing_trigger_policy pol ON pol.id = cap.policy_id
            LEFT JOIN LATERAL (
                SELECT touch.partner_id, COUNT(*) AS n
                FROM marketing_trigger_touch touch
                JOIN res_partner p ON p.id = touch.partner_id
                WHERE touch.is_counted
                  AND touch.date > (now() AT TIME ZONE 'UTC') - cap.days * interval '1 day'
                  AND touch.date <= (now() AT TIME ZONE 'UTC')
                  AND (cap.channel IS NULL OR touch.channel = cap.channel)
                  AND COALESCE(p.company_id, pol.company_id) = pol.company_id
                GROUP BY touch.partner_id
            ) t ON TRUE
            GROUP BY cap.id, pol.company_id
            """
        )


QUEUES = [
    ("dispatch", "Messages due to be sent"),
    ("events", "Events to evaluate"),
    ("redecide", "Deferred messages due to be decided again"),
    ("journeys", "Journey participants due for their next step"),
]


class MarketingTriggerQueue(models.Model):
    """The work queues the cron jobs drain: depth and the oldest item's age. A queue that
    grows or ages means the cron workers do not keep up (README, Deployment and scaling)."""

    _name = "marketing.trigger.queue"
    _description = "Marketing Work Queue"
    _auto = False
    _order = "id"
    _rec_name = "queue"

    queue = fields.Selection(QUEUES, readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    waiting = fields.Integer(readonly=True)
    oldest_at = fields.Datetime("Oldest since", readonly=True)
    oldest_minutes = fields.Float(
        "Oldest waits (minutes)", readonly=True, aggregator="max", digits=(16, 1)
    )

    @property
    def _table_query(self):
        now = SQL("(now() AT TIME ZONE 'UTC')")
        return SQL(
            """
            SELECT ROW_NUMBER() OVER (ORDER BY q.queue, c.id) AS id, q.queue, c.id AS company_id,
                   COALESCE(q.waiting, 0) AS waiting, q.oldest_at,
                   COALESCE(EXTRACT(EPOCH FROM %(now)s - q.oldest_at) / 60.0, 0) AS oldest_minutes
            FROM res_company c
            LEFT JOIN (
                SELECT 'dispatch' AS queue, company_id, COUNT(*) AS waiting,
                       MIN(scheduled_at) AS oldest_at
                FROM marketing_trigger_delivery
                WHERE state = 'pending' AND scheduled_at <= %(now)s GROUP BY company_id
                UNION ALL
                SELECT 'events', company_id, COUNT(*), MIN(create_date)
                FROM marketing_trigger_event WHERE state = 'pending' GROUP BY company_id
                UNION ALL
                SELECT 'redecide', company_id, COUNT(*), MIN(send_at)
                FROM marketing_trigger_decision
                WHERE outcome = 'defer' AND send_at <= %(now)s GROUP BY company_id
                UNION ALL
                SELECT 'journeys', t.company_id, COUNT(*), MIN(pt.next_check_at)
                FROM marketing_journey_participant pt
                JOIN marketing_journey j ON j.id = pt.journey_id
                JOIN marketing_trigger t ON t.id = j.entry_trigger_id
                WHERE pt.state = 'running' AND pt.next_check_at <= %(now)s
                GROUP BY t.company_id
            ) q ON q.company_id = c.id
            WHERE q.queue IS NOT NULL
            """,
            now=now,
        )


class MarketingTriggerResultsOnTrigger(models.Model):
    """The trigger dashboard (kanban) shows the last 30 days' conversions and revenue."""

    _inherit = "marketing.trigger"

    result_converted = fields.Integer("Converted (30 days)", compute="_compute_results_30d")
    result_revenue = fields.Monetary(
        "Revenue (30 days)", compute="_compute_results_30d", currency_field="result_currency_id"
    )
    result_currency_id = fields.Many2one(related="company_id.currency_id")

    def _compute_results_30d(self):
        since = fields.Datetime.now() - timedelta(days=30)
        rows = {
            trigger.id: (converted, revenue)
            for trigger, converted, revenue in self.env["marketing.trigger.result"]
            .sudo()
            ._read_group(
                [("trigger_id", "in", self.ids), ("decided_at", ">=", since)],
                ["trigger_id"],
                ["converted:sum", "revenue:sum"],
            )
        }
        for trigger in self:
            trigger.result_converted, trigger.result_revenue = rows.get(trigger.id, (0, 0.0))

    def action_view_results(self):
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "marketing_trigger.marketing_trigger_result_action"
        )
        action["domain"] = [("trigger_id", "in", self.ids)]
        return action
