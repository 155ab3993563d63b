// Trainer path builder: pick items (or take a topic's suggestion), create the path (the API puts
// prerequisites first and refuses a cycle, which is shown with its members), assign it to people
// or the team, and see each learner's progress, due reviews and gaps.
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, post, seg } from "../api.js";
import { useT } from "../i18n.js";
import { Counts, ErrorNote, html, Loaded, Notice, StatusTag, useApi, useDate } from "../ui.js";

const S = {
  en: {
    title: "Learning paths",
    build: "Build a path",
    pathTitle: "Path title",
    pick: "Pick items",
    filter: "Filter items by words",
    kind: "Kind",
    allKinds: "All kinds",
    kind_talk_track: "Talk track",
    kind_faq: "FAQ",
    kind_fact: "Fact",
    status: "Status",
    live: "Approved and draft",
    approved: "Approved",
    draft: "Draft",
    more: "Load more items",
    noItems: "No item matches.",
    suggest: "Suggest from a topic",
    topic: "Topic (in the customer's words)",
    suggestBtn: "Suggest",
    noSuggestion: "No live item matches this topic.",
    add: "Add",
    added: "Added",
    addAll: "Add all {n}",
    selection: "Your selection ({n})",
    selectionHelp:
      "Prerequisites always come first (the API orders by the prerequisite links); otherwise your order is kept.",
    nothingSelected: "Pick items above, take a topic's suggestion, or start from a learner's gaps.",
    remove: "Remove {t}",
    up: "Move {t} up",
    down: "Move {t} down",
    needs: "needs first: {list}",
    neededBy: "needed by: {list}",
    create: "Create path",
    creating: "Creating…",
    created: "Path “{t}” created with {n} steps.",
    cycleTitle: "Refused: these items require each other in a circle",
    cycleHelp:
      "No order exists, so the path was not created. Ask a knowledge manager to remove one of these prerequisite links, or leave these items out.",
    serverSaid: "What the API said",
    paths: "Paths",
    noPaths: "No learning path yet.",
    steps: "{n} steps",
    assignedTo: "Assigned to",
    nobody: "nobody yet",
    open: "Open {t}",
    openShort: "Open",
    close: "Close",
    assign: "Assign",
    assignTo: "Assign to (name or employee id)",
    assignHelp:
      "The names offered are the people of your team (and those in no team); a name or employee id can also be typed.",
    assignTeam: "Assign to the whole team {team}",
    assigned: "Assigned to {who}.",
    progressOf: "See progress",
    learner: "Learner",
    learnerField: "Learner (name or employee id)",
    show: "Show",
    progress: "Progress",
    noPathsFor: "No path is assigned to this person.",
    learnt: "{d} of {n} learnt",
    item: "Item",
    reviews: "Reviews",
    lastRating: "Last rating",
    nextDue: "Next review",
    withCustomers: "With customers",
    usedWorked: "worked {w} of {u} uses",
    notUsed: "not used",
    notYet: "not reviewed",
    due: "Due for review ({n})",
    noDue: "Nothing due.",
    isNew: "new",
    dueAt: "due {d}",
    gaps: "Gaps ({n})",
    noGaps: "No gap: their outcomes are not worse than the team's anywhere yet.",
    theirs: "theirs: {s} of {n} ended well",
    pooled: "across all their conversations",
    gapsToPath: "Add these gaps to a new path",
    mentoring: "Shadowing and coaching",
    shadowed: "shadowed {m}",
    coached: "coached by {m}",
    rating_again: "again",
    rating_hard: "hard",
    rating_good: "good",
    rating_easy: "easy",
  },
  zh: {
    title: "学习路径",
    build: "创建路径",
    pathTitle: "路径名称",
    pick: "选择知识条目",
    filter: "按文字筛选条目",
    kind: "类型",
    allKinds: "全部类型",
    kind_talk_track: "话术",
    kind_faq: "常见问题",
    kind_fact: "知识点",
    status: "状态",
    live: "已批准和草稿",
    approved: "已批准",
    draft: "草稿",
    more: "加载更多条目",
    noItems: "没有匹配的条目。",
    suggest: "按主题推荐",
    topic: "主题（客户的说法）",
    suggestBtn: "推荐",
    noSuggestion: "没有与该主题匹配的有效条目。",
    add: "加入",
    added: "已加入",
    addAll: "全部加入（{n}）",
    selection: "已选（{n}）",
    selectionHelp: "前置知识总是排在前面（按前置关系排序），其余保持你选择的顺序。",
    nothingSelected: "从上方选择条目、采用主题推荐，或从学员的薄弱点开始。",
    remove: "移除 {t}",
    up: "上移 {t}",
    down: "下移 {t}",
    needs: "需先学：{list}",
    neededBy: "是以下条目的前置：{list}",
    create: "创建路径",
    creating: "创建中…",
    created: "已创建路径“{t}”，共 {n} 步。",
    cycleTitle: "已拒绝：这些条目互为前置，形成了循环",
    cycleHelp: "无法排出学习顺序，路径未创建。请知识管理员删除其中一条前置关系，或不选这些条目。",
    serverSaid: "API 返回的原文",
    paths: "已有路径",
    noPaths: "还没有学习路径。",
    steps: "{n} 步",
    assignedTo: "已分配给",
    nobody: "尚未分配",
    open: "打开 {t}",
    openShort: "打开",
    close: "关闭",
    assign: "分配",
    assignTo: "分配给（姓名或员工 ID）",
    assignHelp: "这里提供的是本团队（及未分组）的人员；也可以直接输入姓名或员工 ID。",
    assignTeam: "分配给整个团队 {team}",
    assigned: "已分配给 {who}。",
    progressOf: "查看进度",
    learner: "学员",
    learnerField: "学员（姓名或员工 ID）",
    show: "查看",
    progress: "学习进度",
    noPathsFor: "此人还没有分配学习路径。",
    learnt: "已掌握 {d}/{n}",
    item: "条目",
    reviews: "复习次数",
    lastRating: "上次评分",
    nextDue: "下次复习",
    withCustomers: "客户实战",
    usedWorked: "使用 {u} 次，有效 {w} 次",
    notUsed: "未使用",
    notYet: "未复习",
    due: "待复习（{n}）",
    noDue: "暂无待复习内容。",
    isNew: "新",
    dueAt: "{d} 到期",
    gaps: "薄弱点（{n}）",
    noGaps: "暂无薄弱点：目前没有哪类情境的结果比团队差。",
    theirs: "本人：{n} 次中 {s} 次成功",
    pooled: "综合其全部会话",
    gapsToPath: "用这些薄弱点新建路径",
    mentoring: "跟岗与辅导",
    shadowed: "跟岗学习 {m}",
    coached: "接受 {m} 辅导",
    rating_again: "重来",
    rating_hard: "困难",
    rating_good: "良好",
    rating_easy: "简单",
  },
};

