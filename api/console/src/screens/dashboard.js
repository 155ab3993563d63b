// Placeholder until the screen is built.
import { html } from "../ui.js";

export default function Screen() {
  return html`<section><h1>dashboard</h1></section>`;
}
