// The start page: choose a municipality or an area, tick themes, build the package.
/* global L */
import {
  api,
  clearError,
  downloadLink,
  el,
  formatBytes,
  formatDateTime,
  formatNumber,
  guarded,
  hiddenText,
  initLogin,
  showError,
} from "./common.js";

const $ = (id) => document.getElementById(id);

const SACHSEN_ANHALT = [
  [50.93, 10.56],
  [53.05, 13.19],
];
const AREA_STYLE = { color: "#b3261e", weight: 3, fillColor: "#b3261e", fillOpacity: 0.08, dashArray: null };
const DRAW_STYLE = { color: "#6a1b9a", weight: 2, dashArray: "6 4" };
// distinguishable colours for the data layers (the layer list names them, too)
const PALETTE = ["#1f5fa8", "#1b7a3d", "#8a5a00", "#6a1b9a", "#00727a", "#a3346b", "#4d4d4d", "#7a3b00", "#2f4f8f"];
const ITEM_LIMIT = 500;
const POLL_MS = 700;
const MVT = "application/vnd.mapbox-vector-tile";

const JOB_STATUS = {
  queued: "in der Warteschlange",
  running: "in Arbeit",
  succeeded: "fertig",
  failed: "fehlgeschlagen",
};

const state = {
  selection: null, // {kind: "ags", ags, name} or {kind: "area", area, name}
  me: { role: "anonymous", name: "", ags: [] },
  job: null,
  pollTimer: null,
};

// --- the map ------------------------------------------------------------------------------

const map = L.map("map", { zoomControl: false, minZoom: 5, maxZoom: 19 });
L.control.zoom({ zoomInTitle: "Hineinzoomen", zoomOutTitle: "Herauszoomen" }).addTo(map);
L.control.scale({ imperial: false }).addTo(map);
map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
map.createPane("area").style.zIndex = 450;
map.fitBounds(SACHSEN_ANHALT);
const areaLayer = L.geoJSON(null, { pane: "area", style: AREA_STYLE, interactive: false }).addTo(map);
// for tests and the curious: the map and the layer holding the chosen area
window.planungsdatenMap = { map, areaLayer };

function showArea(geojson) {
  areaLayer.clearLayers();
  areaLayer.addData(geojson);
  // no animation: calmer for everybody, and the outline is where it belongs at once
  map.fitBounds(areaLayer.getBounds(), { padding: [16, 16], animate: false });
}

function select(selection, description) {
  state.selection = selection;
  $("selection").textContent = description;
  const name = $("area-name");
  name.disabled = selection.kind === "ags";
  name.value = selection.name || "";
  // the search box names the municipality only while one is chosen
  if (selection.kind !== "ags") $("search").value = "";
}

// --- municipality search: ARIA 1.2 combobox with a listbox popup ------------------------

