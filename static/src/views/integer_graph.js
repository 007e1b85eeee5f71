/** @odoo-module **/
// Counts of messages are whole numbers: Chart.js would otherwise put ticks at 0.1, 0.2…
// on a small forecast. Only this addon's graphs are changed.
import { patch } from "@web/core/utils/patch";
import { GraphRenderer } from "@web/views/graph/graph_renderer";

patch(GraphRenderer.prototype, {
    getScaleOptions() {
        const options = super.getScaleOptions(...arguments);
        const { fields, measure, resModel } = this.model.metaData;
        const type = measure === "__count" ? "integer" : fields[measure]?.type;
        if (options.y && resModel?.startsWith("marketing.") && type === "integer") {
            options.y.ticks = { ...options.y.ticks, precision: 0 };
        }
        return options;
    },
});
