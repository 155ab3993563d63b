// Curation queue for knowledge managers (GET /curation/queue): contradictions with both
// sentences and the differing figures marked, near-duplicates side by side with the merged
// result, reviews, complementary pairs and mined drafts. Every decision is one event in the log:
// each item shows its history (GET /items/{id}) and a curation decision is undone by its number
// (POST /curation/events/{seq}/undo).
import { createContext } from "preact";
import { useContext, useEffect, useId, useRef, useState } from "preact/hooks";
import { ApiError, get, patch, post, seg } from "../api.js";
import { useT } from "../i18n.js";
import { Counts, ErrorNote, html, Loaded, Loading, Notice, StatusTag, useApi } from "../ui.js";

const KINDS = ["contradiction", "merge", "review", "complements", "approve"];
const PAGE = 20;
const LINK_TYPES = ["complements", "contradicts", "prerequisite_of", "similar_to"];
const ITEM_KINDS = ["talk_track", "faq", "fact"];
// What a knowledge manager undoes here: their decisions on items and proposals (mining and
// ingest are undone otherwise: re-ingest, or an admin through /admin/events).
const UNDOABLE =
  /^(item\.(approve|reject|retire|verify|edit|assign|link|merge|split)|proposal\.dismiss)$/;

const S = {
  en: {
    title: "Curation queue",
    intro:
      "Proposals waiting for your decision, most urgent first. Every decision is kept in the event log with your reason, and can be undone.",
    show: "Show",
    allKinds: "All proposals",
    filter_contradiction: "Contradictions",
    filter_merge: "Near-duplicates",
    filter_review: "Due for review",
    filter_complements: "Complementary pairs",
    filter_approve: "Drafts to approve",
    proposals: "Proposals ({n})",
    empty: "Nothing waits for a decision.",
    more: "Show more",
    kind_contradiction: "Contradiction",
    kind_merge: "Near-duplicates",
    kind_review: "Review",
    kind_complements: "Complementary",
    kind_approve: "Draft",
    h_contradiction: "“{subject}”: {a} against {b}",
    h_merge: "Two items say the same (similarity {score})",
    h_review: "Still right? {title}",
    h_complements: "Related items (similarity {score})",
    h_approve: "Mined draft: {title}",
    conflictKind: "Conflict in the {kind}: {a} / {b}",
    conflict_amount: "amount",
    conflict_duration: "duration",
    conflict_number: "figure",
    conflict_percent: "percentage",
    conflict_negation: "negation",
    conflict_policy_term: "policy term",
    side: "Side {n}",
    passage: "Document passage (not an item: it changes when its document is re-ingested)",
    itemKind_talk_track: "Talk track",
    itemKind_faq: "FAQ",
    itemKind_fact: "Fact",
    evidence: "{n} situations",
    evidence1: "1 situation",
    fullText: "Whole text",
    reason: "Reason (kept in the log)",
    confirmConflict: "Confirm the conflict",
    notConflict: "Not a conflict",
    merge: "Merge",
    notDuplicates: "Not duplicates",
    keepThis: "Keep this one",
    mergedResult: "After the merge",
    mergedNote:
      "{other} is retired into {keep}; the evidence, counts and links of both are kept. Undo brings both back as they were.",
    mergedEvidence: "Evidence of both: {n}",
    responses: "Responses it holds",
    linkComplements: "Link as complementary",
    notRelated: "Not related",
    verify: "Verify",
    days: "Valid for (days)",
    retire: "Retire",
    approve: "Approve",
    reject: "Reject",
    edit: "Edit",
    split: "Split",
    linkTo: "Link…",
    mergeWith: "Merge another into this…",
    close: "Close",
    history: "History ({n})",
    undoEvent: "Undo #{seq}",
    undoLabel: "Undo #{seq} ({action})",
    action_item_mined: "mined",
    action_item_unmined: "mining withdrew it",
    action_item_approve: "approved",
    action_item_reject: "rejected",
    action_item_retire: "retired",
    action_item_verify: "verified",
    action_item_edit: "edited",
    action_item_assign: "assigned",
    action_item_link: "linked",
    action_item_merge: "merged",
    action_item_split: "split",
    action_proposal_dismiss: "proposal dismissed",
    action_undo: "undone",
    action_feedback_used: "used",
    action_feedback_worked: "worked",
    action_feedback_failed: "didn't work",
    f_title: "Title",
    f_text: "Text",
    f_situation: "Situation (when to say it)",
    f_kind: "Kind",
    save: "Save",
    nothingChanged: "Change the title, text, situation or kind first.",
    splitHelp: "Tick the situations to move out into a new draft item (some, not all).",
    splitSubmit: "Move into a new draft",
    pickItem: "Other item",
    choose: "Choose an item…",
    linkType: "Link type",
    link_complements: "complements",
    link_contradicts: "contradicts",
    link_prerequisite_of: "is a prerequisite of",
    link_similar_to: "is similar to",
    doLink: "Link",
    doMerge: "Merge into this item",
    lastDecision: "Last decision",
    eventLine: "Event #{seq} · {action} · {actor} · {at}",
    touched: "History of what it touched",
    undo: "Undo",
    done: "{what} (event #{seq}).",
    did_approve: "Approved",
    did_reject: "Rejected",
    did_retire: "Retired",
    did_verify: "Verified",
    did_edit: "New wording saved",
    did_merge: "Merged",
    did_split: "Split into a new draft",
    did_link: "Linked",
    did_conflict: "Conflict recorded: the two are linked as contradicting",
    did_dismiss: "Dismissed: it will not be proposed again",
    did_undo: "Undone",
    openGraph: "Graph",
    verified: "verified {date}",
    expires: "due {date}",
    notVerified: "never verified",
    you: "you",
  },
  zh: {
    title: "知识审核队列",
    intro: "等待你决定的提议，最紧急的在前。每个决定连同理由都记入事件日志，并且可以撤销。",
    show: "显示",
    allKinds: "全部提议",
    filter_contradiction: "矛盾",
    filter_merge: "近似重复",
    filter_review: "待复核",
    filter_complements: "互补",
    filter_approve: "待批准草稿",
    proposals: "提议（{n}）",
    empty: "没有等待决定的提议。",
    more: "显示更多",
    kind_contradiction: "矛盾",
    kind_merge: "近似重复",
    kind_review: "复核",
    kind_complements: "互补",
    kind_approve: "草稿",
    h_contradiction: "“{subject}”：{a} 与 {b} 不一致",
    h_merge: "两条内容说的是同一件事（相似度 {score}）",
    h_review: "是否仍然正确？{title}",
    h_complements: "相关条目（相似度 {score}）",
    h_approve: "挖掘出的草稿：{title}",
    conflictKind: "{kind}不一致：{a} / {b}",
    conflict_amount: "金额",
    conflict_duration: "时长",
    conflict_number: "数字",
    conflict_percent: "百分比",
    conflict_negation: "否定",
    conflict_policy_term: "政策条款",
    side: "第 {n} 方",
    passage: "文档段落（不是知识条目：文档重新导入时会随之变化）",
    itemKind_talk_track: "话术",
    itemKind_faq: "问答",
    itemKind_fact: "事实",
    evidence: "{n} 个情境",
    evidence1: "1 个情境",
    fullText: "全文",
    reason: "理由（记入日志）",
    confirmConflict: "确认矛盾",
    notConflict: "不矛盾",
    merge: "合并",
    notDuplicates: "不是重复",
    keepThis: "保留这一条",
    mergedResult: "合并后",
    mergedNote: "{other} 并入 {keep} 后停用；两者的证据、计数和关联都会保留。撤销可将两者原样恢复。",
    mergedEvidence: "两者的证据：{n}",
    responses: "包含的回答",
    linkComplements: "关联为互补",
    notRelated: "不相关",
    verify: "确认有效",
    days: "有效期（天）",
    retire: "停用",
    approve: "批准",
    reject: "驳回",
    edit: "编辑",
    split: "拆分",
    linkTo: "关联…",
    mergeWith: "把另一条并入此条…",
    close: "关闭",
    history: "历史（{n}）",
    undoEvent: "撤销 #{seq}",
    undoLabel: "撤销 #{seq}（{action}）",
    action_item_mined: "挖掘生成",
    action_item_unmined: "挖掘撤回",
    action_item_approve: "已批准",
    action_item_reject: "已驳回",
    action_item_retire: "已停用",
    action_item_verify: "已确认有效",
    action_item_edit: "已编辑",
    action_item_assign: "已指派",
    action_item_link: "已关联",
    action_item_merge: "已合并",
    action_item_split: "已拆分",
    action_proposal_dismiss: "提议已忽略",
    action_undo: "已撤销",
    action_feedback_used: "已使用",
    action_feedback_worked: "有效",
    action_feedback_failed: "无效",
    f_title: "标题",
    f_text: "正文",
    f_situation: "情境（何时这样说）",
    f_kind: "类型",
    save: "保存",
    nothingChanged: "请先修改标题、正文、情境或类型。",
    splitHelp: "勾选要移到新草稿中的情境（部分，而非全部）。",
    splitSubmit: "移到新草稿",
    pickItem: "另一条目",
    choose: "选择条目…",
    linkType: "关联类型",
    link_complements: "互补",
    link_contradicts: "矛盾",
    link_prerequisite_of: "是前置知识",
    link_similar_to: "相似",
    doLink: "关联",
    doMerge: "并入此条",
    lastDecision: "最近的决定",
    eventLine: "事件 #{seq} · {action} · {actor} · {at}",
    touched: "所涉条目的历史",
    undo: "撤销",
    done: "{what}（事件 #{seq}）。",
    did_approve: "已批准",
    did_reject: "已驳回",
    did_retire: "已停用",
    did_verify: "已确认有效",
    did_edit: "新措辞已保存",
    did_merge: "已合并",
    did_split: "已拆分为新草稿",
    did_link: "已关联",
    did_conflict: "已记录矛盾：两者关联为相互矛盾",
    did_dismiss: "已忽略：不会再次提议",
    did_undo: "已撤销",
    openGraph: "图谱",
    verified: "{date} 确认",
    expires: "{date} 到期",
    notVerified: "从未确认",
    you: "你",
  },
};

