// Shared by the pages: API calls with the planner's key, error messages, sign-in.

const KEY_STORAGE = "planungsdaten.apiKey";

export const ROLE_LABELS = {
  anonymous: "anonym",
  planner: "Planung",
  operator: "Betrieb",
};

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

function storeKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

const authListeners = [];

function keyRejected() {
  storeKey("");
  for (const listener of authListeners) listener();
}

async function detailOf(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg || String(d)).join("; ");
  } catch {
    // not JSON: the status text below has to do
  }
  return "";
}

export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// fetch `path` with the key; 4xx/5xx become ApiError with the service's German `detail`
export async function request(path, { method = "GET", json, body, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, credentials: "same-origin" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "Der Dienst ist nicht erreichbar. Bitte die Verbindung prüfen und erneut versuchen.");
  }
  if (response.ok) return response;
  const detail = await detailOf(response);
  if (response.status === 401) {
    const hadKey = Boolean(apiKey());
    keyRejected();
    throw new ApiError(
      401,
      (detail || "Der API-Schlüssel wurde nicht angenommen.") +
        (hadKey ? " Der Schlüssel wurde entfernt; Sie sind jetzt abgemeldet." : ""),
    );
  }
  throw new ApiError(response.status, detail || `Die Anfrage ist fehlgeschlagen (HTTP ${response.status}).`);
}

export async function api(path, options) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

// --- messages -----------------------------------------------------------------------------

export function showError(error) {
  const box = document.getElementById("error");
  const text = error instanceof Error ? error.message : String(error);
  box.textContent = "";
  const strong = document.createElement("strong");
  strong.textContent = "Fehler: ";
  box.append(strong, text);
  box.scrollIntoView({ block: "nearest" });
}

export function clearError() {
  document.getElementById("error").textContent = "";
}

// run `work`, showing what goes wrong; AbortError is no failure
export async function guarded(work) {
  try {
    return await work();
  } catch (error) {
    if (error.name !== "AbortError") showError(error);
    return undefined;
  }
}

// --- formatting ---------------------------------------------------------------------------

const NUMBER = new Intl.NumberFormat("de-DE");
const DATE_TIME = new Intl.DateTimeFormat("de-DE", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "Europe/Berlin",
});

export function formatNumber(value) {
  return value === null || value === undefined ? "–" : NUMBER.format(value);
}

export function formatDateTime(value) {
  return value ? DATE_TIME.format(new Date(value)) : "–";
}

export function formatBytes(bytes) {
  if (bytes < 1e6) return `${NUMBER.format(Math.max(1, Math.round(bytes / 1e3)))} kB`;
  return `${new Intl.NumberFormat("de-DE", { maximumFractionDigits: 1 }).format(bytes / 1e6)} MB`;
}

// an element with attributes and children (strings become text, never HTML)
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function hiddenText(text) {
  return el("span", { class: "visually-hidden" }, text);
}

// --- downloads ----------------------------------------------------------------------------

// A link to a file of the API. Anonymous callers are known by their cookie, so the plain
// link works; with a key the file is fetched with the Authorization header and handed over
// as an object URL (a link cannot carry the header).
export function downloadLink(href, fileName, ...label) {
  const link = el("a", { href, download: fileName || true, class: "download-link" }, ...label);
  link.addEventListener("click", async (event) => {
    if (!apiKey()) return;
    event.preventDefault();
    await guarded(async () => {
      const response = await request(href, {});
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const save = el("a", { href: url, download: fileName || "download.zip", class: "visually-hidden" });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    });
  });
  return link;
}

// --- sign-in ------------------------------------------------------------------------------

async function municipalityNames(codes) {
  const names = await Promise.all(
    codes.slice(0, 20).map(async (ags) => {
      try {
        const found = await api(`/api/municipalities?q=${encodeURIComponent(ags)}&limit=1`);
        return found.length && found[0].ags === ags ? `${found[0].name} (${ags})` : ags;
      } catch {
        return ags;
      }
    }),
  );
  return codes.length > 20 ? [...names, `… und ${codes.length - 20} weitere`] : names;
}

// Who is signed in: GET /api/me. A service without it knows anonymous callers only.
export async function whoAmI() {
  try {
    return await api("/api/me");
  } catch (error) {
    if (error.status === 404 && !apiKey()) return { role: "anonymous", name: "", ags: [] };
    throw error;
  }
}

// The sign-in form of a page. `onChange(me)` runs after every change of identity.
export function initLogin(onChange) {
  const details = document.getElementById("login");
  const form = document.getElementById("login-form");
  const input = document.getElementById("api-key");
  const logout = document.getElementById("logout");
  const state = document.getElementById("login-state");
  const summary = document.getElementById("login-summary");

  let refreshing = false;

  async function refresh() {
    refreshing = true;
    try {
      return await update();
    } finally {
      refreshing = false;
    }
  }

  async function update() {
    let me;
    try {
      me = await whoAmI();
    } catch (error) {
      showError(error);
      me = { role: "anonymous", name: "", ags: [] };
    }
    const signedIn = me.role !== "anonymous";
    logout.hidden = !apiKey();
    if (signedIn) {
      const role = ROLE_LABELS[me.role] || me.role;
      let text = `Angemeldet als ${me.name} (${role})`;
      if (me.ags && me.ags.length) text += `, Gemeinden: ${(await municipalityNames(me.ags)).join(", ")}`;
      state.textContent = `${text}.`;
      summary.textContent = `angemeldet als ${me.name}`;
    } else {
      state.textContent = "Nicht angemeldet. Ohne Schlüssel erkennt der Dienst diesen Browser an einem Cookie wieder.";
      summary.textContent = "nicht angemeldet";
    }
    onChange(me);
    return me;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const key = input.value.trim();
    if (!key) {
      showError("Bitte einen API-Schlüssel eingeben.");
      input.focus();
      return;
    }
    storeKey(key);
    input.value = "";
    await refresh();
  });
  logout.addEventListener("click", async () => {
    storeKey("");
    clearError();
    await refresh();
    input.focus();
  });
  // a key the service refused (401 on any call): show the signed-out state
  authListeners.push(() => {
    if (!refreshing) refresh();
  });
  if (details && apiKey()) details.open = false;
  return refresh();
}
