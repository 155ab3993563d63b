// Employee assist panel: suggestions pushed while customers write (the person's SSE stream),
// or asked for by pasting the customer's words; copy, used, worked, didn't work in one click.
import { useEffect, useState } from "preact/hooks";
import { get, post, seg, stream } from "../api.js";
import { useT } from "../i18n.js";
import { Counts, ErrorNote, html, Loaded, Notice, StatusTag, useApi } from "../ui.js";

const S = {
  en: {
    title: "What should I say?",
    live: "Live conversations",
    connected: "Connected: suggestions arrive as customers write.",
    connecting: "Connecting to your live stream…",
    offline: "Live stream interrupted; reconnecting (nothing is lost).",
    resync: "Some pushes may have been missed while offline; ask again if needed.",
    noStream: "No live stream: this account is not linked to an employee.",
    waiting: "No customer message yet. Suggestions appear here when one arrives.",
    customerSaid: "Customer",
    conversation: "Conversation",
    ask: "Ask",
    words: "The customer's words",
    conversationId: "Conversation id (optional, for feedback)",
    asking: "Asking…",
    answerFor: "Suggestions for “{q}”",
    noSuggestions: "No suggestion found for these words.",
    copy: "Copy",
    copied: "Copied to the clipboard.",
    used: "Used",
    worked: "Worked",
    failed: "Didn't work",
    recorded: "Recorded: {outcome}.",
    opening: "opening line",
    sources: "Sources",
    why: "Why",
    suggestion: "Suggestion {n}",
    yours: "Your conversations",
    noConversations: "No conversation yet.",
    open: "Open",
    opened: "Conversation {id}",
    transcript: "Messages",
    employeeSaid: "You",
    suggestFor: "Suggestions for the customer's last message",
    noCustomer: "The customer has not written yet.",
    close: "Close",
    outcome: "outcome: {o}",
  },
  zh: {
    title: "我该怎么说？",
    live: "进行中的会话",
    connected: "已连接：客户发消息时会自动推送话术。",
    connecting: "正在连接实时推送…",
    offline: "实时推送中断，正在重连（不会丢失消息）。",
    resync: "离线期间可能漏掉了推送，如有需要请重新提问。",
    noStream: "无实时推送：此账号未关联员工。",
    waiting: "还没有客户消息。客户发消息后，建议会显示在这里。",
    customerSaid: "客户",
    conversation: "会话",
    ask: "提问",
    words: "客户的原话",
    conversationId: "会话 ID（可选，用于反馈）",
    asking: "查询中…",
    answerFor: "“{q}” 的建议",
    noSuggestions: "没有找到合适的话术。",
    copy: "复制",
    copied: "已复制到剪贴板。",
    used: "已使用",
    worked: "有效",
    failed: "无效",
    recorded: "已记录：{outcome}。",
    opening: "开场白",
    sources: "来源",
    why: "理由",
    suggestion: "建议 {n}",
    yours: "我的会话",
    noConversations: "暂无会话。",
    open: "打开",
    opened: "会话 {id}",
    transcript: "消息",
    employeeSaid: "我",
    suggestFor: "针对客户最后一条消息的建议",
    noCustomer: "客户还没有发消息。",
    close: "关闭",
    outcome: "结果：{o}",
  },
};

