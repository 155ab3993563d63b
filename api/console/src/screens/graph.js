// Graph view (GET /graph/neighbourhood/{id}): the neighbourhood of an item or an entity, drawn
// by cytoscape with the nodes coloured by what they are (products, objections, talk tracks,
// documents, people…); a click on a node opens its own neighbourhood. The same nodes and links
// are listed as text, for screen readers and keyboards. The start node is found among the
// knowledge items (GET /items, filtered here: the API has no text search).
import cytoscape from "cytoscape";
import { useEffect, useRef, useState } from "preact/hooks";
import { get, seg } from "../api.js";
import { useT } from "../i18n.js";
import { html, Loaded, useApi } from "../ui.js";
import { loadItems } from "./curation.js";

const MAX = [50, 100, 200]; // neighbours shown at most (the API allows 1–200, 50 by default)
// Which links to follow (the API's `types`); curators' links together.
const LINK_FILTERS = {
  "": null,
  MENTIONS: ["MENTIONS"],
  CO_OCCURS: ["CO_OCCURS"],
  DERIVED_FROM: ["DERIVED_FROM"],
  SAID_BY: ["SAID_BY"],
  curated: ["COMPLEMENTS", "CONTRADICTS", "SIMILAR_TO", "PREREQUISITE_OF"],
};
const RESULTS = 20;
// Colours of the categories, on white: each at least 4.5:1, so the swatches and the canvas
// read for people with low vision too; the text list says the category in words.
const COLOURS = {
  product: "#1d4ed8",
  objection: "#b91c1c",
  need: "#7e22ce",
  entity: "#57534e",
  talk_track: "#15803d",
  item: "#0f766e",
  document: "#a16207",
  person: "#be185d",
  conversation: "#475569",
  other: "#374151",
};

