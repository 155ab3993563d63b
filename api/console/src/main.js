// The console's shell: sign in with a key, the screens the role allows, the language.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, key } from "./api.js";
import { initialLang, Lang, LANGS, translate } from "./i18n.js";
import { ErrorNote, html, Loading } from "./ui.js";
import { allowed, SCREENS } from "./screens/index.js";

const HOME = { employee: "assist", knowledge_manager: "curation", trainer: "paths", admin: "dashboard" };

function parseHash() {
  // split first, decode each part after: an id may hold "&", "+" or "%"
  const raw = location.hash.replace(/^#\/?/, "");
  const cut = raw.indexOf("?");
  const screen = decodeURIComponent(cut < 0 ? raw : raw.slice(0, cut));
  const qs = cut < 0 ? "" : raw.slice(cut + 1);
  return { screen: screen || "", params: Object.fromEntries(new URLSearchParams(qs)) };
}

/** Go to a screen (and its parameters) through the address bar, so back and reload work. */
export function navigate(screen, params = {}) {
  const qs = new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""),
  ).toString();
  location.hash = `#/${screen}${qs ? `?${qs}` : ""}`;
}

function SignIn({ t, onSignedIn, error }) {
  const [value, setValue] = useState("");
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState(error);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    key.set(value.trim());
    try {
      onSignedIn(await get("/me"));
    } catch (err) {
      key.clear();
      setFailed(err);
    } finally {
      setBusy(false);
    }
  }
  return html`<main class="container">
    <article style="max-width: 32rem; margin: 3rem auto">
      <h1>${t("app")}</h1>
      <form onSubmit=${submit}>
        <label for="api-key">${t("apiKey")}</label>
        <input id="api-key" name="key" type="password" autocomplete="off" required
          aria-describedby="key-help" value=${value} onInput=${(e) => setValue(e.target.value)} />
        <small id="key-help">${t("keyHelp")}</small>
        <button type="submit" aria-busy=${busy}>${t("signIn")}</button>
      </form>
      <${ErrorNote} error=${failed} />
    </article>
  </main>`;
}

function Header({ t, me, lang, setLang, screens, current, signOut }) {
  return html`<header class="bar">
    <strong>${t("app")}</strong>
    <nav aria-label=${t("main")}>
      <ul>
        ${screens.map(
          (s) => html`<li>
            <a href=${`#/${s.id}`} aria-current=${s.id === current ? "page" : undefined}
              >${t(`nav_${s.id}`)}</a>
          </li>`,
        )}
      </ul>
    </nav>
    <div class="who">
      <span>${me.name || me.account_id} · ${t(`role_${me.role}`)}${me.team ? ` · ${me.team}` : ""}</span>
      <label for="lang" class="muted" style="margin:0">${t("language")}</label>
      <select id="lang" value=${lang} onChange=${(e) => setLang(e.target.value)}>
        ${Object.entries(LANGS).map(([code, name]) => html`<option value=${code}>${name}</option>`)}
      </select>
      <button class="secondary outline" onClick=${signOut}>${t("signOut")}</button>
    </div>
  </header>`;
}

function App() {
  const [lang, setLangState] = useState(initialLang());
  const [me, setMe] = useState(null);
  const [checking, setChecking] = useState(Boolean(key.get()));
  const [signInError, setSignInError] = useState(null);
  const [route, setRoute] = useState(parseHash());
  const t = (name, vars) => translate(lang, null, name, vars);

  useEffect(() => {
    const onHash = () => setRoute(parseHash());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("app");
  }, [lang]);
  useEffect(() => {
    if (!key.get()) return;
    get("/me")
      .then(setMe, (err) => {
        if (err instanceof ApiError && err.status === 401) key.clear();
        setSignInError(err);
      })
      .finally(() => setChecking(false));
  }, []);

  function setLang(code) {
    localStorage.setItem("spiral.lang", code);
    setLangState(code);
  }
  function signOut() {
    key.clear();
    setMe(null);
    location.hash = "";
  }

  let body;
  if (checking) body = html`<main class="container"><${Loading} /></main>`;
  else if (!me) body = html`<${SignIn} t=${t} onSignedIn=${setMe} error=${signInError} />`;
  else {
    const screens = allowed(me);
    const id = route.screen || HOME[me.role] || screens[0].id;
    const screen = SCREENS.find((s) => s.id === id);
    const ok = screen && screens.includes(screen);
    const Screen = ok ? screen.component : null;
    body = html`<${Header} t=${t} me=${me} lang=${lang} setLang=${setLang} screens=${screens}
        current=${id} signOut=${signOut} />
      <main class="container" id="content">
        ${ok
          ? html`<${Screen} me=${me} params=${route.params} navigate=${navigate} />`
          : html`<h1>${t(`nav_${id}`)}</h1><p role="alert">${t("notAllowed")}</p>`}
      </main>`;
  }
  return html`<${Lang.Provider} value=${lang}>${body}<//>`;
}

render(html`<${App} />`, document.getElementById("app"));