/** One option: what to say, why, how it went before, where it comes from, and the buttons. */
export function SuggestionCard({ s, n, conversation, employee }) {
  const t = useT(S);
  const [note, setNote] = useState("");
  const [error, setError] = useState(null);
  const [sent, setSent] = useState(null);
  async function feedback(outcome) {
    setError(null);
    try {
      await post("/assist/feedback", {
        suggestion_id: s.id,
        outcome,
        conversation: conversation || undefined,
        employee: employee || undefined,
      });
      setSent(outcome);
      setNote(t("recorded", { outcome: t(outcome) }));
    } catch (err) {
      setError(err);
    }
  }
  async function copy() {
    try {
      await navigator.clipboard.writeText(s.text);
      setNote(t("copied"));
    } catch (err) {
      setError(err);
    }
  }
  const status = s.item?.status || (s.draft ? "draft" : "");
  return html`<article class="card suggestion" aria-label=${t("suggestion", { n })}
    data-item=${s.item?.id}>
    <h4>
      ${s.opening && html`<span class="tag opening">${t("opening")}</span>`}
      <${StatusTag} status=${s.draft && status !== "draft" ? "draft" : status} />
      ${s.title}
    </h4>
    <p class="say">${s.text}</p>
    <p class="why"><strong>${t("why")}:</strong> ${s.why}
      ${s.item && html` · <${Counts} stats=${s.item.stats} />`}</p>
    ${s.sources?.length > 0 &&
    html`<details><summary class="muted">${t("sources")} (${s.sources.length})</summary>
      <ul>${s.sources.map((src) => html`<li class="muted">${src.title || src.label}: ${src.uri}</li>`)}</ul>
    </details>`}
    <div class="actions">
      <button class="secondary" onClick=${copy}>${t("copy")}</button>
      ${s.item && ["used", "worked", "failed"].map(
        (o) => html`<button class=${o === "failed" ? "secondary outline" : "outline"}
          aria-pressed=${sent === o} onClick=${() => feedback(o)}>${t(o)}</button>`,
      )}
    </div>
    <${Notice} text=${note} />
    <${ErrorNote} error=${error} />
  </article>`;
}

function Suggestions({ result, conversation, employee }) {
  const t = useT(S);
  if (!result.suggestions.length) return html`<p>${t("noSuggestions")}</p>`;
  return result.suggestions.map(
    (s, i) => html`<${SuggestionCard} key=${s.id} s=${s} n=${i + 1}
      conversation=${conversation} employee=${employee} />`,
  );
}

