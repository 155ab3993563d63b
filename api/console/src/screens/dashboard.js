// SECI dashboard (GET /metrics): where knowledge is in the spiral and how it moves — items per
// kind and status, events per stage over time, coverage of frequent situations by approved talk
// tracks, the contradiction backlog, and how suggestions fared. Each chart has its heading, an
// aria-label and its numbers in a small table beside it.
import { useContext, useState } from "preact/hooks";
import { get } from "../api.js";
import { Lang, useT } from "../i18n.js";
import { ChartCanvas, html, Loaded, useApi } from "../ui.js";

const S = {
  en: {
    title: "SECI dashboard",
    scopeAll: "All teams' knowledge.",
    scopeTeam: "Knowledge of team {team} and the shared items.",
    frequent: "A talk track counts as frequent from this many situations",
    apply: "Apply",
    keyFigures: "Key figures",
    itemsTotal: "Knowledge items",
    approvedItems: "Approved items",
    coverage: "Coverage of frequent situations",
    backlog: "Contradictions waiting",
    openQueue: "Open the curation queue",
    suggestions: "Suggestions used",
    itemsTitle: "Items by kind and status",
    itemsLabel: "Stacked bar chart of knowledge items per kind, split by status",
    kind: "Kind",
    total: "Total",
    kind_talk_track: "Talk track",
    kind_faq: "FAQ",
    kind_fact: "Fact",
    status_draft: "Draft",
    status_approved: "Approved",
    status_rejected: "Rejected",
    status_retired: "Retired",
    stagesTitle: "Events per SECI stage, all time",
    stagesLabel: "Doughnut chart of events per SECI stage",
    stage: "Stage",
    events: "Events",
    socialization: "Socialization (captured)",
    externalization: "Externalization (mined)",
    combination: "Combination (curated)",
    internalization: "Internalization (used)",
    flowTitle: "Flow between stages over time",
    flowLabel: "Line chart of events per day for each SECI stage",
    day: "Day",
    noFlow: "No event yet.",
    days: "Days with events: {n}; the table shows the last {k}.",
    flowTable: "Events per day and stage",
    coverageTitle: "Frequent situations covered by approved talk tracks",
    coverageLabel: "Doughnut chart: situations in frequent talk tracks, approved or not yet",
    covered: "In an approved talk track",
    uncovered: "Not approved yet",
    coverageSummary: "{a} of {s} situations ({p} %) in {f} frequent talk tracks",
    noFrequent: "No talk track is frequent yet at this threshold.",
    backlogTitle: "Contradiction backlog",
    backlogSummary: "contradiction proposals wait for a knowledge manager",
    suggestionsTitle: "Suggestions: use and success",
    suggestionsLabel: "Bar chart of suggestion uses and reported outcomes",
    uses: "Used",
    worked: "Worked",
    failed: "Didn't work",
    outcomeSummary: "worked {w} of {n} reported outcomes; the evidence supports at least {p} %",
    noOutcome: "No outcome reported yet.",
    figure: "Figure",
    count: "Count",
  },
  zh: {
    title: "SECI 看板",
    scopeAll: "所有团队的知识。",
    scopeTeam: "团队 {team} 的知识及共享条目。",
    frequent: "话术至少有多少个情境才算高频",
    apply: "应用",
    keyFigures: "关键指标",
    itemsTotal: "知识条目",
    approvedItems: "已批准条目",
    coverage: "高频情境覆盖",
    backlog: "待处理矛盾",
    openQueue: "打开审核队列",
    suggestions: "话术使用次数",
    itemsTitle: "按类型和状态统计的条目",
    itemsLabel: "堆叠柱状图：各类型知识条目数，按状态分组",
    kind: "类型",
    total: "合计",
    kind_talk_track: "话术",
    kind_faq: "常见问题",
    kind_fact: "知识点",
    status_draft: "草稿",
    status_approved: "已批准",
    status_rejected: "已驳回",
    status_retired: "已停用",
    stagesTitle: "各 SECI 阶段事件数（累计）",
    stagesLabel: "环形图：各 SECI 阶段的事件数",
    stage: "阶段",
    events: "事件数",
    socialization: "社会化（采集）",
    externalization: "外化（挖掘）",
    combination: "组合化（审核）",
    internalization: "内化（使用）",
    flowTitle: "各阶段随时间的流转",
    flowLabel: "折线图：每天各 SECI 阶段的事件数",
    day: "日期",
    noFlow: "暂无事件。",
    days: "共 {n} 天有事件；表格显示最近 {k} 天。",
    flowTable: "每天各阶段事件数",
    coverageTitle: "已批准话术对高频情境的覆盖",
    coverageLabel: "环形图：高频话术中的情境，已批准与未批准",
    covered: "已有批准话术",
    uncovered: "尚未批准",
    coverageSummary: "{f} 条高频话术的 {s} 个情境中，{a} 个（{p}%）已覆盖",
    noFrequent: "在此阈值下还没有高频话术。",
    backlogTitle: "矛盾待处理",
    backlogSummary: "条矛盾提议等待知识管理员处理",
    suggestionsTitle: "话术建议：使用与效果",
    suggestionsLabel: "柱状图：话术建议的使用次数与反馈结果",
    uses: "已使用",
    worked: "有效",
    failed: "无效",
    outcomeSummary: "{n} 次反馈中 {w} 次有效；按现有证据成功率至少 {p}%",
    noOutcome: "还没有反馈结果。",
    figure: "指标",
    count: "数量",
  },
};