const CYCLE = /no order exists: (.+?); remove one/s;

/** The members of a refused cycle (titles, first repeated last), from PathCycle's message. */
export function cycleOf(err) {
  if (!(err instanceof ApiError) || err.status !== 422) return null;
  const found = CYCLE.exec(err.detail || "");
  return found ? found[1].split(" → ") : null;
}

/** The people a trainer can name: their team's and those in no team (GET /learning/people). */
function usePeople(version) {
  return useApi(async () => {
    const found = await get("/learning/people");
    return found.map((p) => ({ id: p.id, name: p.name || p.external_id || p.id }));
  }, [version]);
}

function PeopleList({ id, people }) {
  return html`<datalist id=${id}>
    ${people.map((p) => html`<option key=${p.id} value=${p.name}>${p.id}</option>`)}
  </datalist>`;
}

/** What the person typed, as an id when it names exactly one known person. */
function resolve(people, typed) {
  const value = typed.trim();
  const same = people.filter((p) => p.name === value || p.id === value);
  return same.length === 1 ? same[0].id : value;
}

function CycleNote({ members, detail }) {
  const t = useT(S);
  return html`<div role="alert" class="card cycle" aria-labelledby="cycle-h">
    <h4 id="cycle-h">${t("cycleTitle")}</h4>
    <ol class="cycle-members">
      ${members.map((m, i) => html`<li key=${i}>${m}</li>`)}
    </ol>
    <p>${t("cycleHelp")}</p>
    <details><summary class="muted">${t("serverSaid")}</summary><p class="muted">${detail}</p></details>
  </div>`;
}

