"""Consent proofs as evidence, company isolation and what each role may do.

The matrix below is the one README's *Security* section states: two companies, a
manager and a user of each, a salesperson, a plain employee and a portal user.
"""

from datetime import datetime, timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import mute_logger

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestConsentProofs(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # An employee who may edit contacts, with no marketing or sales group.
        cls.employee = new_test_user(
            cls.env, "mt_employee", groups="base.group_user,base.group_partner_manager"
        )
        cls.reader = new_test_user(cls.env, "mt_reader", groups="base.group_user")
        cls.manager = new_test_user(
            cls.env, "mt_cmanager", groups="marketing_trigger.group_marketing_trigger_manager"
        )
        cls.doi = cls.welcome.copy({"name": "DOI welcome", "kind": "double_optin"})
        cls.doi.action_activate()

    def _proof(self, user, **vals):
        return (
            self.env["marketing.trigger.consent"]
            .with_user(user)
            .create({"channel": "email", "is_granted": True, **vals})
        )

    def test_an_employee_cannot_forge_a_double_opt_in(self):
        partner = self.make_partner(consent=False)
        with self.assertRaises(AccessError):
            self._proof(self.reader, partner_id=partner.id)
        with self.assertRaises(AccessError):
            self._proof(self.employee, partner_id=partner.id, source="double_opt_in")
        with self.assertRaises(AccessError):
            self._proof(self.manager, partner_id=partner.id, source="unsubscribe")
        # Nor by naming the source in the context of a contact edit.
        partner.with_user(self.employee).with_context(
            marketing_consent_source="double_opt_in"
        ).marketing_consent_email = True
        self.assertEqual(partner.marketing_consent_ids.source, "salesperson")
        self.assertFalse(self.decisions(partner, self.doi), "no DOI trigger fired")

    def test_the_server_says_who_recorded_a_proof_and_when(self):
        partner = self.make_partner(consent=False)
        proof = self._proof(
            self.employee,
            partner_id=partner.id,
            user_id=self.manager.id,
            create_date=datetime(2020, 1, 1),
            evidence="called on the phone",
        )
        self.assertEqual(proof.user_id, self.employee)
        self.assertGreater(proof.recorded_at, datetime(2025, 1, 1))
        self.assertLessEqual(proof.date, proof.recorded_at, "not given after it was recorded")

    def test_a_proof_dated_in_the_future_is_refused(self):
        partner = self.make_partner()
        with self.assertRaises(ValidationError):
            self._proof(
                self.employee,
                partner_id=partner.id,
                is_granted=True,
                date=fields.Datetime.now() + timedelta(days=365 * 70),
            )
        self.assertTrue(partner.marketing_consent_email)

    def test_consent_follows_the_latest_recorded_proof_not_its_date(self):
        partner = self.make_partner()
        self.env["marketing.trigger.consent"].sudo().create(
            {"partner_id": partner.id, "channel": "email", "source": "unsubscribe"}
        )
        self.assertFalse(partner.marketing_consent_email)
        # An import recorded later says the contact agreed two years ago: it was recorded
        # last, so it decides, although its date is older than the withdrawal.
        self._proof(
            self.employee,
            partner_id=partner.id,
            source="import",
            date=fields.Datetime.now() - timedelta(days=730),
        )
        self.assertTrue(partner.marketing_consent_email)
        # And a withdrawal recorded afterwards wins over it, whatever its date.
        self._proof(
            self.employee,
            partner_id=partner.id,
            is_granted=False,
            date=fields.Datetime.now() - timedelta(days=1000),
        )
        self.assertFalse(partner.marketing_consent_email)

    def test_an_api_proof_needs_its_evidence(self):
        partner = self.make_partner(consent=False)
        with self.assertRaises(ValidationError):
            self._proof(self.employee, partner_id=partner.id, source="api")
        proof = self._proof(
            self.employee,
            partner_id=partner.id,
            source="api",
            evidence="shop signup form, 203.0.113.7",
        )
        self.assertEqual(proof.source, "api")

    def test_proofs_are_append_only_for_everyone(self):
        partner = self.make_partner()
        proof = partner.marketing_consent_ids
        with self.assertRaises(AccessError):
            proof.with_user(self.manager).unlink()
        with self.assertRaises(UserError):
            proof.sudo().unlink()
        with self.assertRaises(UserError):
            proof.sudo().write({"date": fields.Datetime.now() - timedelta(days=1)})
        self.assertTrue(proof.exists())
        # Erasing the contact removes its proofs.
        partner.unlink()
        self.assertFalse(proof.exists())

    def test_proofs_only_for_contacts_the_user_may_edit(self):
        other = self.env["res.company"].create({"name": "Other Co"})
        foreign = self.Partner.create(
            {"name": "Foreign", "email": "foreign@example.com", "company_id": other.id}
        )
        with self.assertRaises(AccessError):
            self._proof(self.employee, partner_id=foreign.id)
        self.assertFalse(foreign.sudo().marketing_consent_ids)


@tagged("post_install", "-at_install")
class TestCompanyIsolation(MarketingTriggerCase):
    """A manager of company B cannot read, create or change company A's records."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Company B"})
        group = "marketing_trigger.group_marketing_trigger_manager"
        cls.manager_a = new_test_user(
            cls.env, "mt_mgr_a", groups=group, company_id=cls.company_a.id
        )
        cls.manager_b = new_test_user(
            cls.env, "mt_mgr_b", groups=group, company_id=cls.company_b.id
        )
        env = cls.env
        cls.topic = env["marketing.trigger.topic"].create({"name": "Seminars"})
        cls.policy.write(
            {
                "cap_ids": [fields.Command.create({"limit": 5, "days": 7})],
                "cooldown_ids": [fields.Command.create({"topic_id": cls.topic.id, "days": 3})],
            }
        )
        cls.landing = env["marketing.trigger.landing"].create(
            {
                "name": "Seminars A",
                "slug": "seminars-a",
                "company_id": cls.company_a.id,
                "block_ids": [fields.Command.create({"title": "Hamburg dates"})],
            }
        )
        cls.customer = cls.make_partner(company_id=cls.company_a.id)
        cls.touch = env["marketing.trigger.touch"].create(
            {"partner_id": cls.customer.id, "channel": "phone"}
        )
        inbound = env.ref("marketing_trigger.marketing_trigger_inbound_booking")
        cls.event = env["marketing.trigger.event"].create(
            {
                "kind": "inbound",
                "res_model": "res.partner",
                "res_id": cls.customer.id,
                "partner_id": cls.customer.id,
                "trigger_id": inbound.id,
                "payload": {"seminar": "Rhetoric"},
            }
        )
        Link = env["marketing.trigger.link"]
        cls.link = Link.browse(
            Link._get_or_create(["https://shop.example/offer"], cls.company_a).values()
        )
        cls.records = {
            "marketing.trigger.link": cls.link,
            "marketing.trigger.policy.cap": cls.policy.cap_ids,
            "marketing.trigger.policy.cooldown": cls.policy.cooldown_ids,
            "marketing.trigger.landing": cls.landing,
            "marketing.trigger.landing.block": cls.landing.block_ids,
            "marketing.trigger.touch": cls.touch,
            "marketing.trigger.event": cls.event,
            "marketing.trigger.consent": cls.customer.marketing_consent_ids,
        }

    def test_records_of_company_a_store_company_a(self):
        for model, records in self.records.items():
            with self.subTest(model=model):
                self.assertTrue(records)
                self.assertEqual(records.company_id, self.company_a)

    def test_the_manager_of_company_b_does_not_see_them(self):
        for model, records in self.records.items():
            with self.subTest(model=model):
                as_b = self.env[model].with_user(self.manager_b)
                self.assertFalse(as_b.search([("id", "in", records.ids)]))
                with self.assertRaises(AccessError):
                    records.with_user(self.manager_b).read(["company_id"])
                as_a = self.env[model].with_user(self.manager_a)
                self.assertEqual(as_a.search([("id", "in", records.ids)]), records)

    @mute_logger("odoo.models", "odoo.addons.base.models.ir_rule")
    def test_the_manager_of_company_b_cannot_change_them(self):
        block = self.landing.block_ids
        with self.assertRaises(AccessError):
            block.with_user(self.manager_b).write({"title": "Defaced"})
        with self.assertRaises(AccessError):
            self.env["marketing.trigger.policy.cap"].with_user(self.manager_b).create(
                {"policy_id": self.policy.id, "limit": 1, "days": 30}
            )
        with self.assertRaises(AccessError):
            self.env["marketing.trigger.landing.block"].with_user(self.manager_b).create(
                {"landing_id": self.landing.id, "title": "Injected"}
            )
        with self.assertRaises(AccessError):
            self.policy.cooldown_ids.with_user(self.manager_b).unlink()
        self.assertEqual(block.title, "Hamburg dates")
        self.assertEqual(len(self.policy.cap_ids), 1)
        self.assertEqual(len(self.landing.block_ids), 1)
        self.assertEqual(len(self.policy.cooldown_ids), 1)

    def test_each_company_tracks_its_own_links(self):
        Link = self.env["marketing.trigger.link"]
        url = "https://shop.example/offer"
        link_b = Link.browse(Link._get_or_create([url], self.company_b)[url])
        self.assertNotEqual(link_b, self.link)
        self.assertEqual(link_b.company_id, self.company_b)
        self.assertEqual(Link._get_or_create([url], self.company_a)[url], self.link.id)
        self.assertEqual(Link.with_user(self.manager_b).search([("url", "=", url)]), link_b)

    def test_the_event_queue_records_the_company_of_the_record(self):
        partner_b = self.Partner.with_context(marketing_trigger_disable=True).create(
            {"name": "B customer", "company_id": self.company_b.id}
        )
        welcome_b = self.welcome.copy({"name": "Welcome B", "company_id": self.company_b.id})
        welcome_b.action_activate()
        Event = self.env["marketing.trigger.event"]
        Event._enqueue("partner_registered", partner_b)
        event = Event.search([("res_id", "=", partner_b.id), ("kind", "=", "partner_registered")])
        self.assertEqual(event.company_id, self.company_b)
        self.assertFalse(Event.with_user(self.manager_a).search([("id", "=", event.id)]))


@tagged("post_install", "-at_install")
class TestRoles(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.portal = new_test_user(cls.env, "mt_portal2", groups="base.group_portal")
        cls.customer = cls.make_partner(user_id=cls.salesperson.id)

    def test_a_salesperson_opens_the_decision_form_of_their_customer(self):
        decision = self.decisions(self.customer).with_user(self.salesperson)
        form = Form(decision)
        self.assertEqual(form.trigger_id, self.welcome.with_user(self.salesperson))
        self.assertEqual(form.reason_code, "send")
        # The decision log's search box completes trigger names (name_search).
        Trigger = self.env["marketing.trigger"].with_user(self.salesperson)
        self.assertIn(self.welcome.id, [tid for tid, _name in Trigger.name_search("Welc")])
        with self.assertRaises(AccessError):
            self.welcome.with_user(self.salesperson).write({"priority": 1})

    def test_users_draft_newsletters_managers_send_and_a_sent_one_is_only_archived(self):
        server = self.env["marketing.listmonk.server"].create(
            {"url": "http://127.0.0.1:9", "api_user": "odoo", "api_token": "t"}
        )
        everyone = self.env["marketing.listmonk.list"].create(
            {"name": "Everyone", "server_id": server.id, "domain": "[]"}
        )
        user = new_test_user(
            self.env, "mt_nl_user", groups="marketing_trigger.group_marketing_trigger_user"
        )
        manager = new_test_user(
            self.env, "mt_nl_manager", groups="marketing_trigger.group_marketing_trigger_manager"
        )
        Campaign = self.env["marketing.listmonk.campaign"]
        values = {
            "name": "March seminars",
            "subject": "Seminars in March",
            "body_html": "<p>Rhetoric in Hamburg</p>",
            "server_id": server.id,
            "list_ids": [fields.Command.set(everyone.ids)],
        }
        draft = Campaign.with_user(user).create(values)
        draft.with_user(user).write({"subject": "Seminars in March and April"})
        with self.assertRaises(AccessError):
            draft.with_user(user).action_send()
        with self.assertRaises(AccessError):
            draft.with_user(user).unlink()
        self.assertEqual(draft.state, "draft")
        draft.with_user(manager).action_send()
        self.assertEqual(draft.state, "queued")
        with self.assertRaises(UserError):
            draft.with_user(manager).unlink()
        draft.with_user(manager).action_archive()
        self.assertFalse(draft.active)
        self.assertTrue(draft.exists())
        # A draft that never left Odoo can be deleted by a manager.
        Campaign.with_user(manager).create(values).unlink()

    def test_a_portal_user_reads_no_marketing_data_of_their_own_contact(self):
        partner = self.portal.partner_id
        partner.sudo().write(
            {"marketing_lifecycle_stage": "churn_risk", "marketing_consent_email": True}
        )
        as_portal = partner.with_user(self.portal)
        self.assertEqual(as_portal.name, partner.name, "the contact itself stays readable")
        for fname in (
            "marketing_lifecycle_stage",
            "marketing_interest_ids",
            "marketing_consent_email",
            "marketing_birthdate",
            "marketing_callback_at",
        ):
            with self.subTest(field=fname), self.assertRaises(AccessError):
                as_portal.read([fname])


# What each role may do per model (r read, w write, c create, u unlink), as README's
# *Security* section states it. Record rules narrow this further (own customers,
# companies) and the models refuse some operations whatever the rights (a proof is
# never changed, a sent newsletter never deleted).
ROLES = ("manager", "user", "salesperson", "employee", "portal", "public")
MATRIX = {
    "marketing.trigger": ("rwcu", "r", "r", "", "", ""),
    "marketing.trigger.variant": ("rwcu", "r", "r", "", "", ""),
    "marketing.trigger.decision": ("rwu", "r", "r", "", "", ""),
    "marketing.trigger.delivery": ("ru", "r", "", "", "", ""),
    "marketing.trigger.consent": ("rc", "rc", "rc", "rc", "", ""),
    "marketing.trigger.event": ("ru", "", "", "", "", ""),
    "marketing.trigger.policy": ("rwc", "r", "", "", "", ""),
    "marketing.trigger.policy.cap": ("rwcu", "r", "", "", "", ""),
    "marketing.trigger.landing": ("rwcu", "r", "", "", "", ""),
    "marketing.trigger.landing.block": ("rwcu", "r", "", "", "", ""),
    "marketing.trigger.link": ("r", "r", "", "", "", ""),
    "marketing.listmonk.server": ("rwcu", "r", "", "", "", ""),
    "marketing.listmonk.campaign": ("rwcu", "rwc", "", "", "", ""),
    "marketing.journey": ("rwcu", "r", "", "", "", ""),
    "marketing.journey.step": ("rwcu", "r", "", "", "", ""),
    "marketing.journey.participant": ("rw", "r", "", "", "", ""),
    "marketing.journey.run": ("r", "r", "", "", "", ""),
}
OPERATIONS = {"r": "read", "w": "write", "c": "create", "u": "unlink"}


@tagged("post_install", "-at_install")
class TestAccessMatrix(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        groups = {
            "manager": "marketing_trigger.group_marketing_trigger_manager",
            "user": "marketing_trigger.group_marketing_trigger_user",
            "salesperson": "sales_team.group_sale_salesman",
            "employee": "base.group_user",
            "portal": "base.group_portal",
        }
        cls.users = {
            role: new_test_user(cls.env, f"mt_matrix_{role}", groups=group)
            for role, group in groups.items()
        }
        cls.users["public"] = cls.env.ref("base.public_user")

    def test_each_role_has_exactly_the_documented_rights(self):
        for model, rights in MATRIX.items():
            for role, allowed in zip(ROLES, rights, strict=True):
                Model = self.env[model].with_user(self.users[role])
                for letter, operation in OPERATIONS.items():
                    with self.subTest(model=model, role=role, operation=operation):
                        self.assertEqual(Model.has_access(operation), letter in allowed)
