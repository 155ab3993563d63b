// Admin: accounts (list, create with role/team/employee, change role, disable), their keys
// (issued keys are shown once, with a copy button; list; revoke), teams, and the offboarding
// handover (customers, open conversations and notes to a colleague, in one undoable event).
import { useState } from "preact/hooks";
import { get, patch, post, del, seg } from "../api.js";
import { useT } from "../i18n.js";
import { ErrorNote, html, Loaded, Notice, useApi, useDate } from "../ui.js";

const S = {
  en: {
    title: "Admin",
    tab_users: "Users and keys",
    tab_teams: "Teams",
    tab_handover: "Handover",
    users: "Users",
    filter: "Filter users",
    accountList: "List of accounts",
    name: "Name",
    role: "Role",
    team: "Team",
    employee: "Employee",
    status: "Status",
    active: "active",
    disabled: "disabled",
    manage: "Manage",
    manageWho: "Manage {name}",
    noUsers: "No account matches.",
    noAccounts: "No account yet: create the first one below.",
    create: "Create an account",
    employeeField: "Employee (node id, source id or name; optional)",
    employeeHelp:
      "Links the account to a person in the graph (their conversations, their live suggestions). Employees need one.",
    teamHelp: "A team scopes what the person sees; leave empty for a central account.",
    createBtn: "Create account",
    createdNote: "Account “{name}” created.",
    account: "Account: {name}",
    close: "Close",
    save: "Save changes",
    saved: "Saved.",
    disable: "Disable account",
    enable: "Enable account",
    disabledNote: "This account is disabled: its keys are refused.",
    nowDisabled: "Account disabled.",
    nowEnabled: "Account enabled.",
    keys: "API keys",
    issue: "Issue a new key",
    issuing: "Issuing…",
    newKey: "New key for {name}",
    keyWarning:
      "This key is shown once, now. Copy it and give it to the person safely: Spiral keeps only its hash and cannot show it again.",
    copy: "Copy key",
    copied: "Key copied to the clipboard.",
    stored: "I have stored it",
    noKeys: "No key yet.",
    prefix: "Key",
    created: "Issued",
    state: "State",
    revoked: "revoked {at}",
    valid: "valid",
    revoke: "Revoke",
    revokeWhich: "Revoke key {prefix}",
    confirmRevoke: "Revoke key {prefix}? It is refused from now on; this cannot be undone.",
    yesRevoke: "Yes, revoke it",
    cancel: "Cancel",
    revokedNote: "Key {prefix} revoked.",
    teams: "Teams",
    noTeam: "(no team: central accounts)",
    members: "accounts: {n}",
    noTeams: "No account yet.",
    handover: "Hand over someone's work",
    handoverHelp:
      "When someone leaves, their customers, open conversations and notes go to a colleague in one event. Who said and handled what stays attributed to them.",
    from: "Who leaves (employee)",
    to: "Who takes over (employee)",
    reason: "Reason",
    handoverBtn: "Hand over",
    handedOver: "Handed over in event #{seq} — customers: {c}, open conversations: {o}, notes: {n}",
    customers: "Customers now with {to}",
    conversations: "conversations: {n}",
    handledBy: "handled by {list}",
    openConversations: "Open conversations",
    notes: "Notes",
    undo: "Undo this handover",
    undoReason: "handover undone from the admin console",
    undone: "Undone in event #{seq}: everything is back with {from}.",
    nothing: "nothing",
  },
  zh: {
    title: "系统管理",
    tab_users: "用户与密钥",
    tab_teams: "团队",
    tab_handover: "离职交接",
    users: "用户",
    filter: "筛选用户",
    accountList: "账号列表",
    name: "姓名",
    role: "角色",
    team: "团队",
    employee: "员工",
    status: "状态",
    active: "正常",
    disabled: "已停用",
    manage: "管理",
    manageWho: "管理 {name}",
    noUsers: "没有匹配的账号。",
    noAccounts: "还没有账号：请在下方新建。",
    create: "新建账号",
    employeeField: "员工（节点 ID、源系统 ID 或姓名；可选）",
    employeeHelp: "把账号关联到图谱中的人（其会话与实时推送）。员工账号需要关联。",
    teamHelp: "团队决定此人能看到的范围；中心账号留空。",
    createBtn: "创建账号",
    createdNote: "已创建账号“{name}”。",
    account: "账号：{name}",
    close: "关闭",
    save: "保存修改",
    saved: "已保存。",
    disable: "停用账号",
    enable: "启用账号",
    disabledNote: "此账号已停用：其密钥均被拒绝。",
    nowDisabled: "账号已停用。",
    nowEnabled: "账号已启用。",
    keys: "API 密钥",
    issue: "签发新密钥",
    issuing: "签发中…",
    newKey: "{name} 的新密钥",
    keyWarning: "此密钥只显示这一次。请立即复制并安全地交给本人：Spiral 只保存其哈希，无法再次显示。",
    copy: "复制密钥",
    copied: "密钥已复制到剪贴板。",
    stored: "我已保存",
    noKeys: "还没有密钥。",
    prefix: "密钥",
    created: "签发时间",
    state: "状态",
    revoked: "已于 {at} 吊销",
    valid: "有效",
    revoke: "吊销",
    revokeWhich: "吊销密钥 {prefix}",
    confirmRevoke: "确定吊销密钥 {prefix}？吊销后立即失效，且无法恢复。",
    yesRevoke: "确定吊销",
    cancel: "取消",
    revokedNote: "密钥 {prefix} 已吊销。",
    teams: "团队",
    noTeam: "（无团队：中心账号）",
    members: "{n} 个账号",
    noTeams: "还没有账号。",
    handover: "离职交接",
    handoverHelp: "员工离职时，其客户、未结束的会话和笔记一次性移交给同事。谁说过什么、处理过什么仍归属于原员工。",
    from: "离职员工",
    to: "接手员工",
    reason: "原因",
    handoverBtn: "移交",
    handedOver: "已在事件 #{seq} 中移交：客户 {c} 位，未结束会话 {o} 个，笔记 {n} 条",
    customers: "现由 {to} 负责的客户",
    conversations: "{n} 个会话",
    handledBy: "经手人：{list}",
    openConversations: "未结束的会话",
    notes: "笔记",
    undo: "撤销此次交接",
    undoReason: "在管理控制台撤销交接",
    undone: "已在事件 #{seq} 中撤销：全部归还给 {from}。",
    nothing: "无",
  },
};