function initSearch() {
  const input = $("search");
  const list = $("search-results");
  const status = $("search-status");
  let options = [];
  let active = -1;
  let controller = null;
  let timer = null;

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function open() {
    if (!options.length) return;
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function render() {
    list.replaceChildren(
      ...options.map((m, i) =>
        el(
          "li",
          { id: `search-option-${i}`, role: "option", "aria-selected": i === active ? "true" : "false", class: i === active ? "active" : "" },
          el("span", { class: "option-name" }, m.name || m.ags),
          el("span", { class: "option-meta" }, ` ${m.district ? `${m.district}, ` : ""}AGS ${m.ags}`),
        ),
      ),
    );
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", `search-option-${active}`);
      list.children[active].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  async function lookup(q) {
    if (controller) controller.abort();
    controller = new AbortController();
    const found = await api(`/api/municipalities?q=${encodeURIComponent(q)}&limit=10`, {
      signal: controller.signal,
    });
    options = found;
    active = -1;
    render();
    if (found.length) {
      open();
      status.textContent = `${found.length} ${found.length === 1 ? "Vorschlag" : "Vorschläge"}; mit den Pfeiltasten wählen.`;
    } else {
      close();
      status.textContent = "Keine Gemeinde gefunden.";
    }
  }

  function choose(option) {
    input.value = option.name || option.ags;
    close();
    guarded(() => chooseMunicipality(option.ags));
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (q.length < 2) {
      options = [];
      close();
      return;
    }
    timer = setTimeout(() => guarded(() => lookup(q)), 200);
  });
  input.addEventListener("keydown", (event) => {
    switch (event.key) {
      case "ArrowDown":
        if (!options.length) return;
        event.preventDefault();
        open();
        active = (active + 1) % options.length;
        render();
        break;
      case "ArrowUp":
        if (!options.length) return;
        event.preventDefault();
        open();
        active = active <= 0 ? options.length - 1 : active - 1;
        render();
        break;
      case "Enter": {
        event.preventDefault();
        const typed = input.value.trim();
        if (!list.hidden && active >= 0) choose(options[active]);
        else if (/^\d{8}$/.test(typed)) choose({ ags: typed, name: typed });
        else if (options.length === 1) choose(options[0]);
        else if (options.length) open();
        break;
      }
      case "Escape":
        event.preventDefault();
        if (!list.hidden) close();
        else input.value = "";
        break;
      case "Tab":
        close();
        break;
      default:
    }
  });
  // a pointer choice must not take the focus from the input
  list.addEventListener("mousedown", (event) => event.preventDefault());
  list.addEventListener("click", (event) => {
    const item = event.target.closest("[role=option]");
    if (item) choose(options[Number(item.id.split("-").pop())]);
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}

async function chooseMunicipality(ags) {
  clearError();
  const feature = await api(`/api/municipalities/${encodeURIComponent(ags)}`);
  const name = feature.properties.name || ags;
  showArea(feature);
  select(
    { kind: "ags", ags: feature.properties.ags, name },
    `Gemeinde ${name} (AGS ${feature.properties.ags}, ${formatNumber(Math.round(feature.properties.area_ha))} ha)`,
  );
  $("search").value = name;
}

// --- uploading an area --------------------------------------------------------------------

function initUpload() {
  $("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    const file = $("area-file").files[0];
    if (!file) {
      showError("Bitte zuerst eine Datei wählen (GeoJSON oder gezippte Shapedatei).");
      $("area-file").focus();
      return;
    }
    guarded(async () => {
      const form = new FormData();
      form.append("file", file);
      $("selection").textContent = `Datei „${file.name}“ wird geprüft …`;
      const result = await api("/api/areas", { method: "POST", body: form }).catch((error) => {
        $("selection").textContent = state.selection ? describe(state.selection) : "Noch kein Gebiet gewählt.";
        throw error;
      });
      showArea(result.area);
      const area = new Intl.NumberFormat("de-DE", { maximumFractionDigits: 2 }).format(result.area_km2);
      select(
        { kind: "area", area: result.area, name: result.name },
        `Hochgeladenes Gebiet „${result.name}“: ${area} km², ${formatNumber(result.vertices)} Stützpunkte`,
      );
    });
  });
}

function describe(selection) {
  return selection.kind === "ags" ? `Gemeinde ${selection.name} (AGS ${selection.ags})` : `Gebiet „${selection.name}“`;
}

// --- drawing an area ----------------------------------------------------------------------

function initDrawing() {
  const startButton = $("draw-start");
  const finishButton = $("draw-finish");
  const cancelButton = $("draw-cancel");
  let points = [];
  let active = false;
  const sketch = L.layerGroup([], { pane: "area" }).addTo(map);

  function redraw() {
    sketch.clearLayers();
    if (points.length > 1) L.polyline(points, { ...DRAW_STYLE, pane: "area", interactive: false }).addTo(sketch);
    for (const point of points) {
      L.circleMarker(point, { pane: "area", radius: 4, color: DRAW_STYLE.color, interactive: false }).addTo(sketch);
    }
    finishButton.disabled = points.length < 3;
    $("layer-status").textContent = `Zeichnen: ${points.length} ${points.length === 1 ? "Eckpunkt" : "Eckpunkte"} gesetzt.`;
  }

  function stop() {
    active = false;
    points = [];
    sketch.clearLayers();
    map.doubleClickZoom.enable();
    map.getContainer().classList.remove("drawing");
    startButton.disabled = false;
    finishButton.disabled = true;
    cancelButton.disabled = true;
  }

  function finish() {
    if (points.length < 3) {
      showError("Für ein Gebiet sind mindestens drei Eckpunkte nötig.");
      return;
    }
    const ring = points.map((p) => [Number(p.lng.toFixed(6)), Number(p.lat.toFixed(6))]);
    ring.push(ring[0]);
    const area = { type: "Polygon", coordinates: [ring] };
    const name = $("area-name").disabled ? "" : $("area-name").value.trim();
    stop();
    showArea(area);
    select({ kind: "area", area, name: name || "Gezeichnetes Gebiet" }, `Gezeichnetes Gebiet mit ${ring.length - 1} Eckpunkten`);
    $("layer-status").textContent = "Gebiet übernommen.";
  }

  startButton.addEventListener("click", () => {
    clearError();
    active = true;
    points = [];
    map.doubleClickZoom.disable();
    map.getContainer().classList.add("drawing");
    startButton.disabled = true;
    cancelButton.disabled = false;
    redraw();
    cancelButton.focus();
  });
  finishButton.addEventListener("click", finish);
  cancelButton.addEventListener("click", () => {
    stop();
    $("layer-status").textContent = "Zeichnung verworfen.";
    startButton.focus();
  });
  map.on("click", (event) => {
    if (!active) return;
    const last = points[points.length - 1];
    // the clicks of a double click land on the same spot: one vertex
    if (last && map.latLngToContainerPoint(last).distanceTo(event.containerPoint) < 4) return;
    points.push(event.latlng);
    redraw();
  });
  map.on("dblclick", (event) => {
    if (!active) return;
    L.DomEvent.stop(event);
    finish();
  });
}

// --- layers from /ogc ---------------------------------------------------------------------

function relative(href) {
  return href.replace(/^https?:\/\/[^/]+/, "");
}

function propertiesPopup(title, properties) {
  const rows = Object.entries(properties || {})
    .filter(([, value]) => value !== null && value !== "" && typeof value !== "object")
    .slice(0, 12)
    .map(([key, value]) => el("tr", {}, el("th", { scope: "row" }, key), el("td", {}, String(value))));
  return el("div", { class: "popup" }, el("p", { class: "popup-title" }, title), el("table", {}, el("tbody", {}, rows)));
}

function layerStatus(text) {
  $("layer-status").textContent = text;
}

async function vectorTileLayer(collection, colour) {
  const meta = await api(`/ogc/collections/${encodeURIComponent(collection.id)}/tiles/WebMercatorQuad?f=json`);
  const link = meta.links.find((l) => l.rel === "item" && (l.type || MVT) === MVT);
  if (!link) throw new Error(`Für „${collection.title}“ gibt es keine Vektorkacheln.`);
  const url = relative(link.href).replace("{tileMatrix}", "{z}").replace("{tileRow}", "{y}").replace("{tileCol}", "{x}");
  const layers = meta.layers || [];
  const minZoom = layers.length ? Math.min(...layers.map((l) => Number(l.minTileMatrix))) : 0;
  const maxZoom = layers.length ? Math.max(...layers.map((l) => Number(l.maxTileMatrix))) : 20;
  const style = { color: colour, weight: 1, fill: true, fillColor: colour, fillOpacity: 0.15, radius: 4 };
  const layer = L.vectorGrid.protobuf(url, {
    vectorTileLayerStyles: Object.fromEntries(layers.map((l) => [l.id, style])),
    minZoom,
    maxNativeZoom: maxZoom,
    interactive: true,
    attribution: collection.title,
  });
  layer.on("click", (event) => {
    L.popup().setLatLng(event.latlng).setContent(propertiesPopup(collection.title, event.layer.properties)).openOn(map);
  });
  const explain = () => {
    if (map.hasLayer(layer) && map.getZoom() < minZoom) {
      layerStatus(`„${collection.title}“ ist erst ab Zoomstufe ${minZoom} zu sehen; bitte hineinzoomen.`);
    }
  };
  layer.on("add", () => {
    map.on("zoomend", explain);
    explain();
  });
  layer.on("remove", () => map.off("zoomend", explain));
  return layer;
}

function itemsLayer(collection, colour) {
  const style = { color: colour, weight: 2, fillColor: colour, fillOpacity: 0.15 };
  const layer = L.geoJSON(null, {
    style,
    pointToLayer: (feature, latlng) => L.circleMarker(latlng, { ...style, radius: 5, fillOpacity: 0.6 }),
    onEachFeature: (feature, featureLayer) => featureLayer.bindPopup(() => propertiesPopup(collection.title, feature.properties)),
  });
  let controller = null;
  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const b = map.getBounds();
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
    const data = await api(
      `/ogc/collections/${encodeURIComponent(collection.id)}/items?f=json&limit=${ITEM_LIMIT}&bbox=${bbox}`,
      { signal: controller.signal },
    );
    layer.clearLayers();
    layer.addData(data);
    const shown = data.numberReturned ?? data.features.length;
    const matched = data.numberMatched ?? shown;
    layerStatus(
      matched > shown
        ? `„${collection.title}“: ${formatNumber(shown)} von ${formatNumber(matched)} Objekten im Ausschnitt gezeigt; für alle bitte hineinzoomen.`
        : `„${collection.title}“: ${formatNumber(shown)} Objekte im Ausschnitt.`,
    );
  }
  const reload = () => guarded(load);
  layer.on("add", () => {
    map.on("moveend", reload);
    reload();
  });
  layer.on("remove", () => {
    map.off("moveend", reload);
    if (controller) controller.abort();
  });
  return layer;
}

async function initLayers() {
  const fieldset = $("layers");
  const data = await api("/ogc/collections?f=json");
  const items = data.collections.map((collection, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const tiled = (collection.links || []).some((l) => String(l.rel).endsWith("tilesets-vector"));
    const id = `layer-${collection.id}`;
    const checkbox = el("input", { type: "checkbox", id, class: "form-check-input", "data-collection": collection.id });
    const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.backgroundColor = colour;
    swatch.style.borderColor = colour;
    let layer = null;
    checkbox.addEventListener("change", () =>
      guarded(async () => {
        if (checkbox.checked) {
          layer = layer || (tiled ? await vectorTileLayer(collection, colour) : itemsLayer(collection, colour));
          if (checkbox.checked) layer.addTo(map);
        } else if (layer) {
          map.removeLayer(layer);
          layerStatus(`„${collection.title}“ ausgeblendet.`);
        }
      }).then(() => {
        if (checkbox.checked && !layer) checkbox.checked = false;
      }),
    );
    return el(
      "div",
      { class: "form-check" },
      checkbox,
      el("label", { class: "form-check-label", for: id }, swatch, collection.title, el("span", { class: "layer-kind" }, tiled ? " (Kacheln)" : "")),
    );
  });
  $("layers-loading").remove();
  fieldset.append(...items);
}

// --- packages -----------------------------------------------------------------------------

function packageDownload(job, ...label) {
  const size = job.file ? ` (ZIP, ${formatBytes(job.file.size)})` : "";
  return [downloadLink(job.links.download, job.file ? job.file.name : "", ...label), size];
}

function packageItem(job) {
  const created = formatDateTime(job.created_at);
  const parts = [el("strong", {}, job.area_name), ` – ${created} – `, el("span", { class: `job-status job-${job.status}` }, JOB_STATUS[job.status] || job.status)];
  if (job.status === "succeeded" && job.links.download) {
    parts.push(" – ", ...packageDownload(job, "Herunterladen", hiddenText(` „${job.area_name}“ vom ${created}`)));
  } else if (job.status === "failed" && job.error) {
    parts.push(`: ${job.error}`);
  } else if (job.status === "running") {
    parts.push(` (${job.progress} %)`);
  }
  return el("li", { "data-package-id": job.id }, ...parts);
}

async function loadPackages() {
  const jobs = await api("/api/packages");
  $("packages-list").replaceChildren(...jobs.map(packageItem));
  $("packages-empty").hidden = jobs.length > 0;
  if (!state.job) {
    const unfinished = jobs.find((j) => j.status === "queued" || j.status === "running");
    if (unfinished) track(unfinished);
  }
}

function showJob(job) {
  const progress = $("job-progress");
  progress.value = job.progress;
  progress.setAttribute("aria-valuetext", `${job.progress} %, ${job.step}`);
  $("job-percent").textContent = `${job.progress} %`;
  const label = JOB_STATUS[job.status] || job.status;
  const step = !job.step || job.step.startsWith(label) ? job.step || label : `${label}: ${job.step}`;
  // the live region speaks on change only: no announcement per poll
  if ($("job-step").textContent !== step) $("job-step").textContent = step;
  const result = $("job-result");
  if (job.status === "succeeded") {
    result.replaceChildren(
      "Das Datenpaket ist fertig: ",
      ...packageDownload(job, "Datenpaket herunterladen", hiddenText(` „${job.area_name}“`)),
      job.cached ? " – aus einem vorhandenen Paket mit gleichem Inhalt." : "",
    );
  } else if (job.status === "failed") {
    result.textContent = "";
    showError(`Das Datenpaket konnte nicht erstellt werden: ${job.error || "unbekannter Fehler"}`);
  } else {
    result.textContent = "";
  }
}

function track(job) {
  clearTimeout(state.pollTimer);
  state.job = job;
  $("job").hidden = false;
  $("job-label").textContent = `Fortschritt des Datenpakets „${job.area_name}“`;
  showJob(job);
  const poll = async () => {
    if (state.job !== job) return;
    const current = await api(job.links.self).catch((error) => {
      showError(error);
      return null;
    });
    if (state.job !== job || current === null) return;
    showJob(current);
    if (current.status === "queued" || current.status === "running") {
      state.pollTimer = setTimeout(poll, POLL_MS);
    } else {
      state.job = null;
      guarded(loadPackages);
    }
  };
  if (job.status === "queued" || job.status === "running") state.pollTimer = setTimeout(poll, POLL_MS);
  else {
    state.job = null;
    guarded(loadPackages);
  }
}

function initCreate() {
  const button = $("create");
  let sending = false;
  button.addEventListener("click", () =>
    guarded(async () => {
      clearError();
      if (sending) return;
      const selection = state.selection;
      if (!selection) {
        showError("Bitte zuerst eine Gemeinde suchen, eine Datei hochladen oder ein Gebiet zeichnen.");
        $("search").focus();
        return;
      }
      const themes = [...document.querySelectorAll("input[name=theme]:checked")].map((i) => i.value);
      if (!themes.length) {
        showError("Bitte mindestens ein Thema ankreuzen.");
        document.querySelector("input[name=theme]").focus();
        return;
      }
      const body = selection.kind === "ags" ? { ags: selection.ags } : { area: selection.area, name: $("area-name").value.trim() || selection.name };
      body.themes = themes;
      if (!$("restricted-option").hidden && $("restricted").checked) body.restricted = true;
      sending = true;
      button.setAttribute("aria-busy", "true");
      try {
        track(await api("/api/packages", { method: "POST", json: body }));
      } finally {
        sending = false;
        button.removeAttribute("aria-busy");
      }
    }),
  );
}

// --- start --------------------------------------------------------------------------------

initSearch();
initUpload();
initDrawing();
initCreate();
$("packages-refresh").addEventListener("click", () => guarded(loadPackages));
guarded(initLayers);
initLogin((me) => {
  state.me = me;
  $("restricted-option").hidden = !(me.role === "planner" || me.role === "operator");
  if (state.job) {
    clearTimeout(state.pollTimer);
    state.job = null;
    $("job").hidden = true;
  }
  guarded(loadPackages);
});

