// Builds the console into dist/: one bundled script (esbuild), the page and the styles.
// Everything the page loads comes from dist/ (no CDN, nothing fetched from outside).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

const out = "dist";
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/main.js"],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  outfile: `${out}/app.js`,
  legalComments: "linked",
  logLevel: "warning",
});
copyFileSync("node_modules/@picocss/pico/css/pico.min.css", `${out}/pico.min.css`);
copyFileSync("src/console.css", `${out}/console.css`);
copyFileSync("src/index.html", `${out}/index.html`);
console.log("console built in api/console/dist");
