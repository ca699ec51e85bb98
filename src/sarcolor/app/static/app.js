// sarcolor page: choose a file, start a job (POST /api/jobs), follow it, show and offer the result.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, models: [], file: null, job: null, busy: false };
const METRICS = [
  ["psnr", "PSNR", true, 2],
  ["ssim", "SSIM", true, 3],
  ["mae", "MAE", false, 4],
  ["sam", "SAM°", false, 2],
];
const BASELINE_LABELS = { mean_colour: "mean colour", terrain_colour: "terrain colour", level_lut: "level LUT" };

// ---- talking to the server -------------------------------------------------------------------

async function getJSON(url) {
  let response;
  try {
    response = await fetch(url, { cache: "no-store" });
  } catch (_) {
    throw new Error("The server could not be reached.");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(sentence(body, response.status));
  return body;
}

function sentence(body, status) {
  const text = body && typeof body.error === "string" ? body.error : `The server answered ${status}.`;
  const line = text.split("\n")[0].trim();
  return line.charAt(0).toUpperCase() + line.slice(1) + (/[.!?]$/.test(line) ? "" : ".");
}

function upload(form, onProgress) {
  // XMLHttpRequest rather than fetch: it reports upload progress (a scene can be large).
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => (xhr.status === 202 ? resolve(xhr.response) : reject(new Error(sentence(xhr.response, xhr.status))));
    xhr.onerror = () => reject(new Error("The upload failed: the server closed the connection (is the file too large?)."));
    xhr.send(form);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- setup -----------------------------------------------------------------------------------

async function start() {
  try {
    [state.info, state.models] = await Promise.all([getJSON("/api/info"), getJSON("/api/models")]);
  } catch (err) {
    $("server-status").textContent = err.message;
    $("server-status").classList.add("bad");
    return;
  }
  const n = state.models.length;
  $("server-status").textContent = `${n} model${n === 1 ? "" : "s"} · uploads up to ${state.info.max_upload_mb} MB`;
  for (const m of state.models) {
    const terrains = m.terrains.length ? m.terrains.join(", ") : "all terrains";
    $("model").append(new Option(`${m.name} (${terrains})`, m.id));
  }
  for (const t of state.info.terrains) $("terrain").append(new Option(t, t));
  $("model").addEventListener("change", showCard);
  $("terrain").addEventListener("change", showCard);
  bindFile();
  bindSlider();
  $("form").addEventListener("submit", (e) => {
    e.preventDefault();
    colorize();
  });
  window.addEventListener("pagehide", () => dropJob(state.job));
  showCard();
}

function bindFile() {
  const drop = $("drop");
  $("file").addEventListener("change", () => chooseFile($("file").files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) chooseFile(e.dataTransfer.files[0]);
  });
}

function chooseFile(file) {
  hideError();
  state.file = file || null;
  $("drop").classList.toggle("chosen", !!file);
  $("drop-text").innerHTML = "";
  if (!file) {
    $("drop-text").innerHTML = "<strong>Drop a SAR image here</strong> or click to choose one";
  } else {
    const name = document.createElement("strong");
    name.textContent = file.name;
    $("drop-text").append(name, ` · ${size(file.size)}`);
    if (state.info && file.size > state.info.max_upload_mb * 1024 * 1024) {
      showError(`${file.name} is ${size(file.size)}, larger than the server's limit of ${state.info.max_upload_mb} MB.`);
    }
  }
  $("colorize").disabled = !file || state.busy;
}

function bindSlider() {
  const slider = $("slider");
  const move = () => $("compare").style.setProperty("--pos", `${slider.value}%`);
  slider.addEventListener("input", move);
  move();
}

// ---- colorizing ------------------------------------------------------------------------------

async function colorize() {
  if (!state.file || state.busy) return;
  hideError();
  setBusy(true);
  dropJob(state.job);
  state.job = null;
  const form = new FormData();
  form.append("model", $("model").value);
  form.append("terrain", $("terrain").value);
  form.append("file", state.file, state.file.name);
  try {
    progress(0, "Uploading…");
    let job = await upload(form, (f) => progress(f, `Uploading… ${Math.round(f * 100)} %`));
    state.job = job.id;
    while (!["done", "failed", "cancelled"].includes(job.state)) {
      progress(job.progress, job.state === "queued" ? "Waiting for a worker…" : `${cap(job.stage)}… ${Math.round(job.progress * 100)} %`, job.state === "queued");
      await sleep(400);
      job = await getJSON(`/api/jobs/${job.id}`);
    }
    if (job.state !== "done") throw new Error(sentence({ error: job.error }, job.error_status));
    progress(1, "Loading the result…");
    await show(job);
    hideProgress();
  } catch (err) {
    hideProgress();
    showError(err.message);
  } finally {
    setBusy(false);
  }
}

async function show(job) {
  const load = (img, url) =>
    new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error("The result image could not be loaded."));
      img.src = url;
    });
  await Promise.all([load($("input-image"), job.preview_url), load($("result-image"), job.quicklook_url)]);
  $("compare").style.setProperty("--aspect", String(job.width / job.height));
  $("placeholder").hidden = true;
  $("compare").hidden = false;
  $("result-bar").hidden = false;
  const conf = job.terrain_confidence == null ? "" : ` (inferred, ${Math.round(job.terrain_confidence * 100)} %)`;
  const model = state.models.find((m) => m.id === job.model);
  $("result-info").textContent = `${job.width} × ${job.height} px · model ${model ? model.name : job.model} · terrain ${job.terrain}${conf}`;
  const links = $("downloads");
  links.innerHTML = "";
  const stem = job.filename.replace(/\.[^.]*$/, "") || "image";
  if (job.kind === "scene") {
    links.append(link(job.result_url, `${stem}_colorized.tif`, "Download GeoTIFF"));
    links.append(link(job.quicklook_url, `${stem}_quicklook.png`, "Download PNG (quicklook)"));
  } else {
    links.append(link(job.result_url, `${stem}_colorized.png`, "Download PNG"));
  }
  if (model) renderCard(model, `used for this image${job.terrain === "any" ? "" : `, terrain ${job.terrain}`}`);
}