function ItemPicker({ selected, toggle }) {
  const t = useT(S);
  const [kind, setKind] = useState("");
  const [status, setStatus] = useState("");
  const [words, setWords] = useState("");
  const [pages, setPages] = useState([]);
  const state = useApi(() => get("/items", { kind, status, limit: 200 }), [kind, status]);
  useEffect(() => setPages([]), [kind, status]);
  const [moreError, setMoreError] = useState(null);
  async function more(cursor) {
    try {
      const page = await get("/items", { kind, status, limit: 200, cursor });
      setPages((old) => [...old, page]);
    } catch (err) {
      setMoreError(err);
    }
  }
  const chosen = new Set(selected.map((s) => s.id));
  return html`<section aria-labelledby="pick-h">
    <h3 id="pick-h">${t("pick")}</h3>
    <div class="item-filters">
      <div>
        <label for="item-filter">${t("filter")}</label>
        <input id="item-filter" type="search" value=${words} onInput=${(e) => setWords(e.target.value)} />
      </div>
      <div>
        <label for="item-kind">${t("kind")}</label>
        <select id="item-kind" value=${kind} onChange=${(e) => setKind(e.target.value)}>
          <option value="">${t("allKinds")}</option>
          ${["talk_track", "faq", "fact"].map((k) => html`<option value=${k}>${t(`kind_${k}`)}</option>`)}
        </select>
      </div>
      <div>
        <label for="item-status">${t("status")}</label>
        <select id="item-status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
          <option value="">${t("live")}</option>
          <option value="approved">${t("approved")}</option>
          <option value="draft">${t("draft")}</option>
        </select>
      </div>
    </div>
    <${Loaded} state=${state}>
      ${(first) => {
        const all = [first, ...pages];
        const cursor = all[all.length - 1].next_cursor;
        const needle = words.trim().toLowerCase();
        const items = all
          .flatMap((p) => p.items)
          .filter((i) => status || i.status === "approved" || i.status === "draft")
          .filter((i) => !needle || `${i.title} ${i.text}`.toLowerCase().includes(needle));
        return html`${items.length === 0 && html`<p class="muted">${t("noItems")}</p>`}
          <ul class="picker" aria-labelledby="pick-h">
            ${items.map(
              (i) => html`<li key=${i.id}>
                <label>
                  <input type="checkbox" data-item=${i.id} checked=${chosen.has(i.id)}
                    onChange=${() => toggle({ id: i.id, title: i.title || i.text.slice(0, 30) })} />
                  ${i.title || i.text.slice(0, 30)}
                </label>
                <span class="muted"> ${t(`kind_${i.kind}`)} · </span><${StatusTag} status=${i.status} />
                <${Counts} stats=${i.stats} />
              </li>`,
            )}
          </ul>
          ${cursor && html`<button class="secondary outline" onClick=${() => more(cursor)}>${t("more")}</button>`}
          <${ErrorNote} error=${moreError} />`;
      }}
    <//>
  </section>`;
}

function SuggestBox({ selected, add }) {
  const t = useT(S);
  const [topic, setTopic] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [steps, setSteps] = useState(null);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setSteps(await get("/learning/suggest", { topic }));
    } catch (err) {
      setError(err);
      setSteps(null);
    } finally {
      setBusy(false);
    }
  }
  const chosen = new Set(selected.map((s) => s.id));
  const cycle = cycleOf(error);
  return html`<section aria-labelledby="suggest-h">
    <h3 id="suggest-h">${t("suggest")}</h3>
    <form onSubmit=${submit} class="inline">
      <label for="topic">${t("topic")}</label>
      <input id="topic" required value=${topic} onInput=${(e) => setTopic(e.target.value)} />
      <button type="submit" aria-busy=${busy}>${t("suggestBtn")}</button>
    </form>
    ${cycle ? html`<${CycleNote} members=${cycle} detail=${error.detail} />` : html`<${ErrorNote} error=${error} />`}
    ${steps && steps.length === 0 && html`<p class="muted">${t("noSuggestion")}</p>`}
    ${steps && steps.length > 0 && html`<ol class="steps">
        ${steps.map(
          (s) => html`<li key=${s.item}>
            ${s.title} <span class="muted">(${s.why})</span>
            <button class="outline mini" disabled=${chosen.has(s.item)}
              aria-label=${`${t("add")}: ${s.title}`}
              onClick=${() => add([{ id: s.item, title: s.title }])}>
              ${chosen.has(s.item) ? t("added") : t("add")}</button>
          </li>`,
        )}
      </ol>
      <button class="secondary" onClick=${() => add(steps.map((s) => ({ id: s.item, title: s.title })))}>
        ${t("addAll", { n: steps.length })}</button>`}
  </section>`;
}