const KINDS = ["talk_track", "faq", "fact"];
const STATUSES = ["approved", "draft", "rejected", "retired"];
const STAGES = ["socialization", "externalization", "combination", "internalization"];
const COLORS = {
  approved: "#1d6b2f",
  draft: "#c27c0e",
  rejected: "#a1141b",
  retired: "#6b7280",
  socialization: "#1c4f9c",
  externalization: "#7a3fb0",
  combination: "#c27c0e",
  internalization: "#1d6b2f",
  uses: "#1c4f9c",
  worked: "#1d6b2f",
  failed: "#a1141b",
  uncovered: "#d1d5db",
};
const LAST_DAYS = 7;

function Figure({ id, label, value, note }) {
  return html`<div class="figure" aria-labelledby=${`${id}-l`}>
    <span class="figure-value" data-metric=${id}>${value}</span>
    <span class="figure-label" id=${`${id}-l`}>${label}</span>
    ${note && html`<span class="muted">${note}</span>`}
  </div>`;
}

function Panel({ id, title, children }) {
  return html`<article class="card panel" aria-labelledby=${id} data-chart=${id}>
    <h2 id=${id}>${title}</h2>
    ${children}
  </article>`;
}

function ItemsChart({ m, t }) {
  const config = {
    type: "bar",
    data: {
      labels: KINDS.map((k) => t(`kind_${k}`)),
      datasets: STATUSES.map((s) => ({
        label: t(`status_${s}`),
        data: KINDS.map((k) => m.items[k]?.[s] || 0),
        backgroundColor: COLORS[s],
      })),
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  };
  return html`<${Panel} id="chart-items" title=${t("itemsTitle")}>
    <${ChartCanvas} config=${config} label=${t("itemsLabel")} />
    <table class="chart-data" data-table="items">
      <thead><tr><th scope="col">${t("kind")}</th>
        ${STATUSES.map((s) => html`<th scope="col">${t(`status_${s}`)}</th>`)}
        <th scope="col">${t("total")}</th></tr></thead>
      <tbody>
        ${KINDS.map(
          (k) => html`<tr data-kind=${k}><th scope="row">${t(`kind_${k}`)}</th>
            ${STATUSES.map((s) => html`<td data-status=${s}>${m.items[k]?.[s] || 0}</td>`)}
            <td data-status="total">${STATUSES.reduce((n, s) => n + (m.items[k]?.[s] || 0), 0)}</td></tr>`,
        )}
      </tbody>
    </table>
  <//>`;
}

function StagesChart({ m, t }) {
  const config = {
    type: "doughnut",
    data: {
      labels: STAGES.map((s) => t(s)),
      datasets: [{ data: STAGES.map((s) => m.stages[s] || 0), backgroundColor: STAGES.map((s) => COLORS[s]) }],
    },
    options: { plugins: { legend: { position: "right" } } },
  };
  return html`<${Panel} id="chart-stages" title=${t("stagesTitle")}>
    <${ChartCanvas} config=${config} label=${t("stagesLabel")} />
    <table class="chart-data" data-table="stages">
      <thead><tr><th scope="col">${t("stage")}</th><th scope="col">${t("events")}</th></tr></thead>
      <tbody>
        ${STAGES.map(
          (s) => html`<tr data-stage=${s}><th scope="row">${t(s)}</th><td>${m.stages[s] || 0}</td></tr>`,
        )}
      </tbody>
    </table>
  <//>`;
}

function FlowChart({ m, t, day }) {
  const days = Object.keys(m.flow).sort();
  if (days.length === 0) {
    return html`<${Panel} id="chart-flow" title=${t("flowTitle")}><p>${t("noFlow")}</p><//>`;
  }
  const config = {
    type: "line",
    data: {
      labels: days.map(day),
      datasets: STAGES.map((s) => ({
        label: t(s),
        data: days.map((d) => m.flow[d][s] || 0),
        borderColor: COLORS[s],
        backgroundColor: COLORS[s],
        tension: 0.2,
      })),
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  };
  const last = days.slice(-LAST_DAYS);
  return html`<${Panel} id="chart-flow" title=${t("flowTitle")}>
    <${ChartCanvas} config=${config} label=${t("flowLabel")} />
    <p class="muted">${t("days", { n: days.length, k: last.length })}</p>
    <div class="overflow-auto" tabindex="0" role="region" aria-label=${t("flowTable")}>
      <table class="chart-data" data-table="flow">
        <thead><tr><th scope="col">${t("day")}</th>
          ${STAGES.map((s) => html`<th scope="col">${t(s)}</th>`)}</tr></thead>
        <tbody>
          ${last.map(
            (d) => html`<tr data-day=${d}><th scope="row">${day(d)}</th>
              ${STAGES.map((s) => html`<td data-stage=${s}>${m.flow[d][s] || 0}</td>`)}</tr>`,
          )}
        </tbody>
      </table>
    </div>
  <//>`;
}

function CoverageChart({ m, t }) {
  const c = m.coverage;
  const summary = t("coverageSummary", {
    a: c.approved,
    s: c.situations,
    p: Math.round(c.share * 100),
    f: c.frequent,
  });
  if (!c.situations) {
    return html`<${Panel} id="chart-coverage" title=${t("coverageTitle")}><p>${t("noFrequent")}</p><//>`;
  }
  const config = {
    type: "doughnut",
    data: {
      labels: [t("covered"), t("uncovered")],
      datasets: [
        { data: [c.approved, c.situations - c.approved], backgroundColor: [COLORS.approved, COLORS.uncovered] },
      ],
    },
    options: { plugins: { legend: { position: "right" } } },
  };
  return html`<${Panel} id="chart-coverage" title=${t("coverageTitle")}>
    <${ChartCanvas} config=${config} label=${`${t("coverageLabel")}: ${summary}`} />
    <p data-summary="coverage">${summary}</p>
  <//>`;
}

function SuggestionsChart({ m, t }) {
  const u = m.suggestions;
  const trials = u.worked + u.failed;
  const config = {
    type: "bar",
    data: {
      labels: [t("uses"), t("worked"), t("failed")],
      datasets: [
        {
          label: t("count"),
          data: [u.uses, u.worked, u.failed],
          backgroundColor: [COLORS.uses, COLORS.worked, COLORS.failed],
        },
      ],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  };
  return html`<${Panel} id="chart-suggestions" title=${t("suggestionsTitle")}>
    <${ChartCanvas} config=${config} label=${t("suggestionsLabel")} />
    <table class="chart-data" data-table="suggestions">
      <thead><tr><th scope="col">${t("figure")}</th><th scope="col">${t("count")}</th></tr></thead>
      <tbody>
        <tr><th scope="row">${t("uses")}</th><td data-figure="uses">${u.uses}</td></tr>
        <tr><th scope="row">${t("worked")}</th><td data-figure="worked">${u.worked}</td></tr>
        <tr><th scope="row">${t("failed")}</th><td data-figure="failed">${u.failed}</td></tr>
      </tbody>
    </table>
    <p>${trials
      ? t("outcomeSummary", { w: u.worked, n: trials, p: Math.round(u.success_lower_bound * 100) })
      : t("noOutcome")}</p>
  <//>`;
}

export default function Dashboard({ me, params, navigate }) {
  const t = useT(S);
  const lang = useContext(Lang);
  const frequent = params.frequent || "3";
  const [threshold, setThreshold] = useState(frequent);
  const state = useApi(() => get("/metrics", { frequent }), [frequent]);
  const day = (d) => new Date(`${d}T00:00:00`).toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB");
  const curates = me.role === "knowledge_manager" || me.role === "admin";
  return html`<h1>${t("title")}</h1>
    <p class="muted">${me.role === "admin" || !me.team ? t("scopeAll") : t("scopeTeam", { team: me.team })}</p>
    <form class="inline" onSubmit=${(e) => {
        e.preventDefault();
        navigate("dashboard", { frequent: threshold });
      }}>
      <label for="frequent">${t("frequent")}</label>
      <input id="frequent" type="number" min="1" max="1000" required value=${threshold}
        onInput=${(e) => setThreshold(e.target.value)} />
      <button type="submit" class="secondary">${t("apply")}</button>
    </form>
    <${Loaded} state=${state}>
      ${(m) => {
        const total = KINDS.reduce((n, k) => n + STATUSES.reduce((a, s) => a + (m.items[k]?.[s] || 0), 0), 0);
        const approved = KINDS.reduce((n, k) => n + (m.items[k]?.approved || 0), 0);
        const c = m.coverage;
        return html`<section aria-labelledby="figures-h">
            <h2 id="figures-h">${t("keyFigures")}</h2>
            <div class="figures">
              <${Figure} id="items-total" label=${t("itemsTotal")} value=${total} />
              <${Figure} id="items-approved" label=${t("approvedItems")} value=${approved} />
              <${Figure} id="coverage" label=${t("coverage")}
                value=${`${c.approved}/${c.situations}`} note=${`${Math.round(c.share * 100)} %`} />
              <${Figure} id="backlog" label=${t("backlog")} value=${m.contradiction_backlog} />
              <${Figure} id="uses" label=${t("suggestions")} value=${m.suggestions.uses} />
            </div>
          </section>
          <div class="dash-grid">
            <${ItemsChart} m=${m} t=${t} />
            <${StagesChart} m=${m} t=${t} />
            <${FlowChart} m=${m} t=${t} day=${day} />
            <${CoverageChart} m=${m} t=${t} />
            <${SuggestionsChart} m=${m} t=${t} />
            <${Panel} id="chart-backlog" title=${t("backlogTitle")}>
              <p class="big-number" data-figure="backlog">${m.contradiction_backlog}</p>
              <p>${t("backlogSummary")}</p>
              ${curates && html`<a href="#/curation" role="button" class="secondary outline">${t("openQueue")}</a>`}
            <//>
          </div>`;
      }}
    <//>`;
}