/** A translation when the screen has one, else the value itself (data, not an interface word). */
function named(t, prefix, value) {
  const key = `${prefix}${String(value).replace(/\./g, "_")}`;
  const text = t(key);
  return text === key ? value : text;
}

// The person signed in: the log names them by account id, the console says "you".
const Me = createContext(null);
const evidence = (t, n) => (n === 1 ? t("evidence1") : t("evidence", { n }));
const day = (iso) => (iso ? iso.slice(0, 10) : "");
const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "");

/** An item's detail (GET /items/{id}); null when the id is no item (a document passage). */
async function itemOrNull(id) {
  try {
    return await get(`/items/${seg(id)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

/** Every knowledge item the person may see (GET /items, following next_cursor), for pickers
 * and searches: the API has no text search, so the console filters them itself. */
export async function loadItems(params = {}, pages = 10) {
  const found = [];
  let cursor;
  for (let i = 0; i < pages; i += 1) {
    const page = await get("/items", { limit: 1000, ...params, cursor });
    found.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return found;
}

/** The sentence with the differing figure marked (`<mark class="diff">`), every place it
 * occurs; as written when the figure is not found verbatim. */
export function Marked({ text, value }) {
  if (!value || !text.includes(value)) return text;
  const parts = text.split(value);
  return parts.flatMap((part, i) =>
    i === 0 ? [part] : [html`<mark class="diff">${value}</mark>`, part],
  );
}

function History({ detail, act, open = false }) {
  const t = useT(S);
  const me = useContext(Me);
  const who = (actor) => (me && actor === me.account_id ? t("you") : actor);
  const events = [...(detail.history || [])].reverse(); // newest first
  // Only the newest change to an item can be undone (the server refuses an older one: the
  // item changed since), so an undone or overtaken decision offers no undo.
  const newest = events.length ? events[0].seq : null;
  return html`<details class="history" open=${open}>
    <summary>${t("history", { n: events.length })}</summary>
    <ol class="history" reversed>
      ${events.map((e) => {
        const action = named(t, "action_", e.action);
        return html`<li key=${e.seq} data-action=${e.action} data-seq=${e.seq}>
          <span>#${e.seq} · ${when(e.at)} · ${who(e.actor)} · <strong>${action}</strong></span>
          ${e.reason && html`<span class="muted"> — ${e.reason}</span>`}
          ${e.seq === newest && UNDOABLE.test(e.action) &&
          html` <button class="secondary outline small" aria-label=${t("undoLabel", { seq: e.seq, action })}
            onClick=${() => act("undo", () => post(`/curation/events/${e.seq}/undo`, {}))}>
            ${t("undoEvent", { seq: e.seq })}</button>`}
        </li>`;
      })}
    </ol>
  </details>`;
}

function ItemMeta({ detail }) {
  const t = useT(S);
  const review = detail.verified_at
    ? t("verified", { date: day(detail.verified_at) })
    : detail.status === "approved"
      ? t("notVerified")
      : "";
  return html`<p class="meta">
    <${StatusTag} status=${detail.status} />
    <span class="muted">${`${named(t, "itemKind_", detail.kind)} · ${evidence(t, detail.evidence)} · `}</span>
    <${Counts} stats=${detail.stats} />
    ${review && html`<span class="muted"> · ${review}</span>`}
    ${detail.expires_at && html`<span class="muted"> · ${t("expires", { date: day(detail.expires_at) })}</span>`}
    <span class="muted"> · </span><a href=${`#/graph?node=${encodeURIComponent(detail.id)}`}>${t("openGraph")}</a>
  </p>`;
}

function EditForm({ detail, act, onClose }) {
  const t = useT(S);
  const id = useId();
  const [v, setV] = useState({
    title: detail.title,
    text: detail.text,
    situation: detail.situation || "",
    kind: detail.kind,
    reason: "",
  });
  const [error, setError] = useState(null);
  const set = (name) => (e) => setV({ ...v, [name]: e.target.value });
  async function submit(e) {
    e.preventDefault();
    const changes = {};
    for (const name of ["title", "text", "situation", "kind"]) {
      if (v[name] !== (name === "situation" ? detail.situation || "" : detail[name])) changes[name] = v[name];
    }
    if (!Object.keys(changes).length) return setError(new Error(t("nothingChanged")));
    setError(null);
    const ok = await act("edit", () => patch(`/curation/items/${seg(detail.id)}`, { ...changes, reason: v.reason }));
    if (ok) onClose();
  }
  return html`<form class="item-form edit" onSubmit=${submit}>
    <label for=${`${id}-title`}>${t("f_title")}</label>
    <input id=${`${id}-title`} value=${v.title} onInput=${set("title")} />
    <label for=${`${id}-text`}>${t("f_text")}</label>
    <textarea id=${`${id}-text`} rows="4" required value=${v.text} onInput=${set("text")}></textarea>
    <label for=${`${id}-situation`}>${t("f_situation")}</label>
    <input id=${`${id}-situation`} value=${v.situation} onInput=${set("situation")} />
    <label for=${`${id}-kind`}>${t("f_kind")}</label>
    <select id=${`${id}-kind`} value=${v.kind} onChange=${set("kind")}>
      ${ITEM_KINDS.map((k) => html`<option value=${k}>${named(t, "itemKind_", k)}</option>`)}
    </select>
    <label for=${`${id}-reason`}>${t("reason")}</label>
    <input id=${`${id}-reason`} value=${v.reason} onInput=${set("reason")} />
    <div class="actions">
      <button type="submit">${t("save")}</button>
      <button type="button" class="secondary outline" onClick=${onClose}>${t("close")}</button>
    </div>
    <${ErrorNote} error=${error} />
  </form>`;
}

function SplitForm({ detail, act, onClose }) {
  const t = useT(S);
  const id = useId();
  const [chosen, setChosen] = useState([]);
  const [reason, setReason] = useState("");
  const toggle = (sid) =>
    setChosen(chosen.includes(sid) ? chosen.filter((c) => c !== sid) : [...chosen, sid]);
  async function submit(e) {
    e.preventDefault();
    const body = { members: chosen, reason };
    if (await act("split", () => post(`/curation/items/${seg(detail.id)}/split`, body))) onClose();
  }
  const valid = chosen.length > 0 && chosen.length < detail.situations.length;
  return html`<form class="item-form split" onSubmit=${submit}>
    <fieldset>
      <legend>${t("splitHelp")}</legend>
      ${detail.situations.map(
        (s, i) => html`<label key=${s.id} for=${`${id}-s${i}`}>
          <input type="checkbox" id=${`${id}-s${i}`} checked=${chosen.includes(s.id)}
            onChange=${() => toggle(s.id)} />
          “${s.text}” → ${s.response.slice(0, 140)}${s.speaker ? ` (${s.speaker})` : ""}
        </label>`,
      )}
    </fieldset>
    <label for=${`${id}-reason`}>${t("reason")}</label>
    <input id=${`${id}-reason`} value=${reason} onInput=${(e) => setReason(e.target.value)} />
    <div class="actions">
      <button type="submit" disabled=${!valid}>${t("splitSubmit")}</button>
      <button type="button" class="secondary outline" onClick=${onClose}>${t("close")}</button>
    </div>
  </form>`;
}

/** Link this item to another, or merge another into it (with the merged result first). */
function PickForm({ detail, mode, act, onClose }) {
  const t = useT(S);
  const id = useId();
  const candidates = useApi(() => loadItems(), []);
  const [other, setOther] = useState("");
  const [type, setType] = useState("complements");
  const [reason, setReason] = useState("");
  const otherDetail = useApi(() => (mode === "merge" && other ? get(`/items/${seg(other)}`) : null), [other]);
  async function submit(e) {
    e.preventDefault();
    const call =
      mode === "link"
        ? () => post("/curation/links", { src: detail.id, dst: other, type, reason })
        : () => post("/curation/merge", { keep: detail.id, other, reason });
    if (await act(mode, call)) onClose();
  }
  return html`<form class="item-form pick" onSubmit=${submit}>
    <label for=${`${id}-other`}>${t("pickItem")}</label>
    <${Loaded} state=${candidates}>
      ${(items) => html`<select id=${`${id}-other`} required value=${other}
        onChange=${(e) => setOther(e.target.value)}>
        <option value="">${t("choose")}</option>
        ${items
          .filter((i) => i.id !== detail.id && ["draft", "approved"].includes(i.status))
          .map((i) => html`<option value=${i.id}>${i.title || i.text.slice(0, 80)}</option>`)}
      </select>`}
    <//>
    ${mode === "link" &&
    html`<label for=${`${id}-type`}>${t("linkType")}</label>
      <select id=${`${id}-type`} value=${type} onChange=${(e) => setType(e.target.value)}>
        ${LINK_TYPES.map((k) => html`<option value=${k}>${t(`link_${k}`)}</option>`)}
      </select>`}
    ${mode === "merge" && other && otherDetail.data &&
    html`<${MergedResult} keep=${detail} other=${otherDetail.data} />`}
    <label for=${`${id}-reason`}>${t("reason")}</label>
    <input id=${`${id}-reason`} value=${reason} onInput=${(e) => setReason(e.target.value)} />
    <div class="actions">
      <button type="submit" disabled=${!other}>${mode === "link" ? t("doLink") : t("doMerge")}</button>
      <button type="button" class="secondary outline" onClick=${onClose}>${t("close")}</button>
    </div>
  </form>`;
}

/** What a person can do to one item, where it applies. `quick`: approve / reject / verify /
 * retire here too (cards whose own decision is not about this one item's status). */
function ItemTools({ detail, act, reason, quick }) {
  const t = useT(S);
  const [open, setOpen] = useState(null);
  const live = ["draft", "approved"].includes(detail.status);
  const on = (name) => () => setOpen(open === name ? null : name);
  const item = `/curation/items/${seg(detail.id)}`;
  const status = (name) => () => act(name, () => post(`${item}/${name}`, { reason }));
  const close = () => setOpen(null);
  return html`<div class="item-tools">
    <div class="actions">
      ${quick && detail.status === "draft" &&
      html`<button class="outline" onClick=${status("approve")}>${t("approve")}</button>
        <button class="secondary outline" onClick=${status("reject")}>${t("reject")}</button>`}
      ${quick && detail.status === "approved" &&
      html`<button class="outline" onClick=${status("verify")}>${t("verify")}</button>
        <button class="secondary outline" onClick=${status("retire")}>${t("retire")}</button>`}
      ${live && html`<button class="secondary" aria-expanded=${open === "edit"} onClick=${on("edit")}>${t("edit")}</button>`}
      ${live && detail.situations?.length > 1 &&
      html`<button class="secondary" aria-expanded=${open === "split"} onClick=${on("split")}>${t("split")}</button>`}
      ${live && html`<button class="secondary" aria-expanded=${open === "link"} onClick=${on("link")}>${t("linkTo")}</button>`}
      ${live && html`<button class="secondary" aria-expanded=${open === "merge"} onClick=${on("merge")}>${t("mergeWith")}</button>`}
    </div>
    ${open === "edit" && html`<${EditForm} detail=${detail} act=${act} onClose=${close} />`}
    ${open === "split" && html`<${SplitForm} detail=${detail} act=${act} onClose=${close} />`}
    ${(open === "link" || open === "merge") &&
    html`<${PickForm} key=${open} detail=${detail} mode=${open} act=${act} onClose=${close} />`}
  </div>`;
}

/** One side of a proposal: a knowledge item (with its tools and history) or a document
 * passage. `sentence`/`value`: the sentence a contradiction is about, the figure marked. */
function Side({ id, title, detail, sentence, value, act, reason, quick, n, children }) {
  const t = useT(S);
  const hid = useId();
  const name = detail?.title || title || id;
  return html`<section class="side" aria-labelledby=${hid} data-id=${id}>
    <h4 id=${hid}><span class="visually-hidden">${t("side", { n })}: </span>${name}</h4>
    ${sentence && html`<blockquote class="sentence"><${Marked} text=${sentence} value=${value} /></blockquote>`}
    ${detail === null && html`<p class="muted">${t("passage")}</p>`}
    ${detail &&
    html`<${ItemMeta} detail=${detail} />
      ${sentence
        ? html`<details><summary>${t("fullText")}</summary><p class="say">${detail.text}</p></details>`
        : html`<p class="say">${detail.text}</p>`}
      ${children}
      <${ItemTools} detail=${detail} act=${act} reason=${reason} quick=${quick} />
      <${History} detail=${detail} act=${act} />`}
  </section>`;
}

function MergedResult({ keep, other }) {
  const t = useT(S);
  const hid = useId();
  const stats = {
    uses: keep.stats.uses + other.stats.uses,
    successes: keep.stats.successes + other.stats.successes,
    trials: keep.stats.trials + other.stats.trials,
  };
  const seen = new Set();
  const responses = [...(keep.responses || []), ...(other.responses || [])]
    .filter((r) => !seen.has(r.text) && seen.add(r.text))
    .sort((a, b) => b.evidence - a.evidence)
    .slice(0, 5);
  return html`<section class="side merged" aria-labelledby=${hid}>
    <h4 id=${hid}>${t("mergedResult")}</h4>
    <p><strong>${keep.title}</strong></p>
    <p class="say">${keep.text}</p>
    <p class="muted">${`${t("mergedEvidence", { n: evidence(t, keep.evidence + other.evidence) })} · `}
      <${Counts} stats=${stats} /></p>
    ${responses.length > 0 &&
    html`<p class="muted">${t("responses")}</p>
      <ul class="responses">${responses.map((r) => html`<li>${r.text}</li>`)}</ul>`}
    <p class="muted">${t("mergedNote", { keep: keep.title, other: other.title })}</p>
  </section>`;
}

function heading(t, p) {
  const d = p.details || {};
  if (p.kind === "contradiction") {
    const [a, b] = d.values || ["", ""];
    return t("h_contradiction", { subject: d.subject || "", a, b });
  }
  if (p.kind === "merge" || p.kind === "complements") return t(`h_${p.kind}`, { score: p.score.toFixed(2) });
  return t(`h_${p.kind}`, { title: p.titles[0] || p.ids[0] });
}

function ProposalCard({ p, act, version }) {
  const t = useT(S);
  const hid = useId();
  const rid = useId();
  const [reason, setReason] = useState("");
  const [keep, setKeep] = useState(0);
  const [days, setDays] = useState(180);
  const details = useApi(() => Promise.all(p.ids.map(itemOrNull)), [p.id, version]);
  const decide = (decision, what) => () =>
    act(what, () => post(`/curation/proposals/${seg(p.id)}/${decision}`, { reason }));
  const one = `/curation/items/${seg(p.ids[0])}`;
  const d = p.details || {};
  let buttons;
  if (p.kind === "contradiction")
    buttons = html`<button onClick=${decide("accept", "conflict")}>${t("confirmConflict")}</button>
      <button class="secondary outline" onClick=${decide("dismiss", "dismiss")}>${t("notConflict")}</button>`;
  else if (p.kind === "merge")
    buttons = html`<button onClick=${() =>
        act("merge", () => post("/curation/merge", { keep: p.ids[keep], other: p.ids[1 - keep], reason }))}>
        ${t("merge")}</button>
      <button class="secondary outline" onClick=${decide("dismiss", "dismiss")}>${t("notDuplicates")}</button>`;
  else if (p.kind === "complements")
    buttons = html`<button onClick=${decide("accept", "link")}>${t("linkComplements")}</button>
      <button class="secondary outline" onClick=${decide("dismiss", "dismiss")}>${t("notRelated")}</button>`;
  else if (p.kind === "review")
    buttons = html`<label for=${`${rid}-days`} class="inline">${t("days")}
        <input id=${`${rid}-days`} type="number" min="1" max="3650" value=${days}
          onInput=${(e) => setDays(Number(e.target.value) || 180)} /></label>
      <button onClick=${() => act("verify", () => post(`${one}/verify`, { reason, days }))}>${t("verify")}</button>
      <button class="secondary outline" onClick=${() => act("retire", () => post(`${one}/retire`, { reason }))}>
        ${t("retire")}</button>`;
  else
    buttons = html`<button onClick=${decide("accept", "approve")}>${t("approve")}</button>
      <button class="secondary outline" onClick=${decide("dismiss", "reject")}>${t("reject")}</button>`;

  const pair = p.ids.length > 1;
  return html`<article class=${`card proposal ${p.kind}`} aria-labelledby=${hid} data-proposal=${p.id}
    data-kind=${p.kind}>
    <h3 id=${hid}><span class=${`tag kind ${p.kind}`}>${t(`kind_${p.kind}`)}</span> ${heading(t, p)}</h3>
    ${p.kind === "contradiction" &&
    html`<p class="muted">${t("conflictKind", {
      kind: named(t, "conflict_", d.conflict || ""),
      a: (d.values || [])[0] || "",
      b: (d.values || [])[1] || "",
    })}</p>`}
    <${Loaded} state=${details}>
      ${(found) => html`<div class=${pair ? "side-by-side" : "single"}>
        ${p.ids.map(
          (id, i) => html`<${Side} key=${id} n=${i + 1} id=${id} title=${p.titles[i]} detail=${found[i]}
            sentence=${p.kind === "contradiction" ? (d.sentences || [])[i] : ""}
            value=${p.kind === "contradiction" ? (d.values || [])[i] : ""}
            act=${act} reason=${reason} quick=${pair}>
            ${p.kind === "merge" &&
            html`<label class="keep"><input type="radio" name=${`${rid}-keep`} checked=${keep === i}
                onChange=${() => setKeep(i)} /> ${t("keepThis")}</label>`}
          <//>`,
        )}
        ${p.kind === "merge" && found[0] && found[1] &&
        html`<${MergedResult} keep=${found[keep]} other=${found[1 - keep]} />`}
      </div>`}
    <//>
    <div class="decision">
      <label for=${`${rid}-reason`}>${t("reason")}</label>
      <input id=${`${rid}-reason`} value=${reason} onInput=${(e) => setReason(e.target.value)} />
      <div class="actions">${buttons}</div>
    </div>
  </article>`;
}

/** The decision just taken: what it was, its undo, and the history of the items it touched. */
function LastDecision({ last, act, version }) {
  const t = useT(S);
  const me = useContext(Me);
  const ref = useRef(null);
  const ids = last.event.ids.slice(0, 2);
  const touched = useApi(() => Promise.all(ids.map(itemOrNull)), [last.event.seq, version]);
  useEffect(() => ref.current?.focus(), [last.event.seq]);
  const e = last.event;
  const action = named(t, "action_", e.action);
  return html`<section class="card last-decision" aria-labelledby="last-h">
    <h2 id="last-h" tabindex="-1" ref=${ref}>${t("lastDecision")}</h2>
    <p>${t("eventLine", { seq: e.seq, action, actor: me && e.actor === me.account_id ? t("you") : e.actor, at: when(e.at) })}
      ${e.reason && html`<span class="muted"> — ${e.reason}</span>`}</p>
    ${UNDOABLE.test(e.action) &&
    html`<button class="secondary" aria-label=${t("undoLabel", { seq: e.seq, action })}
      onClick=${() => act("undo", () => post(`/curation/events/${e.seq}/undo`, {}))}>${t("undo")}</button>`}
    <h3>${t("touched")}</h3>
    <${Loaded} state=${touched}>
      ${(found) => html`<div class="side-by-side">
        ${found.filter(Boolean).map(
          (d) => html`<section class="side" key=${d.id} data-id=${d.id} aria-label=${d.title}>
            <p><strong>${d.title}</strong> <${StatusTag} status=${d.status} /></p>
            <${History} detail=${d} act=${act} open=${true} />
          </section>`,
        )}
      </div>`}
    <//>
  </section>`;
}

export default function Curation({ me, params, navigate }) {
  const t = useT(S);
  const kind = KINDS.includes(params.kind) ? params.kind : "";
  const [limit, setLimit] = useState(PAGE);
  const [version, setVersion] = useState(0);
  const [last, setLast] = useState(null);
  const [note, setNote] = useState("");
  const [error, setError] = useState(null);
  const queue = useApi(
    () => get("/curation/queue", { kind: kind || undefined, limit }).then((list) => ({ kind, list })),
    [kind, limit, version],
  );

  /** Do one decision; on success the queue refreshes and the notice says what happened. */
  async function act(what, call) {
    setError(null);
    try {
      const event = await call();
      setLast({ event, what });
      setNote(t("done", { what: t(`did_${what}`), seq: event.seq }));
      setVersion((v) => v + 1);
      return true;
    } catch (err) {
      setError(err);
      return false;
    }
  }

  return html`<${Me.Provider} value=${me}><h1>${t("title")}</h1>
    <p class="muted">${t("intro")}</p>
    <div class="filters">
      <label for="kind-filter">${t("show")}</label>
      <select id="kind-filter" value=${kind}
        onChange=${(e) => { setLimit(PAGE); navigate("curation", { kind: e.target.value }); }}>
        <option value="">${t("allKinds")}</option>
        ${KINDS.map((k) => html`<option value=${k}>${t(`filter_${k}`)}</option>`)}
      </select>
    </div>
    <${Notice} text=${note} />
    <${ErrorNote} error=${error} />
    ${last && html`<${LastDecision} last=${last} act=${act} version=${version} />`}
    <${Loaded} state=${queue}>
      ${({ kind: shown, list }) => shown !== kind ? html`<${Loading} />` : html`<section aria-labelledby="queue-h" aria-busy=${queue.loading}>
        <h2 id="queue-h">${t("proposals", { n: list.length })}</h2>
        ${list.length === 0 && html`<p>${t("empty")}</p>`}
        ${list.map((p) => html`<${ProposalCard} key=${p.id} p=${p} act=${act} version=${version} />`)}
        ${list.length >= limit &&
        html`<button class="secondary outline" onClick=${() => setLimit(limit + PAGE)}>${t("more")}</button>`}
      </section>`}
    <//><//>`;
}