function AskForm({ me }) {
  const t = useT(S);
  const [words, setWords] = useState("");
  const [conversation, setConversation] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [result, setResult] = useState(null);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setResult(await post("/assist/ask", { query: words, employee: me.employee_id || undefined }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return html`<section aria-labelledby="ask-h">
    <h2 id="ask-h">${t("ask")}</h2>
    <form onSubmit=${submit}>
      <label for="words">${t("words")}</label>
      <textarea id="words" rows="3" required value=${words}
        onInput=${(e) => setWords(e.target.value)}></textarea>
      <label for="conv">${t("conversationId")}</label>
      <input id="conv" value=${conversation} onInput=${(e) => setConversation(e.target.value)} />
      <button type="submit" aria-busy=${busy}>${busy ? t("asking") : t("ask")}</button>
    </form>
    <${ErrorNote} error=${error} />
    ${result && html`<h3>${t("answerFor", { q: result.query })}</h3>
      <${Suggestions} result=${result} conversation=${conversation} employee=${me.employee_id} />`}
  </section>`;
}

function LiveFeed({ me, onPush }) {
  const t = useT(S);
  const [state, setState] = useState("connecting");
  const [pushes, setPushes] = useState([]);
  const [resync, setResync] = useState(false);
  const [error, setError] = useState(null);
  const linked = Boolean(me.employee_id) || me.role === "employee";
  useEffect(() => {
    if (!linked) return undefined;
    return stream("/push/stream", {
      onOpen: () => setState("connected"),
      onError: (err) => {
        setState("offline");
        if (err?.status === 401 || err?.status === 403 || err?.status === 422) setError(err);
      },
      onEvent: (event, data, id) => {
        if (event === "resync") setResync(true);
        if (event !== "suggestions") return;
        onPush?.(data);
        setPushes((old) => (old.some((p) => p.id === id) ? old : [{ id, ...data }, ...old].slice(0, 50)));
      },
    });
  }, [linked]);
  if (!linked) return html`<p class="muted">${t("noStream")}</p>`;
  return html`<section aria-labelledby="live-h">
    <h2 id="live-h">${t("live")}</h2>
    <p role="status" class="muted" data-stream=${state}>${t(state)}</p>
    ${resync && html`<p class="muted">${t("resync")}</p>`}
    <${ErrorNote} error=${error} />
    ${pushes.length === 0 && html`<p>${t("waiting")}</p>`}
    ${pushes.map(
      (p) => html`<div class="push" key=${p.id} data-message=${p.message_id}>
        <p><strong>${t("customerSaid")}:</strong> ${p.query}
          <span class="muted"> · ${t("conversation")} ${p.conversation_id}</span></p>
        <${Suggestions} result=${p} conversation=${p.conversation_id} employee=${me.employee_id} />
      </div>`,
    )}
  </section>`;
}

/** The employee's own conversations (GET /conversations), newest first. */
function ConversationList({ me, current, navigate, version }) {
  const t = useT(S);
  const state = useApi(() => (me.employee_id ? get("/conversations") : []), [me.employee_id, version]);
  return html`<section aria-labelledby="yours-h">
    <h2 id="yours-h">${t("yours")}</h2>
    <${Loaded} state=${state}>
      ${(list) =>
        list.length === 0
          ? html`<p class="muted">${t("noConversations")}</p>`
          : html`<ul class="conversations">
              ${list.map(
                (c) => html`<li key=${c.id}>
                  <a href=${`#/assist?conversation=${encodeURIComponent(c.id)}`}
                    aria-current=${c.id === current ? "true" : undefined}>
                    ${c.title || c.id}</a>
                  <span class="muted"> · ${c.channel || ""} ${c.started_at?.slice(0, 16) || ""}
                    ${c.outcome ? ` · ${t("outcome", { o: c.outcome })}` : ""}</span>
                </li>`,
              )}
            </ul>`}
    <//>
  </section>`;
}

/** An open conversation: its messages, and suggestions for the customer's last words with
 * the conversation before them as context. */
function OpenConversation({ me, id, navigate, version }) {
  const t = useT(S);
  const state = useApi(async () => {
    const conv = await get(`/conversations/${seg(id)}`);
    const last = conv.messages.map((m) => m.role).lastIndexOf("customer");
    if (last < 0) return { conv, result: null };
    const context = conv.messages.slice(0, last).map((m) => ({ role: m.role, text: m.text, speaker: m.speaker }));
    const result = await post("/assist/ask", {
      query: conv.messages[last].text,
      context,
      employee: me.employee_id || undefined,
      customer: conv.customer || undefined,
      channel: conv.channel || undefined,
    });
    return { conv, result };
  }, [id, version]);
  return html`<section aria-labelledby="open-h" class="open-conversation">
    <h2 id="open-h">${t("opened", { id })}</h2>
    <button class="secondary outline" onClick=${() => navigate("assist")}>${t("close")}</button>
    <${Loaded} state=${state}>
      ${({ conv, result }) => html`
        <h3>${t("transcript")}</h3>
        <ol class="transcript">
          ${conv.messages.map(
            (m) => html`<li key=${m.id} class=${m.role}>
              <strong>${m.role === "customer" ? t("customerSaid") : m.speaker || t("employeeSaid")}:</strong>
              ${" "}${m.text}</li>`,
          )}
        </ol>
        <h3>${t("suggestFor")}</h3>
        ${result
          ? html`<${Suggestions} result=${result} conversation=${conv.id} employee=${me.employee_id} />`
          : html`<p>${t("noCustomer")}</p>`}`}
    <//>
  </section>`;
}

export default function Assist({ me, params, navigate }) {
  const t = useT(S);
  const [version, setVersion] = useState(0);
  const open = params.conversation || "";
  const onPush = () => setVersion((v) => v + 1); // a new message: lists and the open one refresh
  return html`<h1>${t("title")}</h1>
    <div class="grid-2">
      <div>
        <${ConversationList} me=${me} current=${open} navigate=${navigate} version=${version} />
        <${AskForm} me=${me} />
      </div>
      <div>
        ${open && html`<${OpenConversation} me=${me} id=${open} navigate=${navigate} version=${version} />`}
        <${LiveFeed} me=${me} onPush=${onPush} />
      </div>
    </div>`;
}
