// The page over the rnnkit JSON API: pick a model, type text, see its answer.
// Every text from the user or a model goes into the page as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "rnnkit-api-key";
const PLACEHOLDERS = {
  lm: "The start of a text; the model continues it",
  classifier: "A text to classify",
  tagger: "A sentence to tag, e.g. John lives in Paris .",
  translator: "A sentence to translate",
};
// A language model over ABC music notation (format "abc" in /v1/models) starts its tune from
// the reference number field, as every tune in ABC does; its result shows as notation.
const ABC_PROMPT = "X:1";
// New tokens per sample the page asks for unless the user says otherwise: a tune is 200-600
// characters (the model stops at its end) and the command line gives it 1,000; text, 200.
// Either stays within the server's --max-tokens.
const DEFAULT_MAX_TOKENS = { tune: 1000, text: 200 };
const ABC_PLACEHOLDER = "The start of a tune in ABC notation: X:1, then M: (meter), L: (note length), K: (key)…";
let models = [];
let tokenLimit = Infinity; // the server's --max-tokens
let filledMaxTokens = null; // the max tokens the page filled in for the model, until edited
let running = null; // the AbortController of the request under way
let filledPrompt = null; // the prompt the page filled in for the model, until the user edits it
let download = null; // the object URL of the .abc file offered for download

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function headers() {
  const result = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) result.Authorization = "Bearer " + key;
  return result;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function failure(response) {
  try {
    const body = await response.json();
    if (body.error) return body.error.message;
  } catch (error) { /* not JSON: the status says it */ }
  return "the server answered " + response.status;
}

async function post(endpoint, body, signal) {
  const name = encodeURIComponent($("model").value);
  const response = await fetch(`v1/models/${name}/${endpoint}`,
    { method: "POST", headers: headers(), body: JSON.stringify(body), signal });
  if (response.status === 401) $("key-row").hidden = false;
  if (!response.ok) throw new Error(await failure(response));
  return response;
}

async function loadModels() {
  const response = await fetch("v1/models", { headers: headers() });
  if (response.status === 401) {
    $("key-row").hidden = false;
    showError("This server needs an API key: enter it above.");
    return;
  }
  if (!response.ok) { showError(await failure(response)); return; }
  const listed = await response.json();
  models = listed.models;
  tokenLimit = listed.max_tokens;
  $("max-tokens").max = String(tokenLimit);
  const select = $("model");
  select.replaceChildren(...models.map((model) =>
    element("option", "", `${model.name} (${model.task})`)));
  models.forEach((model, index) => { select.options[index].value = model.name; });
  showError("");
  chooseModel();
}

function currentModel() {
  return models.find((model) => model.name === $("model").value);
}

function kind(model) {
  if (!model) return null;
  const endpoints = model.endpoints;
  if (endpoints.includes("generate")) return "lm";
  if (endpoints.includes("predict")) return "classifier";
  if (endpoints.includes("tag")) return "tagger";
  if (endpoints.includes("translate")) return "translator";
  return null;
}

function isNotation(model) {
  return model?.format === "abc";
}

function chooseModel() {
  const model = currentModel();
  const task = kind(model);
  $("sampling").hidden = task !== "lm";
  $("input").placeholder = isNotation(model) ? ABC_PLACEHOLDER : PLACEHOLDERS[task] || "";
  const input = $("input");
  if (input.value === "" || input.value === filledPrompt) {
    filledPrompt = isNotation(model) ? ABC_PROMPT : "";
    input.value = filledPrompt;
  }
  const maxTokens = $("max-tokens");
  if (maxTokens.value === "" || maxTokens.value === filledMaxTokens) {
    const wanted = isNotation(model) ? DEFAULT_MAX_TOKENS.tune : DEFAULT_MAX_TOKENS.text;
    filledMaxTokens = String(Math.min(wanted, tokenLimit));
    maxTokens.value = filledMaxTokens;
  }
  $("model-info").textContent = model && model.parameters != null
    ? `${model.parameters.toLocaleString()} parameters` : "";
  $("result").replaceChildren();
  showError("");
}

// -- language models: the text as it streams ------------------------------------------------

function* serverEvents(buffer) {
  // yields [name, data] for each complete event in buffer.text, keeping the rest there
  let end;
  while ((end = buffer.text.indexOf("\n\n")) >= 0) {
    const block = buffer.text.slice(0, end);
    buffer.text = buffer.text.slice(end + 2);
    let name = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) name = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    yield [name, JSON.parse(data)];
  }
}

