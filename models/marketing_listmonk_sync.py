"""Partners to Listmonk subscribers, and what happens in Listmonk back into Odoo.

The sync cron, per server:

1. **Back from Listmonk** (first, so that nothing decided there is overwritten):
   subscribers blocklisted in Listmonk withdraw the partner's email consent;
   unsubscribes from a mapped list become a topic opt-out (the list's topic) or withdraw
   the email consent; hard bounces and complaints put the address on Odoo's blacklist.
   Every change is a consent proof with source "Listmonk" (see
   ``marketing_listmonk_readback.py``).
2. **To Listmonk**: the partners changed since the last complete pass (``sync_cursor``),
   in batches of ``SYNC_BATCH``. Each partner's subscriber (email, name, attributes,
   lists) is hashed; an unchanged one costs no request. New subscribers are created by
   one CSV import per batch, known ones are PATCHed by their Listmonk ID. A partner who
   left a segment is removed from the list, one who withdrew consent is unsubscribed.

When Listmonk is down the pass stops, keeps what was done (progress is committed per
batch), notes the error and backs off (1, 2, 4 … 60 minutes); the cursor only moves
after a complete pass, so nothing changed meanwhile is skipped. A full pass (daily, or
the "Sync all now" button) also re-checks partners whose segment membership changed
without the partner record changing (e.g. through an order).
"""

import hashlib
import json
import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.modules import module as odoo_module
from odoo.tools import SQL

from ..engine.tracking import sign
from ..listmonk import ListmonkError, SubscriberData, SyncAction

_logger = logging.getLogger(__name__)
# httpx logs every request at INFO: thousands of lines per sync in Odoo's log.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

SYNC_BATCH = 5000
IMPORT_FROM = 200  # new subscribers per batch from which one CSV import beats POSTs
SYNC_WORKERS = 4  # parallel PATCHes: Listmonk serves them concurrently
MATCH_ATTRIBUTE = "odoo_partner_id"
OVERLAP = timedelta(minutes=5)  # re-read what a transaction still open may have written
FULL_SYNC_EVERY = timedelta(days=1)


def _commit(env):
    """Keep the progress of a long cron pass (not inside tests, which roll back)."""
    if not odoo_module.current_test:
        env.cr.commit()


