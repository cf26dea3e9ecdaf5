// The page "In your browser" (in-your-browser.md): make demo's network, run by ONNX Runtime Web.
//
// The ONNX graphs (atrous.browser_demo.export_page_graph, one per output stride) normalise the
// image, resize it to each scale, run the network and resize the logits straight to the image
// (bilinear), then take the softmax: this file resizes nothing. It does what is left of
// atrous.inference.strategy.predict_probabilities: flips the input left-right and the
// probabilities back, averages the probabilities over scales and flips, takes the argmax.
// Then it draws the label map, the IoU of each class against a scene's label, and the time.
// Everything it loads lies beside the page (manifest.json, models/, ort/, scenes/): offline.
// The browser test (tests/test_docs_in_your_browser.py) drives it through window.atrousNetwork.

const root = document.getElementById("net-demo");
const $ = (id) => document.getElementById(id);
const assets = new URL(root ? root.dataset.assets || "./" : "./", document.baseURI);
//: A reader's image larger than this on its longer side is scaled down by the browser first.
const MAX_SIDE = 512;
//: The smallest side the graphs take at the network's input (the export's range).
const MIN_SIDE = 33;

const state = {
  manifest: null, ort: null, sessions: new Map(), input: null, busy: false, history: [],
  last: null, error: null, runs: 0, done: 0,
};

function status(text, kind) {
  $("net-status").textContent = text;
  $("net-status").dataset.state = kind;
}

// Python's round(), which rounds halves to the even neighbour (scaled sizes in strategy.py).
function roundHalfEven(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// The image's RGB as float32 (1, 3, H, W), 0 to 255; flipped left-right if asked.
function chw(rgba, height, width, flipped) {
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = 4 * (y * width + (flipped ? width - 1 - x : x));
      const to = y * width + x;
      out[to] = rgba[from];
      out[plane + to] = rgba[from + 1];
      out[2 * plane + to] = rgba[from + 2];
    }
  }
  return out;
}

async function session(stride) {
  if (!state.sessions.has(stride)) {
    const url = new URL(state.manifest.strides[stride].model, assets).href;
    state.sessions.set(stride, state.ort.InferenceSession.create(url, {
      executionProviders: ["wasm"], graphOptimizationLevel: "all", logSeverityLevel: 3,
    }));
  }
  return state.sessions.get(stride);
}

// Class probabilities averaged over scales and flips, as predict_probabilities; the labels.
async function predict(input, stride, scales, flip) {
  const { height, width, rgba } = input;
  const classes = state.manifest.classes.length;
  const plane = height * width;
  const total = new Float32Array(classes * plane);
  const net = await session(stride);
  const times = [];
  for (const scale of scales) {
    const h = Math.max(1, roundHalfEven(scale * height));
    const w = Math.max(1, roundHalfEven(scale * width));
    if (Math.min(h, w) < MIN_SIDE) {
      throw new Error(`the image (${height} x ${width}) at scale ${scale} would be ${h} x ${w}: ` +
        `the network takes ${MIN_SIDE} pixels a side at least; choose larger scales or image`);
    }
    for (const flipped of flip ? [false, true] : [false]) {
      const feeds = {
        rgb: new state.ort.Tensor("float32", chw(rgba, height, width, flipped),
          [1, 3, height, width]),
        scaled: new state.ort.Tensor("float32", new Float32Array(h * w), [1, 1, h, w]),
      };
      const start = performance.now();
      const probs = (await net.run(feeds)).probabilities.data; // (1, K, H, W)
      times.push(performance.now() - start);
      state.runs += 1;
      for (let k = 0; k < classes; k++) {
        for (let y = 0; y < height; y++) {
          const row = k * plane + y * width;
          for (let x = 0; x < width; x++) {
            total[row + x] += probs[row + (flipped ? width - 1 - x : x)];
          }
        }
      }
    }
  }
  const count = times.length;
  const labels = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) {
    let best = 0;
    let bestValue = total[i] / count;
    for (let k = 1; k < classes; k++) {
      const value = total[k * plane + i] / count;
      if (value > bestValue) { best = k; bestValue = value; } // the first maximum, as argmax
    }
    labels[i] = best;
  }
  return { labels, runs: count, times };
}

function settings() {
  return {
    stride: $("net-os").value,
    scales: state.manifest.scales[$("net-scales").value],
    scalesName: $("net-scales").value,
    flip: $("net-flip").checked,
  };
}

function drawImage(canvas, input) {
  canvas.width = input.width;
  canvas.height = input.height;
  canvas.getContext("2d").putImageData(new ImageData(input.rgba, input.width, input.height), 0, 0);
}

function drawLabels(canvas, input, labels, alpha) {
  const palette = state.manifest.palette;
  const out = new Uint8ClampedArray(input.rgba.length);
  for (let i = 0; i < labels.length; i++) {
    const colour = palette[labels[i]] || state.manifest.ignore; // 255: a scene's ignored pixels
    for (let c = 0; c < 3; c++) {
      out[4 * i + c] = Math.round(alpha * colour[c] + (1 - alpha) * input.rgba[4 * i + c]);
    }
    out[4 * i + 3] = 255;
  }
  canvas.width = input.width;
  canvas.height = input.height;
  canvas.getContext("2d").putImageData(new ImageData(out, input.width, input.height), 0, 0);
}