/** An item's prerequisite links (GET /items/{id}): what it needs first, what needs it. */
function Prerequisites({ id }) {
  const t = useT(S);
  const state = useApi(() => get(`/items/${seg(id)}`), [id]);
  if (!state.data) return null;
  const pre = state.data.links.filter((l) => l.type.toLowerCase() === "prerequisite_of");
  const needs = pre.filter((l) => l.direction === "in").map((l) => l.title);
  const neededBy = pre.filter((l) => l.direction === "out").map((l) => l.title);
  return html`${needs.length > 0 && html`<br /><small class="muted">${t("needs", { list: needs.join("; ") })}</small>`}
    ${neededBy.length > 0 && html`<br /><small class="muted">${t("neededBy", { list: neededBy.join("; ") })}</small>`}`;
}

function Selection({ selected, setSelected }) {
  const t = useT(S);
  function move(i, by) {
    const next = [...selected];
    const [one] = next.splice(i, 1);
    next.splice(i + by, 0, one);
    setSelected(next);
  }
  return html`<section aria-labelledby="selection-h">
    <h3 id="selection-h">${t("selection", { n: selected.length })}</h3>
    <p class="muted">${t("selectionHelp")}</p>
    ${selected.length === 0
      ? html`<p>${t("nothingSelected")}</p>`
      : html`<ol class="selection">
          ${selected.map(
            (s, i) => html`<li key=${s.id} data-item=${s.id}>
              <span>${s.title}</span>
              <span class="actions">
                <button class="outline mini" disabled=${i === 0} aria-label=${t("up", { t: s.title })}
                  onClick=${() => move(i, -1)}>↑</button>
                <button class="outline mini" disabled=${i === selected.length - 1}
                  aria-label=${t("down", { t: s.title })} onClick=${() => move(i, 1)}>↓</button>
                <button class="secondary outline mini" aria-label=${t("remove", { t: s.title })}
                  onClick=${() => setSelected(selected.filter((x) => x.id !== s.id))}>✕</button>
              </span>
              <${Prerequisites} id=${s.id} />
            </li>`,
          )}
        </ol>`}
  </section>`;
}