const ROLES = ["employee", "knowledge_manager", "trainer", "admin"];
const TABS = ["users", "teams", "handover"];

/** People of the graph an admin can name (GET /experts: everyone with conversations). */
function usePeople() {
  return useApi(async () => {
    const found = await get("/experts", { limit: 1000 });
    return found.experts.map((e) => ({ id: e.employee, name: e.name || e.employee }));
  }, []);
}

function Options({ id, values }) {
  return html`<datalist id=${id}>
    ${values.map((v) => html`<option key=${v.value} value=${v.value}>${v.label || ""}</option>`)}
  </datalist>`;
}

function RoleSelect({ id, value, onChange }) {
  const t = useT(S);
  return html`<select id=${id} value=${value} onChange=${(e) => onChange(e.target.value)}>
    ${ROLES.map((r) => html`<option value=${r}>${t(`role_${r}`)}</option>`)}
  </select>`;
}

function UsersTable({ users, current, navigate, names }) {
  const t = useT(S);
  const [words, setWords] = useState("");
  const needle = words.trim().toLowerCase();
  const shown = users.filter(
    (u) => !needle || [u.name, u.role, u.team, u.employee_id].join(" ").toLowerCase().includes(needle),
  );
  return html`<label for="user-filter">${t("filter")}</label>
    <input id="user-filter" type="search" value=${words} onInput=${(e) => setWords(e.target.value)} />
    ${shown.length === 0
      ? html`<p>${users.length === 0 ? t("noAccounts") : t("noUsers")}</p>`
      : html`<div class="overflow-auto" tabindex="0" role="region" aria-label=${t("accountList")}><table class="users">
          <thead><tr>
            <th scope="col">${t("name")}</th><th scope="col">${t("role")}</th>
            <th scope="col">${t("team")}</th><th scope="col">${t("employee")}</th>
            <th scope="col">${t("status")}</th><th scope="col"><span class="sr-only">${t("manage")}</span></th>
          </tr></thead>
          <tbody>
            ${shown.map(
              (u) => html`<tr key=${u.id} data-account=${u.id} aria-current=${u.id === current ? "true" : undefined}>
                <td>${u.name}</td>
                <td data-role=${u.role}>${t(`role_${u.role}`)}</td>
                <td>${u.team}</td>
                <td class="muted" title=${u.employee_id}>${names[u.employee_id] || u.employee_id}</td>
                <td>${u.disabled ? html`<span class="tag rejected">${t("disabled")}</span>` : t("active")}</td>
                <td><button class="outline mini" aria-label=${t("manageWho", { name: u.name })}
                  onClick=${() => navigate("admin", { tab: "users", user: u.id })}>${t("manage")}</button></td>
              </tr>`,
            )}
          </tbody>
        </table></div>`}`;
}

