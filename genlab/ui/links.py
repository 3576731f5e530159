"""Links a teacher can share: the view's state in the URL's query, restored when the link is opened.

    http://host:7860/?model=mnist-gan-32&seed=7&tab=Latent%20sliders&z=0.5,-1.2,...

`model` (a name in the model picker), `seed` (a whole number), `tab` (a tab's title), and on the
sliders tab `z`, the latent as comma-separated numbers (read by genlab/ui/static/sliders_panel.js,
once that model's sliders arrive; a z of the wrong length is refused there in one sentence). The "Copy
link" button writes the current view into such a URL and copies it; opening it sets the picker,
the seed and the tab. Both happen in the browser alone, so a page open queues no event (issue 26);
a link's model then loads through the picker's own change event. A bad or unknown value opens the
default view with one sentence saying what was ignored, never an error page.
"""

from __future__ import annotations

import json

MAX_SEED = 2**31 - 1  # genlab.ui.shell.MAX_SEED (not imported: this module is text for the browser)

# The tab bar of the app's top-level gr.Tabs(elem_id="genlab-tabs"): its buttons have role="tab".
_TAB_BUTTONS = "document.querySelectorAll('#genlab-tabs > div > [role=\"tablist\"] [role=\"tab\"], " \
               "#genlab-tabs [role=\"tablist\"]:first-of-type [role=\"tab\"]')"


def copy_js() -> str:
    """JS for the Copy link button: (model, seed) -> the note shown under the picker."""
    return """(model, seed) => {
  const tabs = %s;
  const selected = Array.from(tabs).find((t) => t.getAttribute('aria-selected') === 'true');
  const url = new URL(window.location.href.split('?')[0]);
  if (model) url.searchParams.set('model', model);
  if (seed !== null && seed !== undefined && seed !== '') url.searchParams.set('seed', String(seed));
  if (selected) url.searchParams.set('tab', selected.innerText.trim());
  const holder = Array.from(document.querySelectorAll('.genlab-sliders, .genlab-sliders *')).find((e) => e.genlabSliders);
  const z = holder && holder.genlabSliders.z;
  if (selected && selected.innerText.trim() === 'Latent sliders' && z) {
    url.searchParams.set('z', Array.from(z, (v) => v.toFixed(3)).join(','));
  }
  const link = url.toString();
  window.history.replaceState(null, '', link);
  const say = (how) => `🔗 ${how}: [${link}](${link})`;
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(link).catch(() => {});
    return say('Link copied');
  }
  return say('Copy this link');
}""" % _TAB_BUTTONS


def restore_js(model_names: list[str], tab_titles: list[str]) -> str:
    """JS run once when a page opens: (model, seed) -> (model, seed, note) from the URL's query."""
    return """(model, seed) => {
  const names = %s, titles = %s, maxSeed = %d;
  const query = new URLSearchParams(window.location.search);
  const problems = [];
  if (query.has('model')) {
    const wanted = query.get('model');
    if (names.includes(wanted)) model = wanted;
    else problems.push(`there is no model called “${wanted}” here, so ${model} is shown`);
  }
  if (query.has('seed')) {
    const text = query.get('seed').trim();
    if (/^\\d+$/.test(text) && Number(text) <= maxSeed) seed = Number(text);
    else problems.push(`the seed must be a whole number from 0 to ${maxSeed}, not “${text}”`);
  }
  if (query.has('tab')) {
    const wanted = query.get('tab');
    if (titles.includes(wanted)) {
      const pick = () => {
        const button = Array.from(%s).find((t) => t.innerText.trim() === wanted);
        if (button) button.click(); else setTimeout(pick, 100);
      };
      setTimeout(pick, 0);
    } else {
      problems.push(`there is no tab called “${wanted}”; the tabs are ${titles.join(', ')}`);
    }
  }
  const note = problems.length ? `⚠️ This link was opened without its unknown parts: ${problems.join('; ')}.` : '';
  return [model, seed, note];
}""" % (json.dumps(model_names), json.dumps(tab_titles), MAX_SEED, _TAB_BUTTONS)
