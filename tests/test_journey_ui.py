from datetime import timedelta

from freezegun import freeze_time
from lxml import html
from odoo.tests import tagged

from .test_journeys import NOW, JourneyCase


@tagged("post_install", "-at_install")
class TestJourneyUi(JourneyCase):
    """The journey form shows the steps as a diagram, and the Results page a funnel in
    tree order with each step's counters."""

    def funnel_rows(self, journey):
        self.env.invalidate_all()
        tree = html.fromstring(str(journey.funnel_html))
        return [
            (row.xpath("string(td[1]/b)"), [cell.text_content() for cell in row.xpath("td")[1:]])
            for row in tree.xpath("//tbody/tr")
        ]

    def test_form_shows_the_diagram_and_keeps_the_list(self):
        arch = self.env["marketing.journey"].get_views([(False, "form")])["views"]["form"]["arch"]
        form = html.fromstring(arch)
        diagram = form.xpath("//page[@name='steps']/field[@name='step_ids']")
        self.assertEqual(diagram[0].get("widget"), "journey_step_tree")
        shown = set(diagram[0].xpath("./list/field/@name"))
        for needed in ("parent_id", "condition", "icon", "processed_count", "step_sent_count"):
            self.assertIn(needed, shown, "the diagram's fields are fetched with the form")
        self.assertTrue(form.xpath("//page[@name='step_list']/field[@name='step_ids']"))
        self.assertTrue(form.xpath("//page[@name='results']/field[@name='funnel_html']"))

    @freeze_time(NOW)
    def test_funnel_lists_steps_in_tree_order_with_counters(self):
        journey = self.make_journey()
        first = self.email_step(journey, "Programme")
        second_root = self.call_step(journey, "Tell the salesperson", condition="always")
        # Created last, shown right under its parent.
        later = self.email_step(journey, "Three days later", first, wait_value=3)
        archived = self.email_step(journey, "Old idea", first, condition="not_opened")
        archived.active = False
        journey.action_run()
        self.make_partner("Nora New", "nora@example.com", phone="+49 171 2345678")
        self.make_partner("Otto Other", "otto@example.com", phone="+49 171 2345679")
        self.advance()
        self.dispatch()
        rows = self.funnel_rows(journey)
        self.assertEqual(
            [name for name, _cells in rows],
            [first.name, later.name, archived.name, second_root.name],
        )
        processed, sent = rows[0][1][0], rows[0][1][1]
        self.assertEqual((processed, sent), ("2", "2"), "both contacts got the programme")
        self.assertEqual(rows[1][1][0], "0", "nobody is three days further yet")
        self.assertIn("archived", journey.funnel_html)
        self.assertIn(archived, journey.step_ids, "the form shows archived steps, muted")
        with freeze_time(NOW + timedelta(days=3, minutes=1)):
            self.advance()
            self.dispatch()
        rows = self.funnel_rows(journey)
        self.assertEqual(rows[1][1][:2], ["2", "2"])
        self.assertEqual(later.processed_count, 2)

    def test_funnel_of_a_journey_without_steps(self):
        journey = self.make_journey("Empty")
        self.assertIn("No step yet", journey.funnel_html)