function CreateUser({ teams, navigate, onChange }) {
  const t = useT(S);
  const [form, setForm] = useState({ name: "", role: "employee", team: "", employee_id: "" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const set = (field) => (e) => setForm({ ...form, [field]: e.target.value });
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const account = await post("/admin/users", form);
      setForm({ name: "", role: "employee", team: "", employee_id: "" });
      onChange();
      navigate("admin", { tab: "users", user: account.id, created: "1" });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return html`<section aria-labelledby="create-h" class="card">
    <h2 id="create-h">${t("create")}</h2>
    <form onSubmit=${submit}>
      <label for="new-name">${t("name")}</label>
      <input id="new-name" required value=${form.name} onInput=${set("name")} />
      <label for="new-role">${t("role")}</label>
      <${RoleSelect} id="new-role" value=${form.role} onChange=${(role) => setForm({ ...form, role })} />
      <label for="new-team">${t("team")}</label>
      <input id="new-team" list="known-teams" value=${form.team} onInput=${set("team")}
        aria-describedby="new-team-help" autocomplete="off" />
      <small id="new-team-help">${t("teamHelp")}</small>
      <label for="new-employee">${t("employeeField")}</label>
      <input id="new-employee" list="known-people" value=${form.employee_id} onInput=${set("employee_id")}
        aria-describedby="new-employee-help" autocomplete="off" />
      <small id="new-employee-help">${t("employeeHelp")}</small>
      <button type="submit" aria-busy=${busy}>${t("createBtn")}</button>
    </form>
    <${ErrorNote} error=${error} />
  </section>`;
}

function IssuedKey({ issued, name, onDone }) {
  const t = useT(S);
  const [note, setNote] = useState("");
  const [error, setError] = useState(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(issued.key);
      setNote(t("copied"));
    } catch (err) {
      setError(err);
    }
  }
  return html`<section class="card issued-key" aria-labelledby="issued-h">
    <h4 id="issued-h">${t("newKey", { name })}</h4>
    <p role="alert" class="warning">${t("keyWarning")}</p>
    <p><code class="the-key" data-key-id=${issued.id}>${issued.key}</code></p>
    <div class="actions">
      <button onClick=${copy}>${t("copy")}</button>
      <button class="secondary outline" onClick=${onDone}>${t("stored")}</button>
    </div>
    <${Notice} text=${note} />
    <${ErrorNote} error=${error} />
  </section>`;
}

function Keys({ account }) {
  const t = useT(S);
  const date = useDate();
  const [version, setVersion] = useState(0);
  const keys = useApi(() => get(`/admin/users/${seg(account.id)}/keys`), [account.id, version]);
  const [issued, setIssued] = useState(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState("");
  const [error, setError] = useState(null);
  const [note, setNote] = useState("");
  async function issue() {
    setBusy(true);
    setError(null);
    setNote("");
    try {
      setIssued(await post(`/admin/users/${seg(account.id)}/keys`));
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  async function revoke(key) {
    setError(null);
    try {
      await del(`/admin/keys/${seg(key.id)}`);
      setConfirming("");
      setNote(t("revokedNote", { prefix: key.prefix }));
      if (issued?.id === key.id) setIssued(null);
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    }
  }
  return html`<section aria-labelledby="keys-h">
    <h3 id="keys-h">${t("keys")}</h3>
    <button onClick=${issue} aria-busy=${busy} disabled=${account.disabled}>
      ${busy ? t("issuing") : t("issue")}</button>
    ${issued && html`<${IssuedKey} issued=${issued} name=${account.name} onDone=${() => setIssued(null)} />`}
    <${ErrorNote} error=${error} />
    <${Notice} text=${note} />
    <${Loaded} state=${keys}>
      ${(list) =>
        list.length === 0
          ? html`<p class="muted">${t("noKeys")}</p>`
          : html`<table class="keys">
              <thead><tr><th scope="col">${t("prefix")}</th><th scope="col">${t("created")}</th>
                <th scope="col">${t("state")}</th><th scope="col"><span class="sr-only">${t("revoke")}</span></th></tr></thead>
              <tbody>
                ${list.map(
                  (k) => html`<tr key=${k.id} data-key-id=${k.id} data-revoked=${String(k.revoked)}>
                    <td><code>spk_${k.prefix}_…</code></td>
                    <td>${date(k.created_at)}</td>
                    <td>${k.revoked ? html`<span class="tag rejected">${t("revoked", { at: date(k.revoked_at) })}</span>` : t("valid")}</td>
                    <td>${!k.revoked &&
                      (confirming === k.id
                        ? html`<div class="confirm" role="group" aria-label=${t("revokeWhich", { prefix: k.prefix })}>
                            <p>${t("confirmRevoke", { prefix: k.prefix })}</p>
                            <div class="actions">
                              <button class="danger mini" onClick=${() => revoke(k)}>${t("yesRevoke")}</button>
                              <button class="secondary outline mini" onClick=${() => setConfirming("")}>${t("cancel")}</button>
                            </div>
                          </div>`
                        : html`<button class="secondary outline mini" aria-label=${t("revokeWhich", { prefix: k.prefix })}
                            onClick=${() => setConfirming(k.id)}>${t("revoke")}</button>`)}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
    <//>
  </section>`;
}

function AccountPanel({ id, navigate, onChange, created }) {
  const t = useT(S);
  const state = useApi(() => get(`/admin/users/${seg(id)}`), [id]);
  const [form, setForm] = useState(null);
  const [error, setError] = useState(null);
  const [note, setNote] = useState(created ? "created" : "");
  async function change(fields, done) {
    setError(null);
    setNote("");
    try {
      const account = await patch(`/admin/users/${seg(id)}`, fields);
      setForm(null);
      await state.reload();
      onChange();
      setNote(done(account));
    } catch (err) {
      setError(err);
    }
  }
  return html`<section aria-labelledby="account-h" class="card account">
    <${Loaded} state=${state}>
      ${(a) => {
        const f = form || { role: a.role, team: a.team, employee_id: a.employee_id };
        const set = (field) => (e) => setForm({ ...f, [field]: e.target.value });
        return html`<h2 id="account-h">${t("account", { name: a.name })}</h2>
          <p class="muted">${a.id}</p>
          ${a.disabled && html`<p class="error">${t("disabledNote")}</p>`}
          <form onSubmit=${(e) => {
              e.preventDefault();
              change(f, () => t("saved"));
            }}>
            <label for="edit-role">${t("role")}</label>
            <${RoleSelect} id="edit-role" value=${f.role} onChange=${(role) => setForm({ ...f, role })} />
            <label for="edit-team">${t("team")}</label>
            <input id="edit-team" list="known-teams" value=${f.team} onInput=${set("team")} autocomplete="off" />
            <label for="edit-employee">${t("employeeField")}</label>
            <input id="edit-employee" list="known-people" value=${f.employee_id} onInput=${set("employee_id")}
              autocomplete="off" />
            <div class="actions">
              <button type="submit">${t("save")}</button>
              <button type="button" class=${a.disabled ? "secondary" : "danger"}
                onClick=${() => change({ disabled: !a.disabled }, (x) => t(x.disabled ? "nowDisabled" : "nowEnabled"))}>
                ${a.disabled ? t("enable") : t("disable")}</button>
              <button type="button" class="secondary outline" onClick=${() => navigate("admin", { tab: "users" })}>
                ${t("close")}</button>
            </div>
          </form>
          <${ErrorNote} error=${error} />
          <${Notice} text=${note === "created" ? t("createdNote", { name: a.name }) : note} />
          <${Keys} account=${a} />`;
      }}
    <//>
  </section>`;
}

function Users({ params, navigate, teams, people }) {
  const t = useT(S);
  const [version, setVersion] = useState(0);
  const users = useApi(() => get("/admin/users"), [version]);
  const changed = () => setVersion((v) => v + 1);
  return html`<section aria-labelledby="users-h">
      <h2 id="users-h">${t("users")}</h2>
      <${Loaded} state=${users}>
        ${(list) => html`<${UsersTable} users=${list} current=${params.user} navigate=${navigate}
          names=${Object.fromEntries(people.map((p) => [p.id, p.name]))} />`}
      <//>
    </section>
    <div class="admin-grid">
      ${params.user && html`<${AccountPanel} key=${params.user} id=${params.user} navigate=${navigate}
        onChange=${changed} created=${params.created === "1"} />`}
      <${CreateUser} teams=${teams} people=${people} navigate=${navigate} onChange=${changed} />
    </div>`;
}

function Teams({ state }) {
  const t = useT(S);
  return html`<section aria-labelledby="teams-h">
    <h2 id="teams-h">${t("teams")}</h2>
    <${Loaded} state=${state}>
      ${(teams) =>
        teams.length === 0
          ? html`<p>${t("noTeams")}</p>`
          : teams.map(
              (team) => html`<article class="card team" key=${team.team} data-team=${team.team}
                  aria-labelledby=${`team-${team.team || "none"}`}>
                <h3 id=${`team-${team.team || "none"}`}>${team.team || t("noTeam")}
                  <small class="muted"> · ${t("members", { n: team.members.length })}</small></h3>
                <table>
                  <thead><tr><th scope="col">${t("name")}</th><th scope="col">${t("role")}</th>
                    <th scope="col">${t("employee")}</th><th scope="col">${t("status")}</th></tr></thead>
                  <tbody>
                    ${team.members.map(
                      (m) => html`<tr key=${m.id}>
                        <td><a href=${`#/admin?tab=users&user=${encodeURIComponent(m.id)}`}>${m.name}</a></td>
                        <td>${t(`role_${m.role}`)}</td><td class="muted">${m.employee_id}</td>
                        <td>${m.disabled ? t("disabled") : t("active")}</td>
                      </tr>`,
                    )}
                  </tbody>
                </table>
              </article>`,
            )}
    <//>
  </section>`;
}

function Handover({ people }) {
  const t = useT(S);
  const names = Object.fromEntries(people.map((p) => [p.id, p.name]));
  const [form, setForm] = useState({ from_employee: "", to_employee: "", reason: "" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [result, setResult] = useState(null);
  const [undone, setUndone] = useState(null);
  const set = (field) => (e) => setForm({ ...form, [field]: e.target.value });
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setUndone(null);
    try {
      setResult(await post("/admin/handover", form));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  async function undo() {
    setError(null);
    try {
      setUndone(await post(`/admin/events/${result.event}/undo`, { reason: t("undoReason") }));
    } catch (err) {
      setError(err);
    }
  }
  return html`<section aria-labelledby="handover-h">
    <h2 id="handover-h">${t("handover")}</h2>
    <p class="muted">${t("handoverHelp")}</p>
    <form onSubmit=${submit}>
      <div class="grid">
        <div>
          <label for="from-employee">${t("from")}</label>
          <input id="from-employee" list="known-people" required autocomplete="off"
            value=${form.from_employee} onInput=${set("from_employee")} />
        </div>
        <div>
          <label for="to-employee">${t("to")}</label>
          <input id="to-employee" list="known-people" required autocomplete="off"
            value=${form.to_employee} onInput=${set("to_employee")} />
        </div>
      </div>
      <label for="handover-reason">${t("reason")}</label>
      <input id="handover-reason" value=${form.reason} onInput=${set("reason")} />
      <button type="submit" aria-busy=${busy}>${t("handoverBtn")}</button>
    </form>
    <${ErrorNote} error=${error} />
    ${result && html`<article class="card handover-result" data-event=${result.event} aria-labelledby="result-h">
      <h3 id="result-h">${t("handedOver", {
        seq: result.event,
        c: result.customers.length,
        o: result.conversations.length,
        n: result.notes.length,
      })}</h3>
      <h4>${t("customers", { to: form.to_employee })}</h4>
      ${result.customers.length === 0
        ? html`<p class="muted">${t("nothing")}</p>`
        : html`<ul>${result.customers.map(
            (c) => html`<li key=${c.customer}>${c.name || c.customer}
              <span class="muted"> · ${t("conversations", { n: c.conversations.length })} ·${" "}
                ${t("handledBy", { list: c.handled_by.map((h) => names[h] || h).join(", ") })}</span></li>`,
          )}</ul>`}
      <h4>${t("openConversations")}</h4>
      <p>${result.conversations.length ? result.conversations.join(", ") : t("nothing")}</p>
      <h4>${t("notes")}</h4>
      <p>${result.notes.length ? result.notes.join(", ") : t("nothing")}</p>
      ${undone
        ? html`<p role="status">${t("undone", { seq: undone.seq, from: form.from_employee })}</p>`
        : html`<button class="secondary" onClick=${undo}>${t("undo")}</button>`}
    </article>`}
  </section>`;
}

export default function Admin({ params, navigate }) {
  const t = useT(S);
  const tab = TABS.includes(params.tab) ? params.tab : "users";
  const teams = useApi(() => get("/admin/teams"), [tab, params.user]);
  const people = usePeople();
  const teamNames = (teams.data || []).map((x) => x.team).filter(Boolean);
  return html`<h1>${t("title")}</h1>
    <ul class="tabs">
      ${TABS.map(
        (id) => html`<li><a href=${`#/admin?tab=${id}`} aria-current=${id === tab ? "page" : undefined}>
          ${t(`tab_${id}`)}</a></li>`,
      )}
    </ul>
    <${Options} id="known-teams" values=${teamNames.map((v) => ({ value: v }))} />
    <${Options} id="known-people" values=${(people.data || []).map((p) => ({ value: p.name, label: p.id }))} />
    ${tab === "users" && html`<${Users} params=${params} navigate=${navigate} teams=${teamNames} people=${people.data || []} />`}
    ${tab === "teams" && html`<${Teams} state=${teams} />`}
    ${tab === "handover" && html`<${Handover} people=${people.data || []} />`}`;
}
