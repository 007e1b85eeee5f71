from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestPlainWords(MarketingTriggerCase):
    """What a marketing user reads: no technical words, times in their time zone."""

    def test_explanations_show_times_in_the_users_time_zone(self):
        partner = self.make_partner("Tina Time", "tina@example.com")
        decision = self.Decision.search([("partner_id", "=", partner.id)], limit=1)
        decision.sudo().explanation = "Deferred to 2026-03-10 07:00 UTC. Capped."
        berlin = decision.with_context(tz="Europe/Berlin")
        self.assertEqual(berlin.explanation_local, "Deferred to 2026-03-10 08:00 CET. Capped.")
        utc = decision.with_context(tz="UTC")
        self.assertEqual(utc.explanation_local, "Deferred to 2026-03-10 07:00 UTC. Capped.")

    def test_no_reason_sent_and_no_call_sent_by_phone(self):
        labels = dict(self.Decision._fields["reason_code"].selection)
        self.assertEqual(self.Decision._fields["reason_code"].string, "Why")
        self.assertNotEqual(labels["send"], "Sent")
        channels = dict(self.Decision._fields["channel"].selection)
        self.assertIn("Salesperson", channels["phone"])
        self.assertEqual(self.Decision._fields["occurrence_key"].string, "Occurrence")
        landing = self.env["marketing.trigger.landing"]._fields["slug"]
        self.assertEqual(landing.string, "Web address")

    def test_an_unknown_variable_is_refused_at_save_with_the_valid_ones(self):
        trigger = self.env["marketing.trigger"].create(
            {"name": "SMS reminder", "kind": "birthday", "channel": "sms", "sms_body": "Hi"}
        )
        with self.assertRaisesRegex(ValidationError, r"partner\.nmae.*partner\.first_name"):
            with self.env.cr.savepoint():
                trigger.sms_body = "Hi {{ partner.nmae }}"
                trigger.flush_recordset()
        trigger.invalidate_recordset()
        with self.assertRaisesRegex(ValidationError, "unknown variable seminar"):
            with self.env.cr.savepoint():
                trigger.activity_summary = "Call about {{ seminar }}"
                trigger.flush_recordset()
        trigger.invalidate_recordset()
        trigger.sms_body = "Hi {{ partner.first_name }} from {{ company.name }}"
        form = self.env["marketing.trigger"].get_views([(False, "form")])["views"]["form"]
        self.assertIn("Variables for texts", form["arch"])

    def test_kinds_are_grouped_with_a_description(self):
        selection = self.env["marketing.trigger"]._fields["kind"]._description_selection(self.env)
        groups = [label.split(" · ")[0] for _key, label in selection]
        order = ["Contact", "Sales", "Engagement", "Dates", "External", "Internal"]
        self.assertEqual(groups, sorted(groups, key=order.index), "one block per group")
        labels = dict(selection)
        self.assertEqual(labels["birthday"], "Dates · Birthday")
        self.assertEqual(labels["order_confirmed"].split(" · ")[0], "Sales")
        birthday = self.env.ref("marketing_trigger.marketing_trigger_birthday")
        self.assertEqual(birthday.kind_group, "dates")
        self.assertIn("birthday", birthday.kind_description)

    def test_one_unit_for_a_delay(self):
        trigger = self.env["marketing.trigger"].create(
            {
                "name": "Not opened",
                "kind": "email_not_opened",
                "source_trigger_id": self.welcome.id,
                "channel": "none",
            }
        )
        trigger.write({"engagement_delay": 2, "engagement_unit": "days"})
        self.assertEqual(trigger.engagement_hours, 48)
        trigger.engagement_hours = 36
        self.assertEqual((trigger.engagement_delay, trigger.engagement_unit), (36, "hours"))
        trigger.engagement_hours = 168
        self.assertEqual((trigger.engagement_delay, trigger.engagement_unit), (7, "days"))

    def test_date_pickers_offer_no_technical_dates(self):
        field = self.env["marketing.trigger"]._fields["date_field_id"]
        offered = self.env["ir.model.fields"].search(eval(field.domain))  # noqa: S307
        names = set(offered.mapped("name"))
        self.assertIn("marketing_birthdate", names)
        self.assertFalse({"create_date", "write_date"} & names)

    def test_listmonk_lists_are_named(self):
        server = self.env["marketing.listmonk.server"].create(
            {"url": "http://127.0.0.1:9", "api_user": "u", "api_token": "t"}
        )
        self.env["marketing.listmonk.list"].create(
            {"name": "Seminars", "server_id": server.id, "listmonk_id": 1}
        )
        partner = self.make_partner("Lou List", "lou@example.com")
        subscriber = self.env["marketing.listmonk.subscriber"].create(
            {"server_id": server.id, "partner_id": partner.id, "list_ids": ",1,7,"}
        )
        self.assertEqual(subscriber.list_names, "Seminars, #7")