function Builder({ selected, setSelected, onCreated }) {
  const t = useT(S);
  const [title, setTitle] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [note, setNote] = useState("");
  function toggle(item) {
    setSelected(
      selected.some((s) => s.id === item.id)
        ? selected.filter((s) => s.id !== item.id)
        : [...selected, item],
    );
  }
  function add(items) {
    const have = new Set(selected.map((s) => s.id));
    setSelected([...selected, ...items.filter((i) => !have.has(i.id))]);
  }
  async function create(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setNote("");
    try {
      const path = await post("/learning/paths", { title, items: selected.map((s) => s.id) });
      setNote(t("created", { t: path.title, n: path.items.length }));
      setSelected([]);
      setTitle("");
      onCreated(path);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const cycle = cycleOf(error);
  return html`<section aria-labelledby="build-h" class="builder">
    <h2 id="build-h">${t("build")}</h2>
    <${ItemPicker} selected=${selected} toggle=${toggle} />
    <${SuggestBox} selected=${selected} add=${add} />
    <${Selection} selected=${selected} setSelected=${setSelected} />
    <form onSubmit=${create}>
      <label for="path-title">${t("pathTitle")}</label>
      <input id="path-title" required value=${title} onInput=${(e) => setTitle(e.target.value)} />
      <button type="submit" aria-busy=${busy} disabled=${selected.length === 0}>
        ${busy ? t("creating") : t("create")}</button>
    </form>
    ${cycle ? html`<${CycleNote} members=${cycle} detail=${error.detail} />` : html`<${ErrorNote} error=${error} />`}
    <${Notice} text=${note} />
  </section>`;
}

function AssignForm({ me, path, people, onAssigned }) {
  const t = useT(S);
  const [who, setWho] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [note, setNote] = useState("");
  async function assign(ref, label) {
    setBusy(true);
    setError(null);
    setNote("");
    try {
      const updated = await post(`/learning/paths/${seg(path.id)}/assignees`, { employees: [ref] });
      setNote(t("assigned", { who: label }));
      setWho("");
      onAssigned(updated);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return html`<form class="assign" onSubmit=${(e) => {
      e.preventDefault();
      assign(resolve(people, who), who.trim());
    }}>
    <label for="assign-who">${t("assignTo")}</label>
    <input id="assign-who" list="people-known" required value=${who} autocomplete="off"
      aria-describedby="assign-help" onInput=${(e) => setWho(e.target.value)} />
    <small id="assign-help">${t("assignHelp")}</small>
    <div class="actions">
      <button type="submit" aria-busy=${busy}>${t("assign")}</button>
      ${me.team && html`<button type="button" class="secondary"
        onClick=${() => assign(`team:${me.team}`, me.team)}>${t("assignTeam", { team: me.team })}</button>`}
    </div>
    <${ErrorNote} error=${error} />
    <${Notice} text=${note} />
  </form>`;
}

function PathCard({ me, path, open, people, names, navigate, params, onAssigned }) {
  const t = useT(S);
  const id = `path-${path.id.replace(/[^a-zA-Z0-9_-]/g, "_")}`;
  return html`<article class="card path" data-path=${path.id} aria-labelledby=${id}>
    <h3 id=${id}>${path.title}</h3>
    <p class="muted">${t("steps", { n: path.items.length })}${path.topic ? ` · ${path.topic}` : ""}</p>
    ${open
      ? html`<ol class="path-steps">
            ${path.titles.map((title, i) => html`<li key=${path.items[i]} data-item=${path.items[i]}>${title}</li>`)}
          </ol>
          <p><strong>${t("assignedTo")}:</strong> ${path.assignees.length === 0 ? t("nobody") : ""}</p>
          ${path.assignees.length > 0 && html`<ul class="assignees">
            ${path.assignees.map(
              (a) => html`<li key=${a}>${names[a] || a}
                <button class="outline mini" aria-label=${`${t("progressOf")}: ${names[a] || a}`}
                  onClick=${() => navigate("paths", { ...params, person: a })}>${t("progressOf")}</button>
              </li>`,
            )}
          </ul>`}
          <${AssignForm} me=${me} path=${path} people=${people} onAssigned=${onAssigned} />
          <button class="secondary outline" onClick=${() => navigate("paths", { ...params, path: "" })}>
            ${t("close")}</button>`
      : html`<button class="outline" aria-label=${t("open", { t: path.title })}
          onClick=${() => navigate("paths", { ...params, path: path.id })}>${t("openShort")}</button>`}
  </article>`;
}

function Learner({ person, names, addItems, version }) {
  const t = useT(S);
  const date = useDate();
  const state = useApi(async () => {
    const [progress, due, gaps] = await Promise.all([
      get(`/learning/progress/${seg(person)}`),
      get(`/learning/due/${seg(person)}`),
      get(`/learning/gaps/${seg(person)}`),
    ]);
    return { progress, due, gaps };
  }, [person, version]);
  return html`<${Loaded} state=${state}>
    ${({ progress, due, gaps }) => html`<div class="learner" data-employee=${progress.employee}>
      <p class="muted">${names[progress.employee] || person} · ${progress.employee}
        <button class="secondary outline mini" onClick=${state.reload} aria-busy=${state.loading}>
          ${t("refresh")}</button></p>
      <section aria-labelledby="progress-h" class="learner-progress">
        <h3 id="progress-h">${t("progress")}</h3>
        ${progress.paths.length === 0 && html`<p>${t("noPathsFor")}</p>`}
        ${progress.paths.map(
          (p) => html`<div class="card path-progress" key=${p.path} data-path=${p.path}>
            <h4>${p.title}</h4>
            <p><span class="learnt" data-done=${p.done} data-total=${p.items.length}>
              ${t("learnt", { d: p.done, n: p.items.length })}</span></p>
            <progress value=${p.done} max=${p.items.length || 1}
              aria-label=${`${p.title}: ${t("learnt", { d: p.done, n: p.items.length })}`}></progress>
            <div class="overflow-auto" tabindex="0" role="region" aria-label=${p.title}>
              <table>
                <thead><tr>
                  <th scope="col">${t("item")}</th><th scope="col">${t("reviews")}</th>
                  <th scope="col">${t("lastRating")}</th><th scope="col">${t("nextDue")}</th>
                  <th scope="col">${t("withCustomers")}</th>
                </tr></thead>
                <tbody>
                  ${p.items.map(
                    (i) => html`<tr key=${i.item} data-item=${i.item}>
                      <td>${i.title}</td>
                      <td class="reviews">${i.reviews}</td>
                      <td>${i.last_rating ? t(`rating_${i.last_rating}`) : t("notYet")}</td>
                      <td>${date(i.due)}</td>
                      <td>${i.used ? t("usedWorked", { u: i.used, w: i.worked }) : t("notUsed")}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>
          </div>`,
        )}
        ${progress.mentoring.length > 0 && html`<h4>${t("mentoring")}</h4>
          <ul>${progress.mentoring.map(
            (m) => html`<li key=${m.id}>${t(m.kind, { m: m.mentor })}: ${m.topic}
              <span class="muted"> · ${date(m.at)}</span></li>`,
          )}</ul>`}
      </section>
      <section aria-labelledby="due-h">
        <h3 id="due-h">${t("due", { n: due.length })}</h3>
        ${due.length === 0
          ? html`<p>${t("noDue")}</p>`
          : html`<ul class="due">
              ${due.map(
                (d) => html`<li key=${d.item} data-item=${d.item}>${d.title}
                  <span class="muted"> · ${d.new ? t("isNew") : t("dueAt", { d: date(d.due) })}</span></li>`,
              )}
            </ul>`}
      </section>
      <section aria-labelledby="gaps-h">
        <h3 id="gaps-h">${t("gaps", { n: gaps.length })}</h3>
        ${gaps.length === 0
          ? html`<p>${t("noGaps")}</p>`
          : html`<ul class="gaps">
                ${gaps.map(
                  (g) => html`<li key=${g.item} data-item=${g.item}>
                    <strong>${g.title}</strong><br />
                    <span class="muted">${t("theirs", { s: g.successes, n: g.trials })}
                      ${g.pooled ? ` · ${t("pooled")}` : ""}</span><br />
                    <small>${g.why}</small>
                  </li>`,
                )}
              </ul>
              <button class="secondary" onClick=${() => addItems(gaps.map((g) => ({ id: g.item, title: g.title })))}>
                ${t("gapsToPath")}</button>`}
      </section>
    </div>`}
  <//>`;
}

export default function Paths({ me, params, navigate }) {
  const t = useT(S);
  const [selected, setSelected] = useState([]);
  const [version, setVersion] = useState(0);
  const [who, setWho] = useState(params.person || "");
  useEffect(() => setWho(params.person || ""), [params.person]);
  const paths = useApi(() => get("/learning/paths"), [version]);
  const known = usePeople(0);
  const experts = known.data || [];
  const names = Object.fromEntries(experts.map((p) => [p.id, p.name]));
  // people already assigned count as known too (their ids, named when /learning/people knows them)
  const assigned = (paths.data || []).flatMap((p) => p.assignees).filter((a) => !(a in names));
  const people = [...experts, ...[...new Set(assigned)].map((a) => ({ id: a, name: a }))];
  function addItems(items) {
    const have = new Set(selected.map((s) => s.id));
    setSelected([...selected, ...items.filter((i) => !have.has(i.id))]);
    document.getElementById("build-h")?.scrollIntoView();
  }
  function changed(path) {
    setVersion((v) => v + 1);
    return path;
  }
  return html`<h1>${t("title")}</h1>
    <${PeopleList} id="people-known" people=${people} />
    <div class="paths-grid">
      <${Builder} selected=${selected} setSelected=${setSelected}
        onCreated=${(path) => navigate("paths", { ...params, path: changed(path).id })} />
      <section aria-labelledby="paths-h">
        <h2 id="paths-h">${t("paths")}</h2>
        <${Loaded} state=${paths}>
          ${(list) =>
            list.length === 0
              ? html`<p>${t("noPaths")}</p>`
              : list.map(
                  (p) => html`<${PathCard} key=${p.id} me=${me} path=${p} open=${p.id === params.path}
                    people=${people} names=${names} navigate=${navigate} params=${params}
                    onAssigned=${changed} />`,
                )}
        <//>
      </section>
    </div>
    <section aria-labelledby="learner-h" class="learner-section">
      <h2 id="learner-h">${t("learner")}</h2>
      <form class="inline" onSubmit=${(e) => {
          e.preventDefault();
          navigate("paths", { ...params, person: resolve(people, who) });
        }}>
        <label for="learner-who">${t("learnerField")}</label>
        <input id="learner-who" list="people-known" required autocomplete="off" value=${names[who] || who}
          onInput=${(e) => setWho(e.target.value)} />
        <button type="submit">${t("show")}</button>
      </form>
      ${params.person && html`<${Learner} person=${params.person} names=${names} addItems=${addItems}
        version=${version} />`}
    </section>`;
}