const S = {
  en: {
    title: "Knowledge graph",
    find: "Find a knowledge item",
    findHelp: "Words of its title or text. Products, objections and people: open an item and follow its links.",
    search: "Search",
    searchArea: "Item search",
    searching: "Searching…",
    results: "Items matching “{q}” ({n})",
    noResults: "No item matches “{q}”.",
    moreResults: "Showing the first {k} of {n}: add words to narrow it.",
    pick: "Search for an item to see its neighbourhood, or open one from the curation queue.",
    hops: "Hops from it",
    linksShown: "Links followed",
    allLinks: "All links",
    curatedLinks: "Curators' links",
    most: "At most",
    mostN: "{n} neighbours",
    hop1: "1 (its neighbours)",
    hop2: "2 (and theirs)",
    counts: "{n} nodes, {m} links",
    truncated: "More neighbours exist than are shown ({limit}): follow fewer kinds of links, or show more.",
    canvas: "Graph of “{name}” and its neighbourhood: {n} nodes, {m} links. The same nodes and links are listed below.",
    legend: "Colours",
    nodes: "Nodes ({n})",
    links: "Links ({n})",
    center: "this node",
    clickHint: "Click a node (or a name below) to open its neighbourhood.",
    cat_product: "Product",
    cat_objection: "Objection",
    cat_need: "Need",
    cat_entity: "Other entity",
    cat_talk_track: "Talk track",
    cat_item: "FAQ or fact",
    cat_document: "Document",
    cat_person: "Person",
    cat_conversation: "Conversation",
    cat_other: "Other",
    label_Document: "document",
    label_Chunk: "passage",
    label_Note: "note",
    label_Conversation: "conversation",
    label_Message: "message",
    label_Employee: "employee",
    label_Customer: "customer",
    label_Entity: "entity",
    label_KnowledgeItem: "knowledge item",
    label_Sentence: "sentence",
    label_LearningPath: "learning path",
    label_Card: "review card",
    label_Mentoring: "mentoring",
    kind_competitor: "competitor",
    kind_policy: "policy",
    kind_topic: "topic",
    kind_money: "amount",
    kind_duration: "duration",
    kind_percent: "percentage",
    kind_date: "date",
    kind_policy_term: "policy term",
    kind_faq: "FAQ",
    kind_fact: "fact",
    link_PART_OF: "part of",
    link_MENTIONS: "mentions",
    link_SAID_BY: "said by",
    link_DERIVED_FROM: "derived from",
    link_SIMILAR_TO: "similar to",
    link_COMPLEMENTS: "complements",
    link_CONTRADICTS: "contradicts",
    link_PREREQUISITE_OF: "prerequisite of",
    link_USED_IN: "used in",
    link_REPLIES_TO: "replies to",
    link_NEXT: "followed by",
    link_CO_OCCURS: "occurs with",
    link_HANDLED_BY: "handled by",
    link_WITH_CUSTOMER: "with customer",
    link_ATTACHED_TO: "attached to",
    link_SAME_AS: "same person as",
    link_DISMISSED: "dismissed pair with",
  },
  zh: {
    title: "知识图谱",
    find: "查找知识条目",
    findHelp: "输入标题或正文中的词。产品、异议和人员：打开一个条目，沿着它的关联查看。",
    search: "搜索",
    searchArea: "条目搜索",
    searching: "搜索中…",
    results: "匹配“{q}”的条目（{n}）",
    noResults: "没有条目匹配“{q}”。",
    moreResults: "仅显示 {n} 条中的前 {k} 条：请加词缩小范围。",
    pick: "搜索一个条目查看它的关联，或从审核队列中打开。",
    hops: "跳数",
    linksShown: "关联类型",
    allLinks: "全部关联",
    curatedLinks: "审核人建立的关联",
    most: "最多显示",
    mostN: "{n} 个关联节点",
    hop1: "1（直接关联）",
    hop2: "2（再多一层）",
    counts: "{n} 个节点，{m} 条关联",
    truncated: "关联节点多于显示上限（{limit}）：可只看某类关联，或显示更多。",
    canvas: "“{name}”及其关联的图：{n} 个节点，{m} 条关联。下方以列表列出相同的节点和关联。",
    legend: "颜色",
    nodes: "节点（{n}）",
    links: "关联（{n}）",
    center: "当前节点",
    clickHint: "点击节点（或下方名称）查看它的关联。",
    cat_product: "产品",
    cat_objection: "异议",
    cat_need: "需求",
    cat_entity: "其他实体",
    cat_talk_track: "话术",
    cat_item: "问答或事实",
    cat_document: "文档",
    cat_person: "人员",
    cat_conversation: "会话",
    cat_other: "其他",
    label_Document: "文档",
    label_Chunk: "段落",
    label_Note: "笔记",
    label_Conversation: "会话",
    label_Message: "消息",
    label_Employee: "员工",
    label_Customer: "客户",
    label_Entity: "实体",
    label_KnowledgeItem: "知识条目",
    label_Sentence: "句子",
    label_LearningPath: "学习路径",
    label_Card: "复习卡片",
    label_Mentoring: "带教",
    kind_competitor: "竞品",
    kind_policy: "政策",
    kind_topic: "主题",
    kind_money: "金额",
    kind_duration: "时长",
    kind_percent: "百分比",
    kind_date: "日期",
    kind_policy_term: "政策条款",
    kind_faq: "问答",
    kind_fact: "事实",
    link_PART_OF: "属于",
    link_MENTIONS: "提及",
    link_SAID_BY: "出自",
    link_DERIVED_FROM: "来源于",
    link_SIMILAR_TO: "相似于",
    link_COMPLEMENTS: "互补于",
    link_CONTRADICTS: "矛盾于",
    link_PREREQUISITE_OF: "前置于",
    link_USED_IN: "用于",
    link_REPLIES_TO: "回复",
    link_NEXT: "之后是",
    link_CO_OCCURS: "共现于",
    link_HANDLED_BY: "处理人",
    link_WITH_CUSTOMER: "客户",
    link_ATTACHED_TO: "附于",
    link_SAME_AS: "同一人",
    link_DISMISSED: "已忽略配对",
  },
};

