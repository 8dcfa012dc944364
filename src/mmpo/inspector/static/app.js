/* mmpo inspect: the page. Vanilla JavaScript, no build step, nothing from the network.
 *
 * Data files are scripts that call MMPO.site / MMPO.index / MMPO.chunk (a page opened from disk
 * may not fetch files, but it may load scripts). The manifest (data/site.js) comes with the page;
 * a list's index (small integer columns and a table of search texts) is loaded when its view is
 * opened; its chunks (the records, chunk_size each) when a page of the list shows them.
 * All record text goes into the page as text (textContent), never as HTML.
 */
"use strict";

const MMPO = (() => {
  const PAGE = 20;
  const S = { site: null, index: {}, chunks: {}, loading: {}, deep: {}, renderId: 0, drawId: 0 };

  // ---- data files --------------------------------------------------------------------------
  function script(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.charset = "utf-8";
      s.onload = () => resolve();
      s.onerror = () => reject(new Error("cannot load " + src));
      document.head.appendChild(s);
    });
  }
  async function loadIndex(table) {
    if (!S.index[table.key]) {
      if (!S.loading[table.key]) S.loading[table.key] = script(table.dir + "/index.js");
      await S.loading[table.key];
    }
    return S.index[table.key];
  }
  function loadChunk(table, c) {
    const k = table.key + "#" + c;
    if (S.chunks[k]) return Promise.resolve();
    if (!S.loading[k]) S.loading[k] = script(`${table.dir}/${String(c).padStart(5, "0")}.js`);
    return S.loading[k];
  }
  async function loadRows(table, ids) {
    const size = table.chunk_size;
    await Promise.all([...new Set(ids.map((i) => Math.floor(i / size)))].map((c) => loadChunk(table, c)));
    return ids.map((i) => S.chunks[table.key + "#" + Math.floor(i / size)][i % size]);
  }

  // ---- small DOM helpers -------------------------------------------------------------------
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "cls") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }
  const fmt = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%");
  const fmtScale = (x, scale) => (x === null || x === undefined ? "–" : scale === "fraction" ? fmt(x) : Number(x).toFixed(2));
  const modeLabel = (m) => (m === "cot" ? "CoT" : m);
  const view = () => document.getElementById("view");
  function verdict(v) {
    return el("span", { cls: "verdict v-" + String(v).replace(/[^a-z_]/gi, "_"), text: v ?? "unlabelled" });
  }
  function image(src, caption) {
    const fig = el("figure", {},
      src ? el("img", { src, alt: caption || "the question's image", loading: "lazy" }) : el("div", { cls: "noimg", text: "no image" }));
    if (caption) fig.append(el("figcaption", { text: caption }));
    return fig;
  }
  function passRate(c, n) {
    const bar = el("span", { cls: "passbar", title: `${c} of ${n} correct` }, el("i", { style: `width:${(100 * c) / n}%` }));
    return el("span", { cls: "pass" }, "pass rate ", bar, ` ${c}/${n} (${Math.round((100 * c) / n)}%)`);
  }

  // ---- routing -----------------------------------------------------------------------------
  function route() {
    const h = location.hash.slice(1);
    const q = h.indexOf("?");
    return { name: (q < 0 ? h : h.slice(0, q)) || "overview", params: new URLSearchParams(q < 0 ? "" : h.slice(q + 1)) };
  }
  function setParams(name, params) {
    for (const [k, v] of [...params]) if (v === "" || v === "0" && k === "page") params.delete(k);
    const qs = params.toString();
    history.replaceState(null, "", "#" + name + (qs ? "?" + qs : ""));
  }
  function views() {
    const s = S.site;
    const out = [["overview", "Overview"]];
    if (s.pairs) out.push(["pairs", `Pairs (${s.pairs.n})`]);
    if (s.samples) out.push(["samples", `Samples (${s.samples.n})`]);
    if (s.evals.length) out.push(["predictions", `Predictions (${s.evals.length})`]);
    if (s.evals.length >= 2) out.push(["gained", "Gained / lost"]);
    if (s.reports.length) out.push(["report", "Report"]);
    return out;
  }
  async function render() {
    const { name, params } = route();
    const names = views().map((v) => v[0]);
    const current = names.includes(name) ? name : "overview";
    for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.view === current);
    const id = ++S.renderId;
    const root = view();
    root.replaceChildren(el("p", { cls: "status", text: "Loading…" }));
    try {
      await VIEWS[current](root, params, id);
    } catch (err) {
      root.replaceChildren(el("p", { cls: "error", text: String(err.message || err) }));
    }
  }

  // ---- lists: filter over the index, then load and draw one page --------------------------
  function terms(q) {
    return q.toLowerCase().split(/\s+/).filter(Boolean);
  }
  async function deepMatches(table, words, rowText, status) {
    const key = table.key + "\u0000" + words.join(" ");
    if (S.deep[key]) return S.deep[key];
    const hits = new Set();
    for (let c = 0; c < table.chunks; c++) {
      status(`searching the texts: chunk ${c + 1} of ${table.chunks}…`);
      await loadChunk(table, c);
      S.chunks[table.key + "#" + c].forEach((row, j) => {
        const t = rowText(row).toLowerCase();
        if (words.every((w) => t.includes(w))) hits.add(c * table.chunk_size + j);
      });
    }
    S.deep[key] = hits;
    return hits;
  }
  function select(id, label, values, counts, current) {
    const s = el("select", { id },
      el("option", { value: "", text: "all" }),
      values.map((v) => el("option", { value: v, text: counts ? `${v} (${counts[v] || 0})` : v })));
    s.value = values.includes(current) ? current : "";
    return el("label", {}, label, s);
  }
  function counts(ix, col) {
    const out = {};
    const vocab = ix.vocab[col];
    for (const code of ix[col]) out[vocab[code]] = (out[vocab[code]] || 0) + 1;
    return out;
  }

  /* A filterable, searchable, paged list.
   * spec: {name, table, noun, filters: [[column, label]], extra: [{id, label, test(ix, i)}],
   *        rowText(row) for the search in texts, card(row, i)} */
  async function listView(root, params, id, spec) {
    const ix = await loadIndex(spec.table);
    if (id !== S.renderId) return;
    const state = { q: params.get("q") || "", deep: params.get("deep") === "1", page: +(params.get("page") || 0) };
    for (const [col] of spec.filters) state[col] = ix.order[col].includes(params.get(col)) ? params.get(col) : "";
    for (const x of spec.extra || []) state[x.id] = params.get(x.id) === "1";

    const search = el("input", { type: "search", id: "search", value: state.q, placeholder: "search pid, question, answer" });
    const controls = el("form", { cls: "controls", onsubmit: (e) => e.preventDefault() },
      spec.pre || [],
      spec.filters.map(([col, label]) => select("f-" + col, label, ix.order[col], counts(ix, col), state[col])),
      (spec.extra || []).map((x) => el("label", { cls: "check" }, el("input", { type: "checkbox", id: "x-" + x.id, checked: state[x.id] }), x.label)),
      el("label", {}, "search", search),
      spec.rowText ? el("label", { cls: "check", title: "also search the responses' texts (reads every chunk)" },
        el("input", { type: "checkbox", id: "deep", checked: state.deep }), "in texts too") : null);
    const count = el("span", { id: "count" });
    const prev = el("button", { type: "button", id: "prev", text: "‹ prev" });
    const next = el("button", { type: "button", id: "next", text: "next ›" });
    const pageInfo = el("span", { id: "page" });
    const list = el("div", { id: "list" });
    const prev2 = el("button", { type: "button", text: "‹ prev" });
    const next2 = el("button", { type: "button", text: "next ›" });
    root.replaceChildren(...(spec.head || []), controls, el("div", { cls: "bar" }, count, prev, pageInfo, next), list, el("div", { cls: "bar" }, prev2, next2));

    let ids = [];
    const params2 = () => {
      const p = new URLSearchParams();
      if (spec.keep) for (const [k, v] of Object.entries(spec.keep)) p.set(k, v);
      for (const [col] of spec.filters) p.set(col, state[col]);
      for (const x of spec.extra || []) p.set(x.id, state[x.id] ? "1" : "");
      p.set("q", state.q);
      p.set("deep", state.deep ? "1" : "");
      p.set("page", String(state.page));
      return p;
    };
    async function refilter() {
      const words = terms(state.q);
      const conds = spec.filters.filter(([col]) => state[col] !== "").map(([col]) => [ix[col], ix.vocab[col].indexOf(state[col])]);
      const extras = (spec.extra || []).filter((x) => state[x.id]);
      let textOk = null;
      if (words.length) textOk = ix.texts.map((t) => words.every((w) => t.includes(w)));
      let deep = null;
      if (words.length && state.deep && spec.rowText) deep = await deepMatches(spec.table, words, spec.rowText, (m) => (count.textContent = m));
      const out = [];
      outer: for (let i = 0; i < ix.n; i++) {
        for (const [col, code] of conds) if (col[i] !== code) continue outer;
        for (const x of extras) if (!x.test(ix, i)) continue outer;
        if (textOk && !textOk[ix.text[i]] && !(deep && deep.has(i))) continue;
        out.push(i);
      }
      ids = out;
    }
    async function draw() {
      const pages = Math.max(1, Math.ceil(ids.length / PAGE));
      state.page = Math.min(Math.max(0, state.page), pages - 1);
      setParams(spec.name, params2());
      const from = state.page * PAGE;
      const shown = ids.slice(from, from + PAGE);
      count.textContent = ids.length === ix.n ? `${ix.n} ${spec.noun}` : `${ids.length} of ${ix.n} ${spec.noun}`;
      pageInfo.textContent = `page ${state.page + 1} of ${pages}`;
      for (const b of [prev, prev2]) b.disabled = state.page === 0;
      for (const b of [next, next2]) b.disabled = state.page >= pages - 1;
      const token = ++S.drawId;
      list.replaceChildren(el("p", { cls: "status", text: shown.length ? "Loading…" : `no ${spec.noun} match` }));
      if (!shown.length) return;
      const rows = await loadRows(spec.table, shown);
      if (token !== S.drawId || id !== S.renderId) return;
      list.replaceChildren(...rows.map((row, k) => spec.card(row, shown[k])));
    }
    async function update() {
      state.page = 0;
      await refilter();
      await draw();
    }
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { state.q = search.value; update(); }, 150);
    });
    for (const [col] of spec.filters) controls.querySelector("#f-" + col).addEventListener("change", (e) => { state[col] = e.target.value; update(); });
    for (const x of spec.extra || []) controls.querySelector("#x-" + x.id).addEventListener("change", (e) => { state[x.id] = e.target.checked; update(); });
    const deepBox = controls.querySelector("#deep");
    if (deepBox) deepBox.addEventListener("change", (e) => { state.deep = e.target.checked; update(); });
    for (const b of [prev, prev2]) b.addEventListener("click", () => { state.page--; draw(); window.scrollTo(0, 0); });
    for (const b of [next, next2]) b.addEventListener("click", () => { state.page++; draw(); window.scrollTo(0, 0); });
    await refilter();
    await draw();
  }

  // ---- cards -------------------------------------------------------------------------------
  function header(row, ...items) {
    return el("header", {}, el("span", { cls: "pid", text: row.pid ?? "(pid unknown)" }), items, row.source ? el("span", { cls: "src", text: row.source }) : null);
  }
  function side(title, cls, s) {
    return el("section", { cls: "side " + cls },
      el("h4", {}, title, verdict(s.verdict),
        s.extracted !== undefined ? el("span", { cls: "extracted" }, "answer ", el("b", { text: s.extracted ?? "(none)" })) : null,
        s.truncated ? el("span", { cls: "flag", text: "truncated" }) : null),
      el("pre", { text: s.text }));
  }
  function question(row) {
    return el("div", { cls: "prompt" }, image(row.image),
      el("div", { cls: "question" }, el("pre", { text: row.question }),
        row.prompt ? el("details", {}, el("summary", { text: "the prompt as the model saw it" }), el("pre", { text: row.prompt })) : null));
  }
  function pairCard(row, i) {
    return el("article", { cls: "card pair", "data-row": i, "data-pid": row.pid ?? "" },
      header(row, el("span", { cls: "tag", text: row.subset }), row.qtype ? el("span", { cls: "tag", text: row.qtype }) : null,
        row.pass ? passRate(row.pass[0], row.pass[1]) : null),
      question(row),
      el("div", { cls: "gold" }, "gold answer ", el("b", { text: row.answer ?? "(none)" })),
      el("div", { cls: "sides" }, side("chosen", "chosen", row.chosen), side("rejected", "rejected", row.rejected)));
  }
  function sampleCard(row, i) {
    return el("article", { cls: "card sample", "data-row": i, "data-pid": row.pid },
      header(row, el("span", { cls: "tag", text: row.qtype }), row.answer !== null ? passRate(row.correct, row.n) : el("span", { cls: "tag", text: "no gold answer" }),
        row.truncated ? el("span", { cls: "flag", text: `${row.truncated} truncated` }) : null),
      question(row),
      el("div", { cls: "gold" }, "gold answer ", el("b", { text: row.answer ?? "(none)" })),
      el("div", { cls: "responses" }, row.responses.map((r, k) => el("div", { cls: "resp" },
        el("h4", {}, `#${k + 1}`, verdict(r.verdict), el("span", { cls: "extracted" }, "answer ", el("b", { text: r.extracted ?? "(none)" })),
          r.truncated ? el("span", { cls: "flag", text: "truncated" }) : null),
        el("pre", { text: r.text }),
        r.ntp_prefix !== undefined ? el("p", { cls: "extracted", text: "without the image, continued: " + r.ntp_prefix + r.ntp_continuation }) : null))));
  }
  function predCard(modes) {
    return (row, i) => el("article", { cls: "card prediction", "data-row": i, "data-pid": row.pid },
      header(row, el("span", { cls: "tag", text: row.qtype })),
      el("div", { cls: "prompt" }, image(row.image, row.image_from ? `shuffled: the image of ${row.image_from}` : null),
        el("div", { cls: "question" }, el("pre", { text: row.question ?? "(question not found: pass --data)" }))),
      el("div", { cls: "gold" }, "gold answer ", el("b", { text: row.answer ?? "(unknown)" }),
        row.choices ? `  ·  choices: ${row.choices.join(" | ")}` : null),
      el("div", { cls: "sides" }, modes.map((m) => {
        const p = row.modes[m];
        if (!p) return el("section", { cls: "side" }, el("h4", { text: m }), el("p", { cls: "status", text: "no prediction" }));
        return el("section", { cls: "side mode-" + m },
          el("h4", {}, m === "cot" ? "CoT" : m, verdict(p.verdict), el("span", { cls: "extracted" }, "answer ", el("b", { text: p.extracted ?? "(none)" })),
            p.num_tokens !== null && p.num_tokens !== undefined ? el("span", { cls: "extracted", text: `${p.num_tokens} tokens` }) : null,
            p.truncated ? el("span", { cls: "flag", text: "truncated" }) : null,
            p.score !== undefined ? el("span", { cls: "score", text: p.score === null ? "score –" : `score ${+Number(p.score).toFixed(3)}` }) : null,
            p.judge_unparsed ? el("span", { cls: "flag", text: "judge reply unparsed" }) : null),
          el("pre", { text: p.response }),
          p.fields ? benchFields(p.fields) : null);
      })));
  }
  // A benchmark's own fields of one prediction (POPE's gold and pred, CRPE's rotation, a judge's reply).
  function benchFields(fields) {
    return el("dl", { cls: "fields" }, Object.entries(fields).flatMap(([k, v]) => [
      el("dt", { text: k }),
      el("dd", {}, typeof v === "string" && v.length > 80 ? el("pre", { text: v }) : el("span", { text: typeof v === "string" ? v : JSON.stringify(v) }))]));
  }
  // The benchmark's numbers over the eval: its primary metric per mode, its other metrics, each breakdown's groups.
  function benchPanel(e) {
    const b = e.benchmark;
    const modes = e.modes.filter((m) => b.modes[m]);
    const unit = b.scale === "fraction" ? "%" : b.scale;
    const kids = [el("h3", { id: "bench-title", text: `${b.title} (${b.name}${b.kind ? ", " + b.kind : ""})` }),
      el("p", { id: "bench-primary" }, `${b.primary} (${unit}): `,
        modes.flatMap((m, i) => [i ? " · " : "", `${modeLabel(m)} `, el("b", { text: fmtScale(b.modes[m].primary, b.scale) }), ` (n=${b.modes[m].n})`]))];
    const metrics = [...new Set(modes.flatMap((m) => Object.keys(b.modes[m].metrics || {})))].filter((k) => k !== b.primary);
    if (metrics.length) {
      kids.push(el("table", { cls: "bench-metrics" },
        el("thead", {}, el("tr", {}, el("th", { text: "metric" }), modes.map((m) => el("th", { cls: "num", text: modeLabel(m) })))),
        el("tbody", {}, metrics.map((k) => el("tr", {}, el("td", { text: k }), modes.map((m) => {
          const v = (b.modes[m].metrics || {})[k];
          return el("td", { cls: "num", text: typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : "–" });
        }))))));
    }
    for (const key of [...new Set(modes.flatMap((m) => Object.keys(b.modes[m].by || {})))]) {
      const groups = [...new Set(modes.flatMap((m) => Object.keys((b.modes[m].by || {})[key] || {})))].sort();
      const value = (g) => (g ? (typeof g[b.primary] === "number" ? g[b.primary] :
        Object.entries(g).filter(([k, v]) => k !== "n" && typeof v === "number").map(([, v]) => v)[0]) : undefined);
      kids.push(el("table", { cls: "bench-by", "data-by": key },
        el("thead", {}, el("tr", {}, el("th", { text: key }), el("th", { cls: "num", text: "n" }), modes.map((m) => el("th", { cls: "num", text: `${modeLabel(m)} ${b.primary}` })))),
        el("tbody", {}, groups.map((g) => el("tr", { "data-group": g }, el("td", { text: g }),
          el("td", { cls: "num", text: String(modes.map((m) => ((b.modes[m].by[key] || {})[g] || {}).n).find((n) => n !== undefined) ?? "–") }),
          modes.map((m) => el("td", { cls: "num", text: fmtScale(value((b.modes[m].by[key] || {})[g]), b.scale) })))))));
    }
    return el("div", { cls: "panel bench", id: "bench" }, kids);
  }

  // ---- views -------------------------------------------------------------------------------
  const VIEWS = {
    overview(root) {
      const s = S.site;
      const kids = [el("h2", { text: "What was read" })];
      kids.push(el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "kind" }), el("th", { text: "path" }))),
        el("tbody", {}, s.inputs.map((x) => el("tr", {}, el("td", { text: x.kind }), el("td", { text: x.path }))))));
      const counts = el("ul", { cls: "notes" });
      if (s.pairs) counts.append(el("li", {}, el("a", { href: "#pairs", text: `${s.pairs.n} pairs` }), ` from ${s.pairs.folders.join(", ")}`));
      if (s.samples) counts.append(el("li", {}, el("a", { href: "#samples", text: `${s.samples.n} prompts of samples` }), ` from ${s.samples.files.join(", ")}`));
      counts.append(el("li", { text: `${s.images.files} images` }));
      kids.push(el("h3", { text: "Contents" }), counts);
      if (s.evals.length) {
        const modes = [...new Set(s.evals.flatMap((e) => e.modes))];
        const named = s.evals.some((e) => e.benchmark);
        const primary = (e, m) => {
          const b = e.benchmark;
          if (!b || !b.modes[m]) return "–";
          return `${fmtScale(b.modes[m].primary, b.scale)} ${b.primary}${b.scale === "fraction" ? "" : " (" + b.scale + ")"}`;
        };
        kids.push(el("h3", { text: "Evals" }), el("table", { id: "evals" },
          el("thead", {}, el("tr", {}, el("th", { text: "eval" }), named ? el("th", { text: "benchmark" }) : null, el("th", { cls: "num", text: "questions" }),
            modes.map((m) => el("th", { cls: "num", text: (m === "cot" ? "CoT" : m) + " accuracy" })),
            named ? modes.map((m) => el("th", { cls: "num", text: modeLabel(m) + " primary" })) : null, el("th", { text: "folder" }))),
          el("tbody", {}, s.evals.map((e, k) => el("tr", {}, el("td", {}, el("a", { href: `#predictions?eval=${k}`, text: e.name })),
            named ? el("td", { text: e.benchmark ? e.benchmark.title : "–" }) : null, el("td", { cls: "num", text: e.n }),
            modes.map((m) => el("td", { cls: "num", text: fmt(e.accuracy[m]) })),
            named ? modes.map((m) => el("td", { cls: "num", text: primary(e, m) })) : null, el("td", { text: e.folder }))))));
      }
      if (s.notes.length) kids.push(el("h3", { text: "Notes" }), el("ul", { cls: "notes", id: "notes" }, s.notes.map((n) => el("li", { text: n }))));
      if (s.skips.count) {
        kids.push(el("h3", { text: `Skipped lines: ${s.skips.count}` }), el("ul", { cls: "notes", id: "skips" }, s.skips.items.map((x) =>
          el("li", { text: `${x.file}${x.line ? ":" + x.line : ""}${x.field ? " field '" + x.field + "'" : ""}: ${x.reason}` }))));
      }
      root.replaceChildren(el("div", { cls: "panel" }, kids));
    },
    pairs(root, params, id) {
      return listView(root, params, id, {
        name: "pairs", table: S.site.pairs, noun: "pairs",
        filters: [["subset", "subset"], ["verdict", "chosen vs rejected"], ["qtype", "question type"], ["bucket", "pass rate"]],
        rowText: (r) => `${r.chosen.text}\n${r.rejected.text}`, card: pairCard,
      });
    },
    samples(root, params, id) {
      return listView(root, params, id, {
        name: "samples", table: S.site.samples, noun: "prompts",
        filters: [["qtype", "question type"], ["bucket", "pass rate"]],
        rowText: (r) => r.responses.map((x) => x.text).join("\n"), card: sampleCard,
      });
    },
    async predictions(root, params, id) {
      const evals = S.site.evals;
      const k = Math.min(Math.max(0, +(params.get("eval") || 0)), evals.length - 1);
      const e = evals[k];
      const pick = select("eval", "eval", evals.map((x) => x.name), null, e.name);
      pick.querySelector("select").querySelector('option[value=""]').remove();
      pick.querySelector("select").addEventListener("change", (ev) => {
        location.hash = "#predictions?eval=" + evals.findIndex((x) => x.name === ev.target.value);
      });
      const extra = e.modes.length > 1 ? [{ id: "differ", label: "answers differ", test: (ix, i) => ix.differ[i] === 1 }] : [];
      return listView(root, params, id, {
        name: "predictions", table: e, noun: "questions", pre: [pick], keep: { eval: String(k) },
        head: e.benchmark ? [benchPanel(e)] : [],
        filters: [["qtype", "question type"], ...e.modes.map((m) => ["v_" + m, (m === "cot" ? "CoT" : m) + " verdict"]),
          ...(e.groups || []).map((g) => ["g_" + g, g])],
        extra, rowText: (r) => Object.values(r.modes).map((p) => p.response).join("\n"), card: predCard(e.modes),
      });
    },
    async gained(root, params, id) {
      const evals = S.site.evals;
      const names = evals.map((x) => x.name);
      const dflt = S.site.compare || [names[0], names[1]];
      const a = names.includes(params.get("a")) ? params.get("a") : dflt[0];
      const b = names.includes(params.get("b")) ? params.get("b") : dflt[1];
      const ea = evals[names.indexOf(a)], eb = evals[names.indexOf(b)];
      const modes = ea.modes.filter((m) => eb.modes.includes(m));
      const mode = modes.includes(params.get("mode")) ? params.get("mode") : (modes.includes("cot") ? "cot" : modes[0]);
      const [ia, ib] = await Promise.all([loadIndex(ea), loadIndex(eb)]);
      if (id !== S.renderId) return;
      const go = (p) => { location.hash = "#gained?" + new URLSearchParams({ a, b, mode, ...p }); };
      const sa = select("ga", "from (A)", names, null, a), sb = select("gb", "to (B)", names, null, b);
      const sm = select("gm", "mode", modes, null, mode);
      for (const s of [sa, sb, sm]) s.querySelector('option[value=""]').remove();
      sa.querySelector("select").addEventListener("change", (ev) => go({ a: ev.target.value }));
      sb.querySelector("select").addEventListener("change", (ev) => go({ b: ev.target.value }));
      sm.querySelector("select").addEventListener("change", (ev) => go({ mode: ev.target.value }));
      setParams("gained", new URLSearchParams({ a, b, mode: mode || "" }));
      const kids = [el("form", { cls: "controls", onsubmit: (ev) => ev.preventDefault() }, sa, sb, sm)];
      if (!mode) {
        root.replaceChildren(...kids, el("p", { cls: "error", text: `${a} and ${b} share no mode` }));
        return;
      }
      const right = (ix, i) => ix.vocab["v_" + mode][ix["v_" + mode][i]] === "correct";
      const has = (ix, i) => ix.vocab["v_" + mode][ix["v_" + mode][i]] !== "missing";
      const inA = new Map();
      ia.pid.forEach((p, i) => { if (has(ia, i)) inA.set(p, right(ia, i)); });
      const gained = [], lost = [];
      let shared = 0, bothRight = 0, bothWrong = 0;
      ib.pid.forEach((p, i) => {
        if (!inA.has(p) || !has(ib, i)) return;
        shared++;
        const ra = inA.get(p), rb = right(ib, i);
        if (!ra && rb) gained.push(p);
        else if (ra && !rb) lost.push(p);
        else if (ra) bothRight++;
        else bothWrong++;
      });
      const kb = names.indexOf(b), ka = names.indexOf(a);
      const list = (pids, idName, k) => el("ul", { cls: "pidlist", id: idName }, pids.map((p) =>
        el("li", { "data-pid": p }, el("a", { href: `#predictions?eval=${k}&q=${encodeURIComponent(p)}`, text: p }))),
        pids.length ? null : el("li", { cls: "status", text: "none" }));
      kids.push(el("p", { id: "gl-summary", text: `${shared} questions in both (${mode === "cot" ? "CoT" : mode}): ${gained.length} gained (wrong in ${a}, right in ${b}), ` +
        `${lost.length} lost (right in ${a}, wrong in ${b}), ${bothRight} right in both, ${bothWrong} wrong in both; net ${gained.length - lost.length >= 0 ? "+" : ""}${gained.length - lost.length}.` }));
      kids.push(el("div", { cls: "columns" },
        el("div", { cls: "panel" }, el("h3", { text: `Gained: ${gained.length}` }), list(gained, "gained", kb)),
        el("div", { cls: "panel" }, el("h3", { text: `Lost: ${lost.length}` }), list(lost, "lost", ka))));
      root.replaceChildren(...kids);
    },
    report(root) {
      const kids = [];
      for (const r of S.site.reports) {
        const sec = el("section", { cls: "report" }, el("h2", { text: r.folder }));
        for (const p of r.parts) {
          const div = el("div", { cls: "md" });
          div.innerHTML = p.html; // written by mmpo inspect from the report's markdown, all text escaped
          sec.append(div);
        }
        for (const f of r.figures) sec.append(el("figure", {}, el("img", { src: f.src, alt: f.name }), el("figcaption", { text: f.name })));
        kids.push(sec);
      }
      root.replaceChildren(...kids);
    },
  };

  function start() {
    if (!S.site) {
      view().replaceChildren(el("p", { cls: "error", text: "data/site.js is missing: rerun mmpo inspect" }));
      return;
    }
    document.getElementById("tabs").replaceChildren(...views().map(([name, label]) =>
      el("a", { href: "#" + name, "data-view": name, text: label })));
    window.addEventListener("hashchange", render);
    render();
  }

  return {
    start,
    site: (obj) => { S.site = obj; },
    index: (key, obj) => { S.index[key] = obj; },
    chunk: (key, n, rows) => { S.chunks[key + "#" + n] = rows; },
  };
})();
