// English and Chinese. Each screen keeps its own strings ({en: {...}, zh: {...}}) beside its
// code; these are the shared ones. `useT(local)` gives a translator for the current language.
import { createContext } from "preact";
import { useContext } from "preact/hooks";

export const LANGS = { en: "English", zh: "中文" };

export const COMMON = {
  en: {
    app: "Spiral",
    signIn: "Sign in",
    signOut: "Sign out",
    apiKey: "API key",
    keyHelp: "Your personal key (spk_…), given by your admin. It stays in this tab only.",
    language: "Language",
    loading: "Loading…",
    error: "Something went wrong",
    retry: "Retry",
    save: "Save",
    cancel: "Cancel",
    none: "Nothing here yet.",
    refresh: "Refresh",
    role_employee: "Employee",
    role_knowledge_manager: "Knowledge manager",
    role_trainer: "Trainer",
    role_admin: "Admin",
    nav_assist: "Assist",
    nav_curation: "Curation",
    nav_graph: "Graph",
    nav_paths: "Learning paths",
    nav_dashboard: "SECI dashboard",
    nav_admin: "Admin",
    notAllowed: "Your role cannot open this screen.",
    main: "Screens",
  },
  zh: {
    app: "Spiral",
    signIn: "登录",
    signOut: "退出",
    apiKey: "API 密钥",
    keyHelp: "管理员发给你的个人密钥（spk_…），只保存在当前标签页。",
    language: "语言",
    loading: "加载中…",
    error: "出错了",
    retry: "重试",
    save: "保存",
    cancel: "取消",
    none: "暂无内容。",
    refresh: "刷新",
    role_employee: "员工",
    role_knowledge_manager: "知识管理员",
    role_trainer: "培训师",
    role_admin: "管理员",
    nav_assist: "话术助手",
    nav_curation: "知识审核",
    nav_graph: "知识图谱",
    nav_paths: "学习路径",
    nav_dashboard: "SECI 看板",
    nav_admin: "系统管理",
    notAllowed: "你的角色不能打开此页面。",
    main: "页面",
  },
};

export const Lang = createContext("en");

export function translate(lang, local, name, vars) {
  const text =
    local?.[lang]?.[name] ?? COMMON[lang]?.[name] ?? local?.en?.[name] ?? COMMON.en[name] ?? name;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/** t("key", {n: 3}) in the current language, the screen's strings first. */
export function useT(local) {
  const lang = useContext(Lang);
  return (name, vars) => translate(lang, local, name, vars);
}

export function initialLang() {
  const saved = localStorage.getItem("spiral.lang");
  if (saved && saved in LANGS) return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}
