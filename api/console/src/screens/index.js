// One screen per daily job. `roles`: who sees it (the API refuses the rest anyway).
import Assist from "./assist.js";
import Curation from "./curation.js";
import GraphView from "./graph.js";
import Paths from "./paths.js";
import Dashboard from "./dashboard.js";
import Admin from "./admin.js";

const ALL = ["employee", "knowledge_manager", "trainer", "admin"];

export const SCREENS = [
  { id: "assist", roles: ALL, component: Assist },
  { id: "curation", roles: ["knowledge_manager", "admin"], component: Curation },
  { id: "graph", roles: ALL, component: GraphView },
  { id: "paths", roles: ["trainer", "admin"], component: Paths },
  { id: "dashboard", roles: ["knowledge_manager", "trainer", "admin"], component: Dashboard },
  { id: "admin", roles: ["admin"], component: Admin },
];

export const allowed = (me) => SCREENS.filter((s) => s.roles.includes(me.role));
