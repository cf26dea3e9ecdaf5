// The explorer page (explorer.md): valid weights (Fig. 4), gridding and receptive field.
// Each function below is a port of one function of the NumPy oracle, formula for formula,
// so that the page shows what `reference` computes (tests/test_docs_browser.py checks it):
//   validTaps1d         reference.valid_weights._valid_taps_1d
//   validWeightCounts   reference.valid_weight_counts (square map)
//   validWeightHistogram reference.valid_weight_histogram
//   coverage1d          reference.coverage (one axis; the 2-D mask is its outer product)
//   receptiveField      reference.receptive_field
// No network, no library: the page works offline. Loaded on every page; it does nothing where
// there is no #atrous-explorer. A URL's query parameters set the controls (PARAMETERS below),
// so that a chapter can link to its own example.
"use strict";

(function () {
  const root = document.getElementById("atrous-explorer");
  if (!root) return;

  // Python's floor division a // b for integers (b > 0).
  function floorDiv(a, b) {
    return Math.floor(a / b);
  }

  // For each of `size` output positions along one axis, how many taps land on the map.
  // Output i reads input i - p + rate * t, t = 0 .. k - 1, p = rate * (k - 1) // 2.
  function validTaps1d(size, k, rate) {
    const p = floorDiv(rate * (k - 1), 2); // "same" padding
    const taps = new Array(size);
    for (let i = 0; i < size; i++) {
      const first = Math.max(0, -floorDiv(i - p, rate)); // ceil((p - i) / rate), at least 0
      const last = Math.min(k - 1, floorDiv(size - 1 - i + p, rate));
      taps[i] = Math.max(0, last - first + 1);
    }
    return taps;
  }

  // (size, size) counts: the outer product of the 1-D counts (a tap is valid iff it is
  // valid along the rows and along the columns).
  function validWeightCounts(size, k, rate) {
    const taps = validTaps1d(size, k, rate);
    return taps.map((a) => taps.map((b) => a * b));
  }

  // [[nValid, positions]] over the (size, size) counts, sorted by nValid, only the counts
  // that occur (np.unique(counts, return_counts=True)); a fraction is positions / size**2.
  function validWeightHistogram(size, k, rate) {
    const occurrences = new Map();
    for (const row of validWeightCounts(size, k, rate)) {
      for (const n of row) occurrences.set(n, (occurrences.get(n) || 0) + 1);
    }
    return [...occurrences.entries()].sort((x, y) => x[0] - y[0]);
  }

  // Offsets (0 .. R - 1) along one axis that reach the output through the cascade: the
  // reachable set convolved with each layer's zero-inserted filter (k taps, rate apart).
  function coverage1d(rates, k) {
    let reach = [1];
    for (const rate of rates) {
      const taps = new Array(rate * (k - 1) + 1).fill(0);
      for (let t = 0; t < taps.length; t += rate) taps[t] = 1;
      const next = new Array(reach.length + taps.length - 1).fill(0);
      for (let i = 0; i < reach.length; i++) {
        if (!reach[i]) continue;
        for (let j = 0; j < taps.length; j++) if (taps[j]) next[i + j] = 1;
      }
      reach = next;
    }
    return reach;
  }

  // R_l = R_{l-1} + (k_e - 1) J_{l-1}, J_l = J_{l-1} s_l, for (kernel, stride, rate) layers.
  function receptiveField(layers) {
    let size = 1;
    let jump = 1;
    for (const [kernel, stride, rate] of layers) {
      const effective = kernel + (kernel - 1) * (rate - 1);
      size += (effective - 1) * jump;
      jump *= stride;
    }
    return { size, jump };
  }

  // --- drawing -------------------------------------------------------------------------------

  function grey(level) {
    // level 0 .. 1 -> light .. dark indigo
    const mix = (a, b) => Math.round(a + (b - a) * level);
    return `rgb(${mix(232, 40)}, ${mix(234, 53)}, ${mix(246, 147)})`;
  }

  function drawGrid(canvas, rows, cols, value) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const cell = Math.min(canvas.width / cols, canvas.height / rows);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        ctx.fillStyle = grey(value(i, j));
        ctx.fillRect(j * cell, i * cell, Math.ceil(cell), Math.ceil(cell));
      }
    }
    return cell;
  }

  function drawCurves(canvas, size, k, rate) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width;
    const h = canvas.height;
    const pad = { left: 34, right: 8, top: 8, bottom: 24 };
    const maxRate = Math.max(2 * size, rate, 2);
    const wanted = [...new Set([1, ((k + 1) / 2) ** 2, k * k])];
    const colours = ["#d62728", "#1f77b4", "#2ca02c"];
    const x = (r) => pad.left + ((r - 1) / (maxRate - 1)) * (w - pad.left - pad.right);
    const y = (f) => pad.top + (1 - f) * (h - pad.top - pad.bottom);
    ctx.clearRect(0, 0, w, h);
    ctx.strokeStyle = "#999";
    ctx.strokeRect(pad.left, pad.top, w - pad.left - pad.right, h - pad.top - pad.bottom);
    ctx.fillStyle = "#444";
    ctx.font = "11px sans-serif";
    ctx.fillText("1", 20, y(1) + 4);
    ctx.fillText("0", 20, y(0) + 4);
    ctx.fillText("rate 1", pad.left, h - 6);
    ctx.fillText(String(maxRate), w - pad.right - 22, h - 6);
    const series = wanted.map(() => []);
    for (let r = 1; r <= maxRate; r++) {
      const hist = new Map(validWeightHistogram(size, k, r));
      wanted.forEach((n, s) => series[s].push((hist.get(n) || 0) / (size * size)));
    }
    wanted.forEach((n, s) => {
      ctx.strokeStyle = colours[s];
      ctx.beginPath();
      series[s].forEach((f, i) => (i ? ctx.lineTo(x(i + 1), y(f)) : ctx.moveTo(x(1), y(f))));
      ctx.stroke();
      ctx.fillStyle = colours[s];
      ctx.fillText(`${n} valid`, w - pad.right - 60, pad.top + 14 + 13 * s);
    });
    ctx.strokeStyle = "#000";
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(x(rate), y(1));
    ctx.lineTo(x(rate), y(0));
    ctx.stroke();
    ctx.setLineDash([]);
  }

  // --- the page ------------------------------------------------------------------------------

  function setText(id, value) {
    document.getElementById(id).textContent = String(value);
  }

  function layersText(layers) {
    return layers.map((l) => `(${l.join(", ")})`).join(" ");
  }

  function read(id) {
    return parseInt(document.getElementById(id).value, 10);
  }

  function update() {
    const size = read("explorer-size");
    const k = read("explorer-kernel");
    const rate = read("explorer-rate");
    const os = read("explorer-os");
    const grid = [read("explorer-mg1"), read("explorer-mg2"), read("explorer-mg3")];
    for (const id of ["size", "kernel", "rate", "mg1", "mg2", "mg3"]) {
      setText(`explorer-${id}-value`, read(`explorer-${id}`));
    }
    setText("explorer-size-value2", size);

    // (a) valid weights
    setText("vw-kernel", `${k} x ${k}`);
    setText("vw-rate", rate);
    setText("vw-effective", k + (k - 1) * (rate - 1));
    setText("vw-size", `${size} x ${size}`);
    const counts = validWeightCounts(size, k, rate);
    drawGrid(document.getElementById("vw-map"), size, size, (i, j) => counts[i][j] / (k * k));
    drawCurves(document.getElementById("vw-curves"), size, k, rate);
    const total = size * size;
    const body = document.querySelector("#vw-histogram tbody");
    body.replaceChildren(
      ...validWeightHistogram(size, k, rate).map(([n, positions]) => {
        const row = document.createElement("tr");
        row.dataset.valid = String(n);
        row.dataset.positions = String(positions);
        const fraction = positions / total;
        for (const [cls, text] of [["valid", n], ["positions", positions],
          ["fraction", fraction.toFixed(6)]]) {
          const cell = document.createElement("td");
          cell.className = cls;
          cell.textContent = String(text);
          row.append(cell);
        }
        const bar = document.createElement("td");
        bar.innerHTML = `<span class="explorer-bar" style="width:${(100 * fraction).toFixed(1)}%"></span>`;
        row.append(bar);
        return row;
      }),
    );
    setText("vw-total", total);

    // (b) gridding: block4's unit rates are multi-grid times the block's rate, 32 / os
    const blockRate = 32 / os;
    const unitRates = grid.map((r) => r * blockRate);
    const reach = coverage1d(unitRates, 3);
    const reached = reach.reduce((a, b) => a + b, 0);
    const span = reach.length;
    setText("cov-os", os);
    setText("cov-block-rate", blockRate);
    setText("cov-rates", `(${unitRates.join(", ")})`);
    setText("cov-count", reached * reached);
    setText("cov-total", span * span);
    setText("cov-fraction", ((reached * reached) / (span * span)).toFixed(6));
    setText("cov-size", span);
    setText("cov-size2", span);
    const cell = drawGrid(document.getElementById("cov-map"), span, span,
      (i, j) => (reach[i] && reach[j] ? 1 : 0));
    const ctx = document.getElementById("cov-map").getContext("2d");
    ctx.fillStyle = "#d62728";
    const centre = Math.floor(span / 2);
    ctx.fillRect(centre * cell, centre * cell, Math.max(cell, 2), Math.max(cell, 2));

    // (c) receptive field
    const cascade = unitRates.map((r) => [3, 1, r]);
    const withFilter = [...cascade, [k, 1, rate]];
    const inImage = [[1, os, 1], ...withFilter];
    setText("rf-cascade-layers", layersText(cascade));
    setText("rf-layers", layersText(withFilter));
    setText("rf-os", os);
    for (const [prefix, layers] of [["rf-cascade", cascade], ["rf", withFilter],
      ["rf-image", inImage]]) {
      const rf = receptiveField(layers);
      setText(`${prefix}-size`, rf.size);
      setText(`${prefix}-jump`, rf.jump);
    }
    root.dataset.updates = String(parseInt(root.dataset.updates || "0", 10) + 1);
  }

  // --- a view as a URL ------------------------------------------------------------------------

  // The query parameters of a view, and the controls each sets: the chapters link here with
  // their own example (explorer/?size=9&kernel=3&rate=6&os=16&mg=1,2,4). A parameter that is
  // missing or not a whole number leaves its control at the page's default; a range input
  // clamps a value outside its range, a select ignores a value it does not offer.
  const PARAMETERS = {
    size: "explorer-size",
    kernel: "explorer-kernel",
    rate: "explorer-rate",
    os: "explorer-os",
    mg: ["explorer-mg1", "explorer-mg2", "explorer-mg3"],
  };

  function setControl(id, value) {
    const control = document.getElementById(id);
    const text = String(value).trim();
    if (!/^[0-9]+$/.test(text)) return;
    if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === text)) return;
    control.value = text;
  }

  function readUrl() {
    const query = new URLSearchParams(window.location.search);
    for (const [name, target] of Object.entries(PARAMETERS)) {
      if (!query.has(name)) continue;
      const ids = Array.isArray(target) ? target : [target];
      const values = query.get(name).split(",");
      ids.forEach((id, i) => values[i] !== undefined && setControl(id, values[i]));
    }
  }

  // The link to the view on the page: the controls as query parameters.
  function writeLink() {
    const query = Object.entries(PARAMETERS).map(([name, target]) => {
      const ids = Array.isArray(target) ? target : [target];
      return `${name}=${ids.map((id) => document.getElementById(id).value).join(",")}`;
    });
    const link = document.getElementById("explorer-link");
    if (link) link.href = `${window.location.pathname}?${query.join("&")}`;
  }

  const controls = document.getElementById("explorer-controls");
  for (const event of ["input", "change"]) {
    controls.addEventListener(event, () => {
      update();
      writeLink();
    });
  }
  controls.addEventListener("submit", (event) => event.preventDefault());
  readUrl();
  update();
  writeLink();
})();
