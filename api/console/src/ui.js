// Shared pieces of every screen: markup, loading data, errors, counts, charts.
import { h } from "preact";
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import { Chart, registerables } from "chart.js";
import { Lang, useT } from "./i18n.js";

Chart.register(...registerables);

export const html = htm.bind(h);

/** Data from the API: {data, error, loading, reload}; `deps` reloads it when they change. */
export function useApi(load, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const reload = useCallback(() => {
    setState((s) => ({ ...s, loading: true, error: null }));
    return Promise.resolve()
      .then(load)
      .then(
        (data) => setState({ data, error: null, loading: false }),
        (error) => setState({ data: null, error, loading: false }),
      );
  }, deps);
  useEffect(() => {
    reload();
  }, [reload]);
  return { ...state, reload };
}

export function Loading() {
  const t = useT();
  return html`<p aria-busy="true">${t("loading")}</p>`;
}

export function ErrorNote({ error, onRetry }) {
  const t = useT();
  if (!error) return null;
  return html`<p role="alert" class="error">
    ${t("error")}: ${error.message || String(error)}
    ${onRetry && html` <button class="secondary outline" onClick=${onRetry}>${t("retry")}</button>`}
  </p>`;
}

/** Data or its loading state or its error, in one place. */
export function Loaded({ state, children }) {
  if (state.error) return html`<${ErrorNote} error=${state.error} onRetry=${state.reload} />`;
  if (state.loading && state.data === null) return html`<${Loading} />`;
  return children(state.data);
}

const STATS = {
  en: { counts: "worked {s} of {n}", uses: "used {u}×", untried: "not tried yet" },
  zh: { counts: "成功 {s}/{n} 次", uses: "使用 {u} 次", untried: "尚未试用" },
};

/** Outcome counts as counts ("worked 7 of 9"), never a bare rate. */
export function Counts({ stats }) {
  const t = useT(STATS);
  if (!stats) return null;
  const parts = [];
  if (stats.trials) parts.push(t("counts", { s: stats.successes, n: stats.trials }));
  if (stats.uses) parts.push(t("uses", { u: stats.uses }));
  return html`<span class="muted">${parts.length ? parts.join(" · ") : t("untried")}</span>`;
}

const STATUS = {
  en: { draft: "draft", approved: "approved", retired: "retired", rejected: "rejected",
    proposed: "proposed" },
  zh: { draft: "草稿", approved: "已批准", retired: "已停用", rejected: "已驳回", proposed: "待审" },
};

export function StatusTag({ status }) {
  const t = useT(STATUS);
  if (!status) return null;
  return html`<span class=${`tag ${status}`}>${t(status)}</span>`;
}

/** A Chart.js chart; `config` is Chart.js's own ({type, data, options}). */
export function ChartCanvas({ config, label }) {
  const canvas = useRef(null);
  useEffect(() => {
    const chart = new Chart(canvas.current, {
      ...config,
      options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
    });
    return () => chart.destroy();
  }, [JSON.stringify(config)]);
  return html`<div class="chart-box"><canvas ref=${canvas} role="img" aria-label=${label}></canvas></div>`;
}

/** A date and time as the person's language writes them ("" for none). */
export function useDate() {
  const lang = useContext(Lang);
  return (iso) => (iso ? new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB") : "");
}

/** A short-lived message for screen readers and eyes ("recorded", "undone"). */
export function Notice({ text }) {
  return html`<p role="status" aria-live="polite" class="muted">${text || ""}</p>`;
}