async function generate(text, signal) {
  const body = {
    prompt: text,
    temperature: Number($("temperature").value),
    top_p: Number($("top-p").value),
    max_tokens: Number($("max-tokens").value) || DEFAULT_MAX_TOKENS.text,
  };
  const model = currentModel();
  // notation keeps its line breaks and columns: a <pre> in a monospace font
  const output = element(isNotation(model) ? "pre" : "div", "generated streaming");
  output.id = "generated";
  output.append(element("span", "prompt", text), element("span", "continuation", ""));
  $("result").replaceChildren(output);
  const response = await post("generate/stream", body, signal);
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  const buffer = { text: "" };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer.text += decoder.decode(value, { stream: true });
      for (const [name, data] of serverEvents(buffer)) {
        if (name === "token" || name === "done") showGenerated(output, text, data.text);
        if (name === "error") throw new Error(data.error.message);
        if (name === "done") output.dataset.done = "true";
      }
    }
  } finally {
    output.classList.remove("streaming");
  }
  if (isNotation(model) && output.dataset.done) offerDownload(output.textContent, model.name);
  await showGates(text, signal);
}

function offerDownload(tune, modelName) {
  // the tune as a file the browser saves, made here (a Blob): nothing goes back to the server
  if (download) URL.revokeObjectURL(download);
  download = URL.createObjectURL(new Blob([tune.endsWith("\n") ? tune : tune + "\n"],
    { type: "text/vnd.abc;charset=utf-8" }));
  const link = element("a", "download", "download .abc");
  link.id = "download-abc";
  link.href = download;
  link.download = `${modelName}.abc`;
  const row = element("p", "download-row");
  row.append(link);
  $("result").append(row);
}

// The LSTM's gates over the prompt (rnnkit inspect's picture): a table per gate and the cell
// state, a row per hidden unit (the first GATE_UNITS), a column per token. Models that are not
// LSTMs answer the request with an error, and show nothing.
const GATE_UNITS = 16;
const GATE_NAMES = { i: "input gate i", f: "forget gate f", o: "output gate o", c: "cell state c" };

async function showGates(text, signal) {
  const response = await fetch(`v1/models/${encodeURIComponent($("model").value)}/gates`, {
    method: "POST", headers: headers(), body: JSON.stringify({ text }), signal,
  });
  if (!response.ok) return;
  const { tokens, gates } = await response.json();
  const section = element("section", "gates");
  section.id = "gates";
  for (const [name, title] of Object.entries(GATE_NAMES)) {
    const table = element("table", "heatmap");
    table.prepend(element("caption", "note", title));
    const head = element("tr");
    head.append(element("th"), ...tokens.map((token) => element("th", "", token === "</s>" ? "⏎" : token)));
    table.append(element("thead"));
    table.tHead.append(head);
    const rows = element("tbody");
    const units = Math.min(GATE_UNITS, gates[name][0]?.length ?? 0);
    for (let unit = 0; unit < units; unit++) {
      const row = element("tr");
      row.append(element("th", "", String(unit)));
      for (const step of gates[name]) {
        const value = step[unit];
        const cell = element("td");
        // gates lie in [0, 1]; the cell state is shown on a symmetric scale, red below zero
        const strength = name === "c" ? Math.min(1, Math.abs(value)) : value;
        const colour = name === "c" && value < 0 ? "179, 47, 47" : "47, 111, 179";
        cell.style.background = `rgba(${colour}, ${strength.toFixed(3)})`;
        cell.title = value.toFixed(3);
        row.append(cell);
      }
      rows.append(row);
    }
    table.append(rows);
    section.append(table);
  }
  $("result").append(section);
}

function showGenerated(output, prompt, text) {
  // the model's text begins with the prompt as its tokenizer wrote it back
  const [promptPart, continuation] = output.children;
  const shared = text.startsWith(prompt) ? prompt.length : 0;
  promptPart.textContent = text.slice(0, shared);
  continuation.textContent = text.slice(shared);
}

// -- classifiers: a bar per label -------------------------------------------------------------

