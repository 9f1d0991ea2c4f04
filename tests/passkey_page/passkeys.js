// The browser half of the passkey ceremonies (WebAuthn Level 3), against Gatehouse's API:
// register a passkey with the access token the page was given, sign out, sign in with the passkey (usernameless).
// Options come as PublicKeyCredential*OptionsJSON and answers go back as credential.toJSON() (section 5.1).
// Each step ends by writing `data-state` and a line on #status, which the test waits for.
"use strict";

const params = new URLSearchParams(location.search);
const api = params.get("api");
const state = { accessToken: params.get("token") };
window.gatehouse = state;

const statusLine = document.getElementById("status");
document.getElementById("api").textContent = api;

function show(name, detail) {
  statusLine.dataset.state = name;
  statusLine.textContent = detail ? `${name}: ${detail}` : name;
}

async function call(path, { method = "POST", body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(api + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

function refusal(answer) {
  return `${answer.status} ${answer.body && (answer.body.type || answer.body.title)}`;
}

async function registerPasskey() {
  const options = await call("/api/v1/users/me/passkeys/options", { token: state.accessToken });
  if (options.status !== 200) return show("refused", refusal(options));
  const credential = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.body.public_key),
  });
  const created = await call("/api/v1/users/me/passkeys", {
    token: state.accessToken,
    body: { ceremony: options.body.ceremony, name: "Chromium virtual authenticator", credential: credential.toJSON() },
  });
  if (created.status !== 201) return show("refused", refusal(created));
  show("registered", `passkey ${created.body.id} "${created.body.name}"`);
}

async function signOut() {
  const answer = await call("/api/v1/auth/logout", { token: state.accessToken });
  if (answer.status !== 204) return show("refused", refusal(answer));
  state.accessToken = null;
  document.getElementById("who").textContent = "nobody";
  show("signed-out");
}

async function signIn() {
  const options = await call("/api/v1/auth/passkey/options");
  if (options.status !== 200) return show("refused", refusal(options));
  const credential = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.body.public_key),
  });
  const answer = await call("/api/v1/auth/passkey", {
    body: { ceremony: options.body.ceremony, credential: credential.toJSON() },
  });
  if (answer.status !== 200) return show("refused", refusal(answer));
  state.accessToken = answer.body.access_token;
  const me = await call("/api/v1/users/me", { method: "GET", token: state.accessToken });
  document.getElementById("who").textContent = me.body.email;
  show("signed-in", `${me.body.email}, ${answer.body.token_type} token for ${answer.body.expires_in} s`);
}

function onClick(id, step) {
  document.getElementById(id).addEventListener("click", () => {
    show("working", id);
    step().catch((error) => show("error", `${error.name}: ${error.message}`));
  });
}

onClick("register", registerPasskey);
onClick("sign-out", signOut);
onClick("sign-in", signIn);
