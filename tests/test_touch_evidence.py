from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestLedgerEvidence(MarketingTriggerCase):
    """Touches made by triggers weigh on the caps: nobody may loosen them by hand."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            "mt_ledger_manager",
            groups="marketing_trigger.group_marketing_trigger_manager,base.group_partner_manager",
        )
        cls.marketer = new_test_user(
            cls.env, "mt_ledger_user", groups="marketing_trigger.group_marketing_trigger_user"
        )
        cls.customer = cls.make_partner(user_id=cls.salesperson.id)
        cls.trigger_touch = cls.customer.marketing_touch_ids.filtered(
            lambda touch: touch.source == "trigger"
        )

    def test_the_welcome_message_left_a_trigger_touch(self):
        self.assertEqual(len(self.trigger_touch), 1)
        self.assertEqual(self.trigger_touch.trigger_id, self.welcome)

    @mute_logger("odoo.models")
    def test_a_manager_cannot_delete_or_edit_a_trigger_touch_over_rpc(self):
        touch = self.trigger_touch.with_user(self.manager)
        self.assertFalse(touch.is_correctable)
        with self.assertRaisesRegex(AccessError, "evidence"):
            touch.unlink()
        with self.assertRaisesRegex(AccessError, "evidence"):
            touch.write({"date": fields.Datetime.now(), "is_counted": False})
        with self.assertRaises(AccessError):
            touch.action_remove()
        # Nor through the contact form's ledger list.
        with self.assertRaisesRegex(AccessError, "evidence"):
            self.customer.with_user(self.manager).write(
                {"marketing_touch_ids": [fields.Command.delete(self.trigger_touch.id)]}
            )
        self.assertTrue(self.trigger_touch.exists())
        self.assertTrue(self.trigger_touch.is_counted)

    @mute_logger("odoo.models")
    def test_nobody_forges_a_trigger_touch_or_takes_over_a_hand_logged_one(self):
        Touch = self.env["marketing.trigger.touch"].with_user(self.manager)
        with self.assertRaises(AccessError):
            Touch.create({"partner_id": self.customer.id, "channel": "email", "source": "trigger"})
        logged = Touch.create({"partner_id": self.customer.id, "channel": "letter"})
        self.assertEqual(logged.user_id, self.manager)
        with self.assertRaises(AccessError):
            logged.write({"source": "trigger"})

    @mute_logger("odoo.models")
    def test_a_hand_logged_touch_is_corrected_by_its_author_or_a_manager(self):
        as_sales = self.env["marketing.trigger.touch"].with_user(self.salesperson)
        call = as_sales.create(
            {"partner_id": self.customer.id, "channel": "phone", "note": "called"}
        )
        self.assertEqual(call.user_id, self.salesperson)
        self.assertTrue(call.is_correctable)
        call.write({"channel": "letter", "note": "it was a letter"})
        self.assertEqual(call.channel, "letter")
        # A marketing user who did not log it may read it, not correct it.
        as_marketer = call.with_user(self.marketer)
        self.assertFalse(as_marketer.is_correctable)
        with self.assertRaisesRegex(AccessError, "Only"):
            as_marketer.write({"note": "edited by someone else"})
        with self.assertRaises(AccessError):
            as_marketer.unlink()
        # A manager may.
        call.with_user(self.manager).write({"note": "checked by the manager"})
        self.assertEqual(call.note, "checked by the manager")
        # And the author removes a touch logged by mistake from the contact form's bin.
        mistake = as_sales.create({"partner_id": self.customer.id, "channel": "fax"})
        mistake.action_remove()
        self.assertFalse(mistake.exists())
        self.assertTrue(call.exists())

    def test_the_contact_form_offers_no_bin_for_evidence(self):
        arch = self.env.ref("marketing_trigger.res_partner_view_form").arch
        self.assertIn('delete="0"', arch)
        self.assertIn('invisible="not id or not is_correctable"', arch)