class MarketingListmonkServer(models.Model):
    _inherit = "marketing.listmonk.server"

    list_ids = fields.One2many("marketing.listmonk.list", "server_id", string="Lists")
    sync_active = fields.Boolean(
        "Sync contacts",
        default=True,
        help="Push the lists' contacts to Listmonk every few minutes.",
    )
    sync_cursor = fields.Datetime(
        readonly=True, copy=False, help="Partners changed after this moment wait for the sync."
    )
    full_sync_at = fields.Datetime("Last full sync", readonly=True, copy=False)
    readback_cursor = fields.Datetime(readonly=True, copy=False)
    bounce_cursor = fields.Integer(readonly=True, copy=False)
    last_sync_at = fields.Datetime(readonly=True, copy=False)
    last_sync_summary = fields.Text(readonly=True, copy=False)
    last_error = fields.Text(readonly=True, copy=False)
    last_error_at = fields.Datetime(readonly=True, copy=False)
    failure_count = fields.Integer(readonly=True, copy=False)
    retry_at = fields.Datetime(
        "Next attempt", readonly=True, copy=False, help="Set while Listmonk is unreachable."
    )
    backlog_count = fields.Integer("Contacts waiting", compute="_compute_backlog")
    refused_count = fields.Integer("Contacts refused", compute="_compute_backlog")

    def _compute_backlog(self):
        Link = self.env["marketing.listmonk.subscriber"].sudo()
        for server in self:
            server.backlog_count = len(server.sudo()._changed_partner_ids())
            server.refused_count = Link.search_count(
                [("server_id", "=", server.id), ("state", "=", "failed")]
            )

    # ----------------------------------------------------------------- cron

    @api.model
    def _cron_sync(self):
        """Read back from, then push to, every company's Listmonk (see the module doc)."""
        now = fields.Datetime.now()
        for server in self.sudo().search([("sync_active", "=", True)]):
            if server.retry_at and server.retry_at > now:
                continue
            full = not server.full_sync_at or server.full_sync_at < now - FULL_SYNC_EVERY
            server._sync(full=full)

    def action_sync_now(self):
        """Ask the cron for a full pass now (in the background: a first sync of 100,000
        contacts takes a minute, nobody waits for it)."""
        self.ensure_one()
        self.check_access("write")
        self.sudo().write({"full_sync_at": False, "retry_at": False})
        self.env.ref("marketing_trigger.ir_cron_listmonk_sync")._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Listmonk sync"),
                "message": _(
                    "The sync runs in the background; its result shows on the Sync status tab."
                ),
                "type": "info",
            },
        }

    def _sync(self, full=False):
        """One pass: back from Listmonk, then to it. Returns the summary line."""
        self.ensure_one()
        started = self.env.cr.now()
        client = self._client()
        try:
            with client:
                self._read_back(client, started)
                self._read_bounces(client)
                _commit(self.env)
                # A list deleted in Listmonk is made again: every member goes back on it.
                full = bool(self._ensure_lists(client)) or full
                counts = self._push(client, full=full)
        except ListmonkError as exc:
            return self._sync_failed(exc)
        if counts.pop("interrupted", None):
            return self._sync_failed(counts.pop("error"), counts)
        summary = _(
            "%(created)s created, %(updated)s updated, %(unchanged)s unchanged, "
            "%(failed)s refused, %(removed)s list removals.",
            **counts,
        )
        values = {
            "sync_cursor": started - OVERLAP,
            "last_sync_at": fields.Datetime.now(),
            "last_sync_summary": summary,
            "failure_count": 0,
            "retry_at": False,
            "last_error": False,
            "last_error_at": False,
        }
        if full:
            values["full_sync_at"] = started
        self.write(values)
        _commit(self.env)
        return summary

    def _sync_failed(self, error, counts=None):
        """Note the error and back off; what was synced before it stays synced."""
        failures = self.failure_count + 1
        wait = timedelta(minutes=min(2 ** (failures - 1), 60))
        message = str(error)
        if counts:
            message += "\n" + _(
                "Before it stopped: %(created)s created, %(updated)s updated.", **counts
            )
        _logger.warning("Listmonk sync of server %s stopped: %s", self.id, error)
        self.write(
            {
                "last_error": message,
                "last_error_at": fields.Datetime.now(),
                "failure_count": failures,
                "retry_at": fields.Datetime.now() + wait,
            }
        )
        _commit(self.env)
        return message

    # ---------------------------------------------------------------- lists

    def _ensure_lists(self, client):
        """Create in Listmonk the lists it does not have (found by name first): new ones,
        and those deleted in Listmonk since they were linked. Returns the lists linked
        again (their Listmonk ID changed, their members are not on the new list yet)."""
        relinked = self.env["marketing.listmonk.list"]
        lists = self.list_ids.filtered("active")
        if not lists:
            return relinked
        remote = client.all_lists()
        known = {item.id for item in remote}
        by_name = {}
        for item in sorted(remote, key=lambda item: item.id):
            by_name.setdefault(item.name, item)
        for mlist in lists.filtered(lambda m: m.listmonk_id not in known):
            found = by_name.get(mlist.name) or client.create_list(
                mlist.name, optin="single", type="private"
            )
            if mlist.listmonk_id:
                _logger.warning(
                    "Listmonk list %s of server %s is gone; linked to list %s",
                    mlist.listmonk_id,
                    self.id,
                    found.id,
                )
                relinked |= mlist
            mlist.listmonk_id = found.id
            _commit(self.env)
        return relinked

    def _resync_lists(self, client):
        """Link again the lists deleted in Listmonk and have the next pass (soon) put
        every member back on them. Returns the lists linked again."""
        relinked = self._ensure_lists(client)
        if relinked:
            self.write({"full_sync_at": False, "retry_at": False})
            self.env.ref("marketing_trigger.ir_cron_listmonk_sync")._trigger()
        return relinked

    # ----------------------------------------------------------------- push

    def _changed_partner_ids(self, full=False):
        """Partners to look at: in a list's segment or already linked, and changed since
        the cursor (any of them on a full pass)."""
        self.ensure_one()
        Partner = self.env["res.partner"].sudo().with_context(active_test=True)
        # Lists hold consenting contacts; a linked one who withdrew is found below.
        company_domain = [
            ("email_normalized", "!=", False),
            ("marketing_consent_email", "=", True),
            ("company_id", "in", [self.company_id.id, False]),
        ]
        since = None if full else self.sync_cursor
        changed = [("write_date", ">", since)] if since else []
        ids = set()
        for mlist in self.list_ids.filtered("active"):
            ids.update(Partner.search(company_domain + changed + mlist._domain()).ids)
        self.env.flush_all()
        query = "SELECT partner_id FROM marketing_listmonk_subscriber s WHERE s.server_id = %s"
        if since:
            # A refused contact is tried again when it changes, or on the daily full pass.
            query += """ AND EXISTS (SELECT 1 FROM res_partner p WHERE p.id = s.partner_id
                                        AND p.write_date > %s)"""
        self.env.cr.execute(SQL(query, self.id, since) if since else SQL(query, self.id))
        ids.update(row[0] for row in self.env.cr.fetchall())
        if since:
            # A consent recorded or withdrawn since (its proof may not touch the partner).
            self.env.cr.execute(
                SQL(
                    "SELECT DISTINCT partner_id FROM marketing_trigger_consent "
                    "WHERE create_date > %s AND channel = 'email'",
                    since,
                )
            )
            ids.update(row[0] for row in self.env.cr.fetchall())
        return sorted(ids)

    def _push(self, client, full=False):
        counts = dict.fromkeys(("created", "updated", "unchanged", "failed", "removed"), 0)
        partner_ids = self._changed_partner_ids(full=full)
        for start in range(0, len(partner_ids), SYNC_BATCH):
            batch = partner_ids[start : start + SYNC_BATCH]
            error = self._push_batch(client, batch, counts)
            _commit(self.env)
            if error is not None:
                counts.update(interrupted=True, error=error)
                break
        return counts

    def _ref(self, partner_id, secret=None):
        """``<partner id>.<signature>``: the identity newsletter links carry (a string
        attribute — Go templates print a large JSON number as 1e+06)."""
        secret = secret or self.env["marketing.trigger.engagement"]._secret()
        return f"{partner_id}.{sign(secret, 'listmonk', partner_id)}"

    def _partner_rows(self, partner_ids):
        """{partner id: (email, name, consent, attributes)} for a batch, in one query (the
        ORM reads a field per 1,000 records: ten times slower on a first sync)."""
        field = self.env["res.partner"]._fields["marketing_interest_ids"]
        secret = self.env["marketing.trigger.engagement"]._secret()  # before the SELECT
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """SELECT p.id, p.email_normalized, p.name, p.marketing_consent_email,
                          p.city, c.code, p.marketing_lifecycle_stage, sp.name, sp.email, p.lang,
                          (SELECT array_agg(COALESCE(i.name->>p.lang, i.name->>'en_US'))
                           FROM %(rel)s r JOIN marketing_trigger_interest i ON i.id = r.%(col2)s
                           WHERE r.%(col1)s = p.id)
                FROM res_partner p
                LEFT JOIN res_country c ON c.id = p.country_id
                LEFT JOIN res_users u ON u.id = p.user_id
                LEFT JOIN res_partner sp ON sp.id = u.partner_id
                WHERE p.id = ANY(%(ids)s) AND p.active AND p.email_normalized IS NOT NULL""",
                rel=SQL.identifier(field.relation),
                col1=SQL.identifier(field.column1),
                col2=SQL.identifier(field.column2),
                ids=list(partner_ids),
            )
        )
        rows = {}
        for (
            pid,
            email,
            name,
            consent,
            city,
            country,
            stage,
            salesperson,
            salesperson_email,
            lang,
            interests,
        ) in self.env.cr.fetchall():
            rows[pid] = (
                email,
                name or "",
                bool(consent),
                {
                    MATCH_ATTRIBUTE: pid,
                    "odoo_ref": self._ref(pid, secret),
                    "city": city or "",
                    "country": country or "",
                    "interests": sorted(interests or []),
                    "lifecycle_stage": stage or "",
                    "salesperson": salesperson or "",
                    "salesperson_email": salesperson_email or "",
                    "lang": lang or "",
                },
            )
        return rows

    def _push_batch(self, client, partner_ids, counts):
        """Sync one batch; returns the error that interrupted it, or None."""
        # The batch's big statements (5,000 ids, 5,000 rows) cost enough to make PostgreSQL
        # JIT-compile them: half a second each for nothing. Off for this batch only.
        self.env.cr.execute("SET LOCAL jit = off")
        Partner = self.env["res.partner"].sudo().with_context(active_test=True)
        partners = self._partner_rows(partner_ids)
        lists = self.list_ids.filtered(lambda m: m.active and m.listmonk_id)
        members = {
            mlist.listmonk_id: set(
                Partner.search(mlist._domain() + [("id", "in", list(partners))]).ids
            )
            for mlist in lists
        }
        blacklisted = self.env["marketing.trigger.decision"]._blacklisted_emails(
            [row[0] for row in partners.values()]
        )
        links = {
            link.partner_id.id: link
            for link in self.env["marketing.listmonk.subscriber"]
            .sudo()
            .search([("server_id", "=", self.id), ("partner_id", "in", list(partners))])
        }
        records, removals = [], {}
        for partner_id, (email, name, consent, attribs) in partners.items():
            consent = consent and email not in blacklisted
            on = tuple(sorted(lid for lid, ids in members.items() if partner_id in ids and consent))
            link = links.get(partner_id)
            if not (on or link):
                continue
            attribs["consent_email"] = consent
            digest = hashlib.sha1(
                json.dumps([email, name, attribs, on]).encode(), usedforsecurity=False
            ).hexdigest()
            if link and link.listmonk_id:
                for lid in link._list_id_set() - set(on):
                    action = "remove" if consent else "unsubscribe"
                    removals.setdefault((action, lid), []).append(link.listmonk_id)
                if link.payload_hash == digest and link.state == "synced":
                    continue
            records.append(
                (
                    SubscriberData(
                        email,
                        name,
                        attribs,
                        on,
                        subscriber_id=link.listmonk_id or None if link else None,
                    ),
                    digest,
                )
            )
        rows, error = [], None
        digests = dict(records)
        for report in client.iter_sync(
            [record for record, _digest in records],
            batch_size=len(records) or 1,
            match_attribute=MATCH_ATTRIBUTE,
            preconfirm=True,
            import_from=IMPORT_FROM,
            workers=SYNC_WORKERS,
        ):
            for outcome in report.outcomes:
                record = outcome.record
                partner_id = record.attribs[MATCH_ATTRIBUTE]
                if outcome.action is SyncAction.PENDING:
                    continue
                counts[outcome.action.value] += 1
                subscriber = outcome.subscriber
                failed = outcome.action is SyncAction.FAILED
                rows.append(
                    (
                        partner_id,
                        subscriber.id if subscriber else 0,
                        record.email,
                        "," + ",".join(map(str, record.lists)) + "," if record.lists else "",
                        None if failed else digests[record],
                        "failed" if failed else "synced",
                        (outcome.error or "")[:500] if failed else None,
                    )
                )
            if report.interrupted_by is not None:
                error = report.interrupted_by
        self._store_links(rows)
        if error is None and removals:
            try:
                for (action, lid), ids in removals.items():
                    client.change_subscriptions(sorted(set(ids)), action, [lid])
                    counts["removed"] += len(ids)
            except ListmonkError as exc:
                error = exc
        return error

    def _store_links(self, rows):
        """Upsert the batch's links in one statement (100,000 on a first sync)."""
        if not rows:
            return
        now = fields.Datetime.now()
        columns = list(zip(*rows, strict=True))
        self.env["marketing.listmonk.subscriber"].flush_model()
        self.env.cr.execute(
            SQL(
                """INSERT INTO marketing_listmonk_subscriber AS s
                    (server_id, partner_id, listmonk_id, email, list_ids, payload_hash, state,
                     error, synced_at, create_uid, create_date, write_uid, write_date)
                SELECT %(server)s, r.partner_id, NULLIF(r.listmonk_id, 0), r.email, r.lists,
                       r.digest, r.state, r.error, %(now)s, %(uid)s, %(now)s, %(uid)s, %(now)s
                FROM unnest(%(partners)s::int[], %(ids)s::int[], %(emails)s::varchar[],
                            %(lists)s::varchar[], %(digests)s::varchar[], %(states)s::varchar[],
                            %(errors)s::varchar[])
                     AS r(partner_id, listmonk_id, email, lists, digest, state, error)
                ON CONFLICT (server_id, partner_id) DO UPDATE SET
                    listmonk_id = COALESCE(EXCLUDED.listmonk_id, s.listmonk_id),
                    email = EXCLUDED.email, list_ids = EXCLUDED.list_ids,
                    payload_hash = EXCLUDED.payload_hash, state = EXCLUDED.state,
                    error = EXCLUDED.error, synced_at = EXCLUDED.synced_at,
                    write_uid = EXCLUDED.write_uid, write_date = EXCLUDED.write_date""",
                server=self.id,
                now=now,
                uid=self.env.uid,
                partners=list(columns[0]),
                ids=list(columns[1]),
                emails=list(columns[2]),
                lists=list(columns[3]),
                digests=list(columns[4]),
                states=list(columns[5]),
                errors=list(columns[6]),
            )
        )
        self.env["marketing.listmonk.subscriber"].invalidate_model()
