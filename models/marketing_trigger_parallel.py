"""Several cron workers on one queue.

Odoo runs one cron job in one worker at a time (it locks the job for the whole run), so a
second worker never helps with a job's backlog. Each queue of the addon therefore can have
*parallel jobs*: copies of its cron that call the same method. Every run claims its
batch with ``FOR UPDATE SKIP LOCKED``, so the copies share the queue without doing an item
twice or skipping one. Their number is a setting (*Parallel jobs per queue*); the copies
are created and removed to match it.

A run that leaves work behind tells Odoo so through the progress API
(``ir.cron._notify_progress(remaining=...)``). Odoo then reschedules the job "as soon as
possible" but wakes no cron worker: here the job and its siblings are triggered, whose
NOTIFY wakes every cron worker when the batch commits, so a backlog drains without idle
gaps and spreads over every free cron worker.
"""

from odoo import api, fields, models

PARALLEL_PARAM = "marketing_trigger.parallel_jobs"
MAX_PARALLEL_JOBS = 16
QUEUE_CRONS = (
    "marketing_trigger.ir_cron_dispatch",
    "marketing_trigger.ir_cron_process_events",
    "marketing_trigger.ir_cron_redecide",
    "marketing_trigger.ir_cron_journey_advance",
    "marketing_trigger.ir_cron_time_triggers",
)


class IrCron(models.Model):
    _inherit = "ir.cron"

    marketing_queue_main_id = fields.Many2one(
        "ir.cron",
        string="Parallel job of",
        ondelete="cascade",
        readonly=True,
        help="This job is a copy of a marketing queue's job, running beside it.",
    )

    @api.model
    def _marketing_queue_mains(self):
        return self.sudo().browse(
            cron.id
            for xmlid in QUEUE_CRONS
            if (cron := self.env.ref(xmlid, raise_if_not_found=False))
        )

    @api.model
    def _marketing_queue_jobs(self):
        """Every job of the marketing queues, with their parallel copies."""
        mains = self._marketing_queue_mains()
        copies = (
            self.sudo()
            .with_context(active_test=False)
            .search([("marketing_queue_main_id", "in", mains.ids)])
        )
        return mains | copies

    def _marketing_siblings(self):
        """The jobs sharing this job's queue (itself excluded)."""
        self.ensure_one()
        main = self.marketing_queue_main_id or self
        if main not in self._marketing_queue_mains():
            return self.browse()
        copies = (
            self.sudo()
            .with_context(active_test=False)
            .search([("marketing_queue_main_id", "=", main.id)])
        )
        return (main | copies).filtered("active") - self

    @api.model
    def _marketing_sync_parallel_jobs(self, count):
        """Make each queue have ``count`` jobs (its own plus ``count - 1`` copies)."""
        count = max(1, min(int(count or 1), MAX_PARALLEL_JOBS))
        Cron = self.sudo().with_context(active_test=False)
        for main in self._marketing_queue_mains():
            copies = Cron.search([("marketing_queue_main_id", "=", main.id)], order="id")
            for extra in copies[count - 1 :]:
                extra.unlink()
            for number in range(len(copies) + 2, count + 1):
                main.copy(
                    {
                        "name": f"{main.name} (parallel job {number})",
                        "marketing_queue_main_id": main.id,
                        "active": main.active,
                    }
                )
        return count

    @api.model
    def _notify_progress(self, *, done, remaining, deactivate=False):
        result = super()._notify_progress(done=done, remaining=remaining, deactivate=deactivate)
        cron_id = self.env.context.get("cron_id")
        if remaining and cron_id:
            job = self.sudo().browse(cron_id)
            if job not in self._marketing_queue_jobs():
                return result
            # The job itself too: Odoo reschedules a job that left work "as soon as
            # possible" but wakes no cron worker (after MAX_BATCH_PER_CRON_JOB batches
            # the worker goes back to sleep until its next poll, up to a minute). A
            # trigger's NOTIFY, sent when this batch commits, wakes the workers at once.
            # One by one: ir.cron._trigger works on a single job.
            for target in job | job._marketing_siblings():
                target._trigger()
        return result


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    marketing_parallel_jobs = fields.Integer(
        "Parallel jobs per queue",
        default=1,
        help="How many cron workers may work on each marketing queue at once (dispatch, "
        "events, deferred decisions, journeys, time-based triggers). Set it to the number "
        "of cron workers of "
        "all your Odoo servers (max_cron_threads × servers), at most 16.",
    )

    @api.model
    def get_values(self):
        values = super().get_values()
        param = self.env["ir.config_parameter"].sudo().get_param(PARALLEL_PARAM, "1")
        values["marketing_parallel_jobs"] = int(param or 1)
        return values

    def set_values(self):
        super().set_values()
        count = self.env["ir.cron"]._marketing_sync_parallel_jobs(self.marketing_parallel_jobs)
        self.env["ir.config_parameter"].sudo().set_param(PARALLEL_PARAM, str(count))