function link(href, filename, text) {
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  a.textContent = text;
  return a;
}

function dropJob(id) {
  if (id) fetch(`/api/jobs/${id}`, { method: "DELETE", keepalive: true }).catch(() => {});
}

// ---- the model card --------------------------------------------------------------------------

function showCard() {
  const id = $("model").value;
  const terrain = $("terrain").value;
  let model = state.models.find((m) => m.id === id);
  let why = "chosen";
  if (!model && state.models.length === 1) [model, why] = [state.models[0], "the only model"];
  if (!model && terrain !== "auto") {
    const fitting = state.models.filter((m) => !m.terrains.length || m.terrains.includes(terrain));
    fitting.sort((a, b) => (a.terrains.length || 99) - (b.terrains.length || 99));
    [model, why] = [fitting[0], `auto: the model for ${terrain}`];
  }
  if (!model) {
    $("model-card").hidden = false;
    $("card-title").textContent = "Automatic choice";
    const general = state.models.find((m) => !m.terrains.length);
    $("card-sub").textContent = state.info && state.info.terrain_classifier
      ? "The terrain of each image is inferred, and that terrain's model is used."
      : general
        ? `With a terrain chosen, that terrain's model is used; without one, ${general.name} (trained on every terrain).`
        : "This set has one model per terrain and no terrain classifier: choose a terrain.";
    $("card-facts").innerHTML = "";
    $("card-scores").innerHTML = "";
    return;
  }
  renderCard(model, why);
}

function renderCard(m, why) {
  $("model-card").hidden = false;
  $("card-title").textContent = m.name;
  $("card-sub").textContent = `${m.id} · ${why}`;
  const facts = [
    ["Terrains", m.terrains.length ? m.terrains.join(", ") : "all"],
    ["Input → target", `${m.input} → ${m.target}`],
    ["Bands", m.bands.join(" + ")],
    ["Steps", m.step.toLocaleString("en")],
    ["SAR scale", m.sar_scale],
    ["Generator", m.imported_from ? `${m.arch}, imported from ${m.imported_from}` : m.arch],
  ];
  if (m.despeckle) facts.push(["Despeckle", m.despeckle]);
  const dl = $("card-facts");
  dl.innerHTML = "";
  for (const [k, v] of facts) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    dl.append(dt, dd);
  }
  renderScores(m.metrics);
}

function renderScores(metrics) {
  const box = $("card-scores");
  box.innerHTML = "";
  const all = metrics && metrics.summary && metrics.summary.all;
  if (!all) {
    const p = document.createElement("p");
    p.className = "none";
    p.textContent = "Not evaluated: run sarcolor evaluate on this run to see its scores here.";
    box.append(p);
    return;
  }
  const names = Object.keys(all.baselines || {});
  const table = document.createElement("table");
  table.className = "scores";
  const head = table.createTHead().insertRow();
  for (const h of ["", "model", ...names.map((b) => BASELINE_LABELS[b] || b)]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  const body = table.createTBody();
  for (const [key, label, higher, digits] of METRICS) {
    if (!(key in all.model)) continue;
    const values = [all.model[key], ...names.map((b) => all.baselines[b][key])];
    const best = higher ? Math.max(...values) : Math.min(...values);
    const row = body.insertRow();
    row.insertCell().textContent = `${label} ${higher ? "↑" : "↓"}`;
    for (const v of values) {
      const cell = row.insertCell();
      cell.textContent = Number(v).toFixed(digits);
      if (v === best) cell.className = "best";
    }
  }
  const caption = table.createCaption();
  caption.textContent = `${metrics.split} split: ${plural(all.n, "image")}, ${plural(all.scenes, "scene")}; the best of each row in colour`;
  box.append(table);
  const beaten = METRICS.filter(([key, , higher]) =>
    key in all.model && names.some((b) => (higher ? all.baselines[b][key] > all.model[key] : all.baselines[b][key] < all.model[key])),
  ).map(([, label]) => label.replace("°", ""));
  if (beaten.length) {
    const p = document.createElement("p");
    p.className = "flag";
    p.textContent = `A baseline scores better than this model on ${beaten.join(", ")}.`;
    box.append(p);
  }
}

// ---- little helpers --------------------------------------------------------------------------

function setBusy(busy) {
  state.busy = busy;
  $("colorize").disabled = busy || !state.file;
  $("colorize").textContent = busy ? "Colorizing…" : "Colorize";
}

function progress(fraction, text, indefinite = false) {
  $("progress").hidden = false;
  $("progress").classList.toggle("busy", indefinite);
  $("progress-bar").style.width = `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
  $("progress-text").textContent = text;
}

function hideProgress() {
  $("progress").hidden = true;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
}

function hideError() {
  $("error").hidden = true;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);

function size(bytes) {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

start();