async function predict(text, signal) {
  const result = (await (await post("predict", { texts: [text] }, signal)).json()).results[0];
  const bars = element("div", "bars");
  bars.id = "bars";
  const ranked = Object.entries(result.probabilities).sort((a, b) => b[1] - a[1]);
  for (const [label, probability] of ranked) {
    const top = label === result.label ? " top" : "";
    const track = element("div", "bar-track bar-row" + top);
    const bar = element("div", "bar");
    bar.style.width = (100 * probability).toFixed(1) + "%";
    track.append(bar);
    track.dataset.label = label;
    bars.append(element("span", "bar-label" + top, label), track,
      element("span", "prob", (100 * probability).toFixed(1) + "%"));
  }
  $("result").replaceChildren(bars);
}

// -- taggers: the entities marked in the text ---------------------------------------------------

function hue(type) {
  let hash = 0;
  for (const character of type) hash = (hash * 31 + character.codePointAt(0)) % 360;
  return hash;
}

async function tag(text, signal) {
  const result = (await (await post("tag", { texts: [text] }, signal)).json()).results[0];
  // the offsets count code points (Python's str); Array.from splits the text the same way
  const characters = Array.from(text);
  const tagged = element("div", "tagged");
  tagged.id = "tagged";
  let at = 0;
  for (const entity of result.entities) {
    if (entity.start === null || entity.start < at) continue;
    tagged.append(characters.slice(at, entity.start).join(""));
    const mark = element("mark", "entity", characters.slice(entity.start, entity.end).join(""));
    mark.dataset.type = entity.type;
    mark.style.setProperty("--hue", hue(entity.type));
    mark.append(element("span", "entity-type", entity.type));
    tagged.append(mark);
    at = entity.end;
  }
  tagged.append(characters.slice(at).join(""));
  const parts = [tagged];
  if (!result.entities.length) parts.push(element("p", "note", "No entities found."));
  $("result").replaceChildren(...parts);
}

// -- translators: the translation and its attention --------------------------------------------

async function translate(text, signal) {
  const body = { texts: [text], return_attention: true };
  const result = (await (await post("translate", body, signal)).json()).results[0];
  const translation = element("p", "translation", result.text);
  translation.id = "translation";
  const table = element("table", "heatmap");
  table.id = "attention";
  const head = element("tr");
  head.append(element("th"), ...result.source_tokens.map((token) => element("th", "", token)));
  table.append(element("thead"));
  table.tHead.append(head);
  const rows = element("tbody");
  const targets = [...result.tokens, "</s>"];
  result.attention.forEach((weights, index) => {
    const row = element("tr");
    row.append(element("th", "", targets[index] ?? ""));
    for (const weight of weights) {
      const cell = element("td", "", weight >= 0.1 ? weight.toFixed(2) : "");
      cell.style.background = `rgba(47, 111, 179, ${weight.toFixed(3)})`;
      cell.style.color = weight > 0.5 ? "white" : "#222";
      cell.title = weight.toFixed(3);
      row.append(cell);
    }
    rows.append(row);
  });
  table.append(rows);
  const caption = element("caption", "note", "attention: a row per target token, a column per source token");
  table.prepend(caption);
  $("result").replaceChildren(translation, table);
}

// -- the form -----------------------------------------------------------------------------------

const RUN = { lm: generate, classifier: predict, tagger: tag, translator: translate };

async function submit(event) {
  event.preventDefault();
  const run = RUN[kind(currentModel())];
  if (!run) return;
  if (running) running.abort();
  running = new AbortController();
  const controller = running;
  showError("");
  $("run").disabled = true;
  $("stop").hidden = false;
  try {
    await run($("input").value, controller.signal);
  } catch (error) {
    if (error.name !== "AbortError") showError(error.message);
  } finally {
    if (running === controller) {
      running = null;
      $("run").disabled = false;
      $("stop").hidden = true;
    }
  }
}

function slider(id) {
  const show = () => { $(id + "-value").textContent = $(id).value; };
  $(id).addEventListener("input", show);
  show();
}

$("form").addEventListener("submit", submit);
$("stop").addEventListener("click", () => running && running.abort());
$("model").addEventListener("change", chooseModel);
$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("form").requestSubmit();
});
$("key-save").addEventListener("click", () => {
  sessionStorage.setItem(KEY_STORE, $("api-key").value.trim());
  loadModels();
});
$("api-key").value = sessionStorage.getItem(KEY_STORE) || "";
slider("temperature");
slider("top-p");
loadModels();