/** What a node is, for its colour: products, objections, needs, talk tracks, documents… */
export function category(node) {
  const kind = node.properties?.kind;
  switch (node.label) {
    case "Entity":
      if (kind === "product" || kind === "competitor") return "product";
      if (kind === "objection" || kind === "need") return kind;
      return "entity";
    case "KnowledgeItem":
      return kind === "talk_track" ? "talk_track" : "item";
    case "Document":
    case "Chunk":
    case "Note":
      return "document";
    case "Employee":
    case "Customer":
      return "person";
    case "Conversation":
    case "Message":
      return "conversation";
    default:
      return "other";
  }
}

function named(t, key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

/** The node's category in words, with what it is where the category holds several. */
function describe(t, node) {
  const cat = category(node);
  const parts = [t(`cat_${cat}`)];
  const kind = node.properties?.kind;
  if (node.label === "Entity" && kind && !["product", "objection", "need"].includes(kind))
    parts.push(named(t, `kind_${kind}`, kind));
  else if (node.label === "KnowledgeItem" && cat === "item" && kind) parts.push(named(t, `kind_${kind}`, kind));
  else if (!MAIN_LABELS.has(node.label)) parts.push(named(t, `label_${node.label}`, node.label));
  return parts.join(" · ");
}

/** Hops from the centre (links either way), for the rings of the drawing. */
function distances(data) {
  const next = new Map(data.nodes.map((n) => [n.id, []]));
  for (const l of data.links) {
    next.get(l.source)?.push(l.target);
    next.get(l.target)?.push(l.source);
  }
  const hops = new Map([[data.center, 0]]);
  const queue = [data.center];
  while (queue.length) {
    const here = queue.shift();
    for (const there of next.get(here) || []) {
      if (!hops.has(there)) {
        hops.set(there, hops.get(here) + 1);
        queue.push(there);
      }
    }
  }
  return hops;
}

// Labels their category is named after (a passage, a note or a customer says what it is too).
const MAIN_LABELS = new Set(["Entity", "KnowledgeItem", "Document", "Employee", "Conversation"]);

const short = (text, n = 22) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/** The drawing: cytoscape lays the nodes out in rings around the centre; a tap on a node opens
 * its neighbourhood. `data-ready` says when the layout is done. */
function Canvas({ data, view, navigate, label }) {
  const box = useRef(null);
  useEffect(() => {
    const el = box.current;
    el.dataset.ready = "false";
    const hops = distances(data);
    const far = Math.max(1, ...hops.values());
    const cy = cytoscape({
      container: el,
      elements: [
        ...data.nodes.map((n) => ({
          data: {
            id: n.id,
            name: short(n.name),
            colour: COLOURS[category(n)],
            ring: far + 1 - (hops.get(n.id) ?? far + 1),
          },
          classes: n.id === data.center ? "center" : "",
        })),
        ...data.links.map((l, i) => ({ data: { id: `link-${i}`, source: l.source, target: l.target } })),
      ],
      style: [
        {
          selector: "node",
          style: {
            "background-color": "data(colour)",
            label: "data(name)",
            "font-size": 10,
            color: "#1f2937",
            "text-valign": "bottom",
            "text-margin-y": 3,
            "text-background-color": "#ffffff",
            "text-background-opacity": 0.8,
            "text-background-padding": 1,
            width: 18,
            height: 18,
          },
        },
        {
          selector: "node.center",
          style: { width: 34, height: 34, "border-width": 3, "border-color": "#111827", "font-size": 12, "font-weight": "bold" },
        },
        {
          selector: "edge",
          style: {
            width: 1.2,
            "line-color": "#9ca3af",
            "target-arrow-color": "#9ca3af",
            "target-arrow-shape": "triangle",
            "arrow-scale": 0.8,
            "curve-style": "bezier",
          },
        },
      ],
      minZoom: 0.2,
      maxZoom: 3,
    });
    const layout = cy.layout({
      name: "concentric",
      concentric: (node) => node.data("ring"),
      levelWidth: () => 1,
      minNodeSpacing: 28,
      animate: false,
      fit: true,
      padding: 24,
    });
    layout.one("layoutstop", () => {
      el.dataset.ready = "true";
    });
    layout.run();
    cy.on("tap", "node", (e) => {
      const id = e.target.id();
      if (id !== data.center) navigate("graph", paramsOf(id, { ...view, links: "" }));
    });
    cy.on("mouseover", "node", () => (el.style.cursor = "pointer"));
    cy.on("mouseout", "node", () => (el.style.cursor = ""));
    return () => cy.destroy();
  }, [data]);
  return html`<div class="graph-canvas" ref=${box} role="img" aria-label=${label}></div>`;
}

/** How the neighbourhood is shown, from the address: hops, at most how many, which links. */
function viewOf(params) {
  return {
    depth: params.depth === "2" ? 2 : 1,
    max: MAX.includes(Number(params.max)) ? Number(params.max) : MAX[0],
    links: params.links && params.links in LINK_FILTERS ? params.links : "",
  };
}

/** The address's parameters for a node and a view, defaults left out. */
function paramsOf(node, view) {
  return {
    node,
    depth: view.depth > 1 ? view.depth : undefined,
    max: view.max !== MAX[0] ? view.max : undefined,
    links: view.links || undefined,
  };
}

/** A link to another node's neighbourhood: the same hops and size, every kind of link. */
const href = (node, view) => {
  const given = Object.entries(paramsOf(node, { ...view, links: "" })).filter(([, v]) => v !== undefined);
  return `#/graph?${new URLSearchParams(given).toString()}`;
};

function Neighbourhood({ node, view, navigate }) {
  const t = useT(S);
  const { depth, max, links } = view;
  const state = useApi(
    () => get(`/graph/neighbourhood/${seg(node)}`, { depth, limit: max, types: LINK_FILTERS[links] }),
    [node, depth, max, links],
  );
  const change = (name) => (e) => navigate("graph", paramsOf(node, { ...view, [name]: e.target.value }));
  return html`<${Loaded} state=${state}>
    ${(data) => {
      const byId = new Map(data.nodes.map((n) => [n.id, n]));
      const center = byId.get(data.center);
      const present = Object.keys(COLOURS)
        .map((cat) => [cat, data.nodes.filter((n) => category(n) === cat).length])
        .filter(([, n]) => n > 0);
      const name = (id) => byId.get(id)?.name || id;
      return html`<section aria-labelledby="center-h" class="neighbourhood" data-center=${data.center}>
        <h2 id="center-h">${center.name}</h2>
        <p class="muted">${describe(t, center)} · ${t("counts", { n: data.nodes.length, m: data.links.length })}
          ${data.truncated ? ` · ${t("truncated", { limit: max })}` : ""}</p>
        <div class="graph-controls">
          <label for="graph-depth">${t("hops")}</label>
          <select id="graph-depth" value=${String(depth)} onChange=${change("depth")}>
            <option value="1">${t("hop1")}</option>
            <option value="2">${t("hop2")}</option>
          </select>
          <label for="graph-links">${t("linksShown")}</label>
          <select id="graph-links" value=${links} onChange=${change("links")}>
            ${Object.keys(LINK_FILTERS).map(
              (k) => html`<option value=${k}>
                ${k === "" ? t("allLinks") : k === "curated" ? t("curatedLinks") : named(t, `link_${k}`, k)}</option>`,
            )}
          </select>
          <label for="graph-max">${t("most")}</label>
          <select id="graph-max" value=${String(max)} onChange=${change("max")}>
            ${MAX.map((n) => html`<option value=${String(n)}>${t("mostN", { n })}</option>`)}
          </select>
          <p class="muted">${t("clickHint")}</p>
        </div>
        <div class="graph-layout">
          <${Canvas} data=${data} view=${view} navigate=${navigate}
            label=${t("canvas", { name: center.name, n: data.nodes.length, m: data.links.length })} />
          <aside aria-labelledby="legend-h">
            <h3 id="legend-h">${t("legend")}</h3>
            <ul class="graph-legend">
              ${present.map(
                ([cat, n]) => html`<li key=${cat} data-category=${cat}>
                  <span class="swatch" style=${`background:${COLOURS[cat]}`} aria-hidden="true"></span>
                  ${t(`cat_${cat}`)} (${n})</li>`,
              )}
            </ul>
          </aside>
        </div>
        <h3>${t("nodes", { n: data.nodes.length })}</h3>
        <ul class="graph-nodes">
          ${data.nodes.map(
            (n) => html`<li key=${n.id} data-node=${n.id} data-category=${category(n)}>
              <span class="swatch" style=${`background:${COLOURS[category(n)]}`} aria-hidden="true"></span>
              ${n.id === data.center
                ? html`<strong aria-current="true">${n.name}</strong> <span class="muted">(${t("center")})</span>`
                : html`<a href=${href(n.id, view)}>${n.name}</a>`}
              <span class="muted"> · ${describe(t, n)}</span>
            </li>`,
          )}
        </ul>
        <h3>${t("links", { n: data.links.length })}</h3>
        <ul class="graph-links">
          ${data.links.map(
            (l) => html`<li key=${`${l.source} ${l.type} ${l.target}`} data-type=${l.type}>
              ${name(l.source)} <span class="muted">— ${named(t, `link_${l.type}`, l.type)} →</span> ${name(l.target)}
            </li>`,
          )}
        </ul>
      </section>`;
    }}
  <//>`;
}

function Search({ view }) {
  const t = useT(S);
  const [words, setWords] = useState("");
  const [query, setQuery] = useState("");
  const items = useApi(() => (query ? loadItems() : null), [Boolean(query)]);
  const q = query.trim().toLowerCase();
  const found = q && items.data
    ? items.data.filter((i) => `${i.title}\n${i.text}`.toLowerCase().includes(q))
    : [];
  return html`<form class="graph-search" aria-label=${t("searchArea")} onSubmit=${(e) => { e.preventDefault(); setQuery(words.trim()); }}>
      <label for="graph-q">${t("find")}</label>
      <div class="row">
        <input id="graph-q" type="search" value=${words} aria-describedby="graph-q-help"
          onInput=${(e) => setWords(e.target.value)} />
        <button type="submit" aria-busy=${Boolean(query) && items.loading}>${t("search")}</button>
      </div>
      <small id="graph-q-help">${t("findHelp")}</small>
    </form>
    ${query &&
    html`<${Loaded} state=${items}>
      ${() => html`<section class="graph-results" aria-labelledby="results-h">
        <h2 id="results-h">${t("results", { q: query, n: found.length })}</h2>
        ${found.length === 0 && html`<p>${t("noResults", { q: query })}</p>`}
        <ul>
          ${found.slice(0, RESULTS).map(
            (i) => html`<li key=${i.id}><a href=${href(i.id, view)}>${i.title || i.text.slice(0, 80)}</a>
              <span class="muted"> · ${named(t, `cat_${i.kind === "talk_track" ? "talk_track" : "item"}`, i.kind)}</span></li>`,
          )}
        </ul>
        ${found.length > RESULTS && html`<p class="muted">${t("moreResults", { k: RESULTS, n: found.length })}</p>`}
      </section>`}
    <//>`}`;
}

export default function GraphView({ params, navigate }) {
  const t = useT(S);
  const node = params.node || "";
  const view = viewOf(params);
  return html`<h1>${t("title")}</h1>
    <${Search} view=${view} />
    ${node
      ? html`<${Neighbourhood} key=${node} node=${node} view=${view} navigate=${navigate} />`
      : html`<p>${t("pick")}</p>`}`;
}
