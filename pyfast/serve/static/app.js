// Webcam page: camera -> JPEG frames over a WebSocket -> stylised frames -> canvas.
// One frame is in flight at a time, so the picture never lags behind the camera:
// frames the camera produces while the server works are simply not sent.
"use strict";

const params = new URLSearchParams(location.search);
const hash = new URLSearchParams(location.hash.slice(1));
const token = hash.get("token") || "";
const testMode = params.get("test") === "1";
const $ = (id) => document.getElementById(id);

const video = $("camera"), output = $("output"), statsText = $("stats"), errorText = $("error");
const grab = document.createElement("canvas");
const grabContext = grab.getContext("2d", { willReadFrequently: true });
const outputContext = output.getContext("2d", { willReadFrequently: true });

const stats = { frames: 0, errors: 0, started: 0, latencies: [], diffs: [], sent: 0 };
const compare = document.createElement("canvas");
const compareContext = compare.getContext("2d", { willReadFrequently: true });
let socket = null, inFlight = false, sentAt = 0;

// The frame in flight (still on the grab canvas), at the size the server answered with.
function sentPixels(width, height) {
  compare.width = width; compare.height = height;
  compareContext.drawImage(grab, 0, 0, width, height);
  return compareContext.getImageData(0, 0, width, height).data;
}

function headers() { return token ? { Authorization: "Bearer " + token } : {}; }

function settings() {
  return {
    type: "settings", model: $("model").value, strength: Number($("strength").value),
    preserve_color: $("preserve").checked, max_size: Number($("size").value),
  };
}

async function loadModels() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) throw new Error("models: HTTP " + response.status);
  const listing = await response.json();
  const select = $("model");
  for (const model of listing.models) {
    const option = document.createElement("option");
    option.value = model.name; option.textContent = model.name; option.title = model.description;
    select.appendChild(option);
  }
  if (params.get("model")) select.value = params.get("model");
  for (const option of [...$("size").options]) option.disabled = Number(option.value) > listing.max_size;
  if (Number($("size").value) > listing.max_size) {
    const allowed = [...$("size").options].filter((o) => !o.disabled);
    $("size").value = allowed.length ? allowed[allowed.length - 1].value : listing.max_size;
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = new URLSearchParams({ model: $("model").value, max_size: $("size").value });
  if (token) query.set("token", token);
  socket = new WebSocket(`${scheme}//${location.host}/v1/ws/stylize?${query}`);
  socket.binaryType = "blob";
  socket.onopen = () => { socket.send(JSON.stringify(settings())); stats.started = performance.now(); sendFrame(); };
  socket.onmessage = (event) => (typeof event.data === "string" ? onText(event.data) : onFrame(event.data));
  socket.onclose = (event) => {
    errorText.textContent = `connection closed (${event.code} ${event.reason || ""}); reconnecting…`;
    inFlight = false;
    setTimeout(connect, 1000);
  };
}

function onText(text) {
  const message = JSON.parse(text);
  if (message.error) {
    stats.errors += 1;
    errorText.textContent = message.error;
    inFlight = false;
    setTimeout(sendFrame, message.retry_after ? 1000 * message.retry_after : 50);
  }
}

async function onFrame(blob) {
  const latency = performance.now() - sentAt;
  const bitmap = await createImageBitmap(blob);
  if (output.width !== bitmap.width || output.height !== bitmap.height) {
    output.width = bitmap.width; output.height = bitmap.height;
  }
  outputContext.drawImage(bitmap, 0, 0);
  stats.diffs.push(meanAbsDiff(sentPixels(bitmap.width, bitmap.height),
                               outputContext.getImageData(0, 0, bitmap.width, bitmap.height).data));
  stats.frames += 1;
  stats.latencies.push(latency);
  if (stats.latencies.length > 30) stats.latencies.shift();
  if (stats.diffs.length > 30) stats.diffs.shift();
  inFlight = false;
  showStats();
  requestAnimationFrame(sendFrame);
}

function meanAbsDiff(a, b) {
  let total = 0, count = 0;
  for (let i = 0; i < a.length; i += 16) {  // every 4th pixel, RGB
    total += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
    count += 3;
  }
  return total / count;
}

function summary() {
  const seconds = (performance.now() - stats.started) / 1000;
  const mean = (values) => (values.length ? values.reduce((s, v) => s + v, 0) / values.length : 0);
  return {
    type: "stats", frames: stats.frames, errors: stats.errors, seconds: seconds,
    fps: seconds > 0 ? stats.frames / seconds : 0, latency_ms: mean(stats.latencies),
    mean_abs_diff: mean(stats.diffs), width: output.width, height: output.height,
  };
}

function showStats() {
  const s = summary();
  statsText.textContent = `${s.fps.toFixed(1)} frames/s · ${s.latency_ms.toFixed(0)} ms latency · ` +
    `${s.frames} frames · ${s.width}×${s.height}`;
}

function sendFrame() {
  if (inFlight || !socket || socket.readyState !== WebSocket.OPEN || video.videoWidth === 0) {
    if (!inFlight) setTimeout(sendFrame, 30);
    return;
  }
  const longer = Number($("size").value);
  const scale = Math.min(1, longer / Math.max(video.videoWidth, video.videoHeight));
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  grabContext.drawImage(video, 0, 0, grab.width, grab.height);
  inFlight = true;
  grab.toBlob((blob) => {
    sentAt = performance.now();
    stats.sent += 1;
    socket.send(blob);
  }, "image/jpeg", 0.85);
}

async function main() {
  try {
    await loadModels();
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    await video.play();
    for (const id of ["model", "strength", "preserve", "size"]) {
      $(id).addEventListener("input", () => {
        $("strength-value").textContent = Number($("strength").value).toFixed(2);
        if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(settings()));
      });
    }
    connect();
    if (testMode) {
      setInterval(() => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(summary())); }, 500);
    }
  } catch (err) {
    errorText.textContent = String(err);
    if (testMode) console.error("pyfast page error:", err);
  }
}

main();