// IoU of each class present in the label or the prediction (the metric of reference.metric).
function iou(labels, truth) {
  const names = state.manifest.classes;
  const rows = [];
  for (let k = 0; k < names.length; k++) {
    let both = 0;
    let either = 0;
    for (let i = 0; i < labels.length; i++) {
      const p = labels[i] === k;
      const t = truth[i] === k;
      if (truth[i] === 255) continue;
      both += p && t;
      either += p || t;
    }
    if (either) rows.push([names[k], both / either]);
  }
  return rows;
}

function showIou(rows) {
  const body = $("net-iou").querySelector("tbody");
  body.replaceChildren();
  if (!rows) {
    $("net-iou-note").textContent = "Your image has no label: no IoU.";
    return;
  }
  for (const [name, value] of rows) {
    const tr = body.insertRow();
    tr.insertCell().textContent = name;
    tr.insertCell().textContent = (100 * value).toFixed(1);
  }
  const mean = rows.reduce((s, r) => s + r[1], 0) / rows.length;
  $("net-iou-note").textContent = `mIOU over these ${rows.length} classes: ` +
    `${(100 * mean).toFixed(1)}`;
}

// What the output stride means for this image: the feature map, block4's and ASPP's rates.
function explain(input, stride, runs, flip) {
  const s = state.manifest.strides[stride];
  const fh = Math.ceil(input.height / stride); // ceil(H / os): atrous.model.summary.feature_sizes
  const fw = Math.ceil(input.width / stride);
  const side = Math.min(fh, fw);
  const block4 = s.blocks.layer4.join(", ");
  const centre = s.aspp.filter((r) => r >= side); // (side - 1) // r == 0: only the centre tap
  const largest = Math.max(...s.aspp);
  const query = new URLSearchParams({
    size: Math.min(side, 129), kernel: 3, rate: Math.min(largest, 256), os: stride,
    mg: state.manifest.multiGrid.join(","),
  });
  $("net-explain").innerHTML =
    `At output stride ${stride} the network sees this ${input.height} x ${input.width} image ` +
    `as a ${fh} x ${fw} feature map. Block3 runs at rate ${s.blocks.layer3.join(", ")} and ` +
    `block4 at ${block4}; ASPP's three 3 x 3 branches at rates ${s.aspp.join(", ")}` +
    (centre.length ? `, of which ${centre.join(", ")} reach past the map's ${side} ` +
      "features, where only the centre weight sees the map: a 1 x 1 filter (Fig. 4)." : ".") +
    ` <a id="net-explorer-link" href="../explorer/?${query}">See rate ${largest} on this map ` +
    "in the explorer</a>. " + (runs > 1 ? `The ${runs} model runs (one per scale` +
      `${flip ? " and flip" : ""}) each give class probabilities at the image's size, and ` +
      "their mean is the prediction (Sec. 4.3, Tab. 6)." : "One model run: one scale, no flip.");
}

function recordTime(name, setting, result) {
  const total = result.times.reduce((a, b) => a + b, 0);
  const body = $("net-times").querySelector("tbody");
  const tr = body.insertRow(0);
  while (body.rows.length > 8) body.deleteRow(-1); // the last eight settings
  for (const text of [name, setting.stride, setting.scales.join(", "), setting.flip ? "yes" : "no",
    result.runs, total.toFixed(0), (total / result.runs).toFixed(0)]) {
    tr.insertCell().textContent = text;
  }
  return total;
}

async function run() {
  if (!state.input || !state.ort) return;
  if (state.busy) { state.again = true; return; }
  state.busy = true;
  state.error = null;
  const setting = settings();
  const input = state.input;
  status(`running (output stride ${setting.stride}, ${setting.scales.length} scale(s)` +
    `${setting.flip ? ", flips" : ""}) ...`, "running");
  try {
    const result = await predict(input, Number(setting.stride), setting.scales, setting.flip);
    drawLabels($("net-overlay"), input, result.labels, 0.5);
    drawLabels($("net-labels"), input, result.labels, 1);
    showIou(input.truth ? iou(result.labels, input.truth) : null);
    explain(input, Number(setting.stride), result.runs, setting.flip);
    const total = recordTime(input.name, setting, result);
    $("net-runs").textContent = String(result.runs);
    $("net-time").textContent = total.toFixed(0);
    state.last = { input: input.name, height: input.height, width: input.width, ...setting,
      runs: result.runs, ms: total, labels: Array.from(result.labels) };
    if (state.firstPrediction === undefined) state.firstPrediction = performance.now();
    status(`done: ${result.runs} model run${result.runs > 1 ? "s" : ""} in ` +
      `${total.toFixed(0)} ms`, "done");
  } catch (error) {
    state.error = String(error && error.message ? error.message : error);
    status(`error: ${state.error}`, "error");
  } finally {
    state.busy = false;
    state.done += 1;
  }
  if (state.again) { state.again = false; await run(); }
}

