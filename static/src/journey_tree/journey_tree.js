/** @odoo-module **/
// The steps of a journey as a diagram: one card per step under its parent, with what
// makes it run (condition, wait), what it does and its live counters. Steps are edited
// in the step form (a dialog): the tree is derived from each step's parent, so there is
// nothing to drag and nothing that can disagree with the list.
import { Component } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

const STEP_MODEL = "marketing.journey.step";
// A message step shows its channel rather than the generic envelope of its action.
const CHANNEL_ICONS = {
    email: "fa-envelope",
    sms: "fa-mobile",
    phone: "fa-phone",
    voice: "fa-volume-up",
};

function unitWords(value, unit) {
    if (unit === "hours") {
        return value === 1 ? _t("1 hour") : _t("%s hours", value);
    }
    return value === 1 ? _t("1 day") : _t("%s days", value);
}

function idOf(many2one) {
    if (!many2one) {
        return false;
    }
    return Array.isArray(many2one) ? many2one[0] : many2one.id;
}

function nameOf(many2one) {
    if (!many2one) {
        return "";
    }
    return Array.isArray(many2one) ? many2one[1] : many2one.display_name;
}

/** The condition of a step on its parent, as a sentence. */
export function conditionWords(data, isRoot) {
    const within = data.window_value ? unitWords(data.window_value, data.window_unit) : "";
    const link = nameOf(data.link_id);
    switch (data.condition) {
        case "always":
            return isRoot ? _t("When the contact enters") : _t("Always");
        case "opened":
            return within ? _t("If opened within %s", within) : _t("If opened");
        case "not_opened":
            return _t("If not opened within %s", within || _t("0 days"));
        case "clicked":
            if (link) {
                return within
                    ? _t("If “%(link)s” is clicked within %(within)s", { link, within })
                    : _t("If “%s” is clicked", link);
            }
            return within ? _t("If a link is clicked within %s", within) : _t("If a link is clicked");
        case "not_clicked":
            return link
                ? _t("If “%(link)s” is not clicked within %(within)s", { link, within })
                : _t("If no link is clicked within %s", within || _t("0 days"));
        case "replied":
            return within ? _t("If replied within %s", within) : _t("If replied");
        case "not_replied":
            return _t("If not replied within %s", within || _t("0 days"));
        case "bounced":
            return _t("If the email bounced");
        case "not_sent":
            return _t("If the message was not sent");
        case "activity_done":
            return _t("If the salesperson's activity is done");
        case "activity_cancelled":
            return _t("If the salesperson's activity is cancelled");
        case "activity_overdue":
            return _t("If the salesperson's activity is still open at its deadline");
        case "order_confirmed":
            return within
                ? _t("If an order is confirmed within %s", within)
                : _t("If an order is confirmed");
        case "order_not_confirmed":
            return _t("If no order is confirmed within %s", within || _t("0 days"));
        case "matches":
            return _t("If the contact matches the filter");
        case "not_matches":
            return _t("If the contact does not match the filter");
        case "split":
            return _t("A/B %(percent)s %", { percent: data.split_percent || 0 });
    }
    return data.condition || "";
}

export function waitWords(data) {
    return data.wait_value
        ? _t("wait %s", unitWords(data.wait_value, data.wait_unit))
        : _t("at once");
}

export class JourneyStepTree extends Component {
    static template = "marketing_trigger.JourneyStepTree";
    static props = { ...standardFieldProps };

    setup() {
        this.action = useService("action");
    }

    get list() {
        return this.props.record.data[this.props.name];
    }

    get canEdit() {
        return !this.props.readonly;
    }

    selectionLabel(fieldName, value) {
        const field = this.list.fields[fieldName];
        const option = (field?.selection || []).find(([key]) => key === value);
        return option ? option[1] : value || "";
    }

    /** The steps as nested nodes, in the list's order under each parent. */
    get tree() {
        const records = this.list.records;
        const known = new Set(records.map((r) => r.resId));
        const children = new Map();
        for (const record of records) {
            const parentId = idOf(record.data.parent_id);
            const key = parentId && known.has(parentId) ? parentId : false;
            if (!children.has(key)) {
                children.set(key, []);
            }
            children.get(key).push(record);
        }
        // Branches in the order they were added, whatever the list's sort.
        for (const siblings of children.values()) {
            siblings.sort((a, b) => (a.resId || Infinity) - (b.resId || Infinity));
        }
        const build = (record, depth, seen) => {
            // A cycle cannot be saved; still, never recurse forever on odd data.
            if (seen.has(record.resId)) {
                return null;
            }
            seen.add(record.resId);
            return {
                id: record.resId || record.id,
                resId: record.resId,
                card: this.card(record, depth === 0),
                children: (children.get(record.resId) || [])
                    .map((child) => build(child, depth + 1, seen))
                    .filter(Boolean),
            };
        };
        const seen = new Set();
        return (children.get(false) || []).map((record) => build(record, 0, seen));
    }

    card(record, isRoot) {
        const data = record.data;
        const isMessage = data.action === "message";
        return {
            name: data.name || this.selectionLabel("action", data.action),
            icon: (isMessage && CHANNEL_ICONS[data.channel]) || data.icon || "fa-circle",
            condition: conditionWords(data, isRoot),
            isSplit: data.condition === "split",
            wait: waitWords(data),
            action: isMessage ? "" : this.selectionLabel("action", data.action),
            channel: isMessage ? this.selectionLabel("channel", data.channel) : "",
            fallback:
                isMessage && data.fallback_channel && data.fallback_channel !== "none"
                    ? this.selectionLabel("fallback_channel", data.fallback_channel)
                    : "",
            archived: "active" in data && !data.active,
            counters: [
                { key: "processed", label: _t("processed"), value: data.processed_count },
                { key: "sent", label: _t("sent"), value: data.step_sent_count },
                { key: "not_sent", label: _t("not sent"), value: data.step_suppressed_count },
                { key: "opened", label: _t("opened"), value: data.step_opened_count },
                { key: "clicked", label: _t("clicked"), value: data.step_clicked_count },
                { key: "converted", label: _t("converted"), value: data.step_converted_count },
            ].filter((counter) => counter.value !== undefined),
        };
    }

    /** The journey must exist in the database before a step can point to it. */
    async ensureSaved() {
        const record = this.props.record;
        if (record.isNew || (await record.isDirty())) {
            return record.save();
        }
        return true;
    }

    async openStep(resId, context = {}) {
        if (!this.canEdit || !(await this.ensureSaved())) {
            return;
        }
        const journeyId = this.props.record.resId;
        await this.action.doAction(
            {
                type: "ir.actions.act_window",
                name: resId ? _t("Step") : _t("New step"),
                res_model: STEP_MODEL,
                res_id: resId || false,
                views: [[false, "form"]],
                target: "new",
                context: { default_journey_id: journeyId, ...context },
            },
            { onClose: () => this.props.record.load() }
        );
    }

    onEdit(node) {
        return this.openStep(node.resId);
    }

    onAddAfter(node) {
        return this.openStep(false, { default_parent_id: node.resId });
    }

    onAddFirst() {
        return this.openStep(false, { default_parent_id: false });
    }
}

export const journeyStepTree = {
    component: JourneyStepTree,
    displayName: _t("Journey diagram"),
    supportedTypes: ["one2many"],
    // The steps' fields are those of the <list> inside the field in the view: the
    // relational model fetches exactly them (with the field's context, archived too).
};

registry.category("fields").add("journey_step_tree", journeyStepTree);
