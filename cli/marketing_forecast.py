"""`odoo-bin --addons-path=... marketing_forecast -d DB [--days 30] [--json]`

Prints the forecast of the active time-based triggers for the next days, every day of
the period: messages per channel, what the contact policy would suppress or defer (by
reason), and under each day what each trigger would send, suppress or defer.
"""

import argparse
import json
import sys

import odoo
from odoo.cli import Command
from odoo.tools import config


class MarketingForecast(Command):
    """Forecast marketing trigger volumes for the coming days"""

    name = "marketing_forecast"

    def run(self, cmdargs):
        parser = argparse.ArgumentParser(prog=f"odoo-bin {self.name}", description=__doc__)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--company", type=int, help="company id (default: the first)")
        parser.add_argument("--json", action="store_true", help="one JSON object per day")
        own, rest = parser.parse_known_args(cmdargs)
        config.parse_config(rest)
        dbname = config["db_name"]
        if not dbname:
            parser.error("give the database with -d")
        registry = odoo.modules.registry.Registry(dbname)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            company = (
                env["res.company"].browse(own.company)
                if own.company
                else env["res.company"].search([], limit=1)
            )
            wizard = (
                env["marketing.trigger.forecast"]
                .with_company(company)
                .create({"days": own.days, "company_id": company.id})
            )
            days = wizard._simulate()
            names = {
                trigger.id: trigger.display_name
                for trigger in wizard.trigger_ids | wizard._forecast_extra_triggers()
            }
            cr.rollback()
        self._print(days, own.json, names)

    @staticmethod
    def _print(days, as_json, names=None):
        out = sys.stdout
        names = names or {}

        def per_trigger(day):
            return [
                {
                    "trigger": names.get(item.trigger_id, item.trigger_id),
                    "outcome": item.outcome,
                    "detail": item.detail,
                    "count": item.count,
                }
                for item in day.counts
            ]

        if as_json:
            for day in days:
                out.write(
                    json.dumps(
                        {
                            "day": day.day.isoformat(),
                            "sent": dict(day.sent),
                            "suppressed": dict(day.suppressed),
                            "deferred": dict(day.deferred),
                            "triggers": per_trigger(day),
                        }
                    )
                    + "\n"
                )
            return
        out.write(f"{'day':<12}{'sent':>6}{'suppressed':>12}{'deferred':>10}  details\n")
        for day in days:
            sent, supp, defer = (
                sum(dict(p).values()) for p in (day.sent, day.suppressed, day.deferred)
            )
            details = ", ".join(f"{k} {v}" for k, v in day.sent + day.suppressed + day.deferred)
            out.write(f"{day.day.isoformat():<12}{sent:>6}{supp:>12}{defer:>10}  {details}\n")
            for row in per_trigger(day):
                out.write(
                    f"{'':<12}  {row['trigger']}: {row['outcome']} "
                    f"{row['detail']} {row['count']}\n"
                )