// An image as RGBA pixels: as predict reads it (EXIF orientation applied, alpha dropped), the
// browser's colours untouched; scaled down by the browser only past MAX_SIDE.
async function decode(blob, name) {
  const probe = await createImageBitmap(blob, { imageOrientation: "from-image" });
  const longer = Math.max(probe.width, probe.height);
  const factor = longer > MAX_SIDE ? MAX_SIDE / longer : 1;
  const width = Math.max(1, Math.round(probe.width * factor));
  const height = Math.max(1, Math.round(probe.height * factor));
  probe.close();
  const options = { imageOrientation: "from-image", colorSpaceConversion: "none",
    premultiplyAlpha: "none" };
  if (factor < 1) Object.assign(options, { resizeWidth: width, resizeHeight: height,
    resizeQuality: "high" });
  const bitmap = await createImageBitmap(blob, options);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, width, height).data;
  for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255; // alpha dropped, not blended
  const note = factor < 1 ? ` (scaled down from ${bitmap.width / factor | 0} px to ${width} x ` +
    `${height} by the browser)` : "";
  return { name, height, width, rgba, note };
}

async function chooseInput() {
  state.choosing = true;
  try {
    await readInput();
  } finally {
    state.choosing = false;
  }
}

async function readInput() {
  const choice = $("net-input").value;
  $("net-file-label").hidden = choice !== "file";
  if (choice === "file") {
    const file = $("net-file").files[0];
    if (!file) { status("choose an image file", "idle"); return; }
    try {
      state.input = { ...(await decode(file, file.name)), truth: null };
    } catch (error) {
      state.error = `the file ${file.name} could not be read as an image: ${error}`;
      status(`error: ${state.error}`, "error");
      state.done += 1;
      return;
    }
  } else {
    const scene = state.manifest.scenes[Number(choice)];
    const blob = await (await fetch(new URL(scene.image, assets))).blob();
    const truth = Uint8Array.from(atob(scene.label), (c) => c.charCodeAt(0));
    state.input = { ...(await decode(blob, `val scene ${scene.index}`)), truth };
    drawLabels($("net-truth"), state.input, truth, 1);
  }
  $("net-truth-figure").hidden = !state.input.truth;
  $("net-input-note").textContent = `${state.input.name}: ${state.input.height} x ` +
    `${state.input.width} pixels${state.input.note}` +
    (state.input.truth ? `; classes ${state.manifest.scenes[Number(choice)].classes.join(", ")}`
      : "");
  drawImage($("net-image"), state.input);
  await run();
}

function fillControls(manifest) {
  const input = $("net-input");
  manifest.scenes.forEach((scene, i) => {
    input.add(new Option(`val scene ${scene.index} (${scene.classes.slice(1).join(", ")})`, i));
  });
  input.add(new Option("your own image ...", "file"));
  const demo = manifest.provenance.evaluated;
  $("net-os").value = String(demo.output_stride);
  $("net-flip").checked = Boolean(demo.flip);
  const legend = $("net-legend");
  manifest.classes.forEach((name, k) => {
    const item = document.createElement("span");
    item.className = "net-class";
    item.innerHTML = `<i style="background: rgb(${manifest.palette[k].join(",")})"></i>${name}`;
    legend.append(item);
  });
}

async function main() {
  state.manifest = await (await fetch(new URL("manifest.json", assets))).json();
  fillControls(state.manifest);
  const runtime = state.manifest.runtime;
  if (!runtime) {
    status("ONNX Runtime Web is not in this build of the site: run `npm ci`, then " +
      "`make docs` (see Installation)", "missing");
    return;
  }
  status(`loading ONNX Runtime Web ${runtime.version} ...`, "loading");
  state.ort = await import(new URL(runtime.module, assets).href);
  state.ort.env.wasm.numThreads = 1; // a static server sends no cross-origin isolation headers
  state.ort.env.wasm.wasmPaths = new URL("ort/", assets).href;
  state.ort.env.logLevel = "error";
  for (const id of ["net-os", "net-scales", "net-flip"]) $(id).addEventListener("change", run);
  $("net-input").addEventListener("change", chooseInput);
  $("net-file").addEventListener("change", chooseInput);
  await chooseInput();
}

// For the browser test: the label map of the last prediction and what it was made with; a
// promise that settles when no prediction is running or pending; the bytes the page loaded.
window.atrousNetwork = {
  state,
  last: () => state.last,
  idle: async () => {
    while (state.busy || state.again || state.choosing) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { status: $("net-status").dataset.state, error: state.error };
  },
  weight: () => performance.getEntriesByType("navigation").concat(
    performance.getEntriesByType("resource")).reduce((sum, e) => sum + e.encodedBodySize, 0),
};

if (root) {
  main().catch((error) => {
    state.error = String(error);
    status(`error: ${state.error}`, "error");
    state.done += 1;
  });
}
