import "uplot/dist/uPlot.min.css";
import "./style.css";
import { loadSnapshot, Unauthorized } from "./api";
import {
  clearCredential,
  firebaseApiKey,
  loadCredential,
  saveCredential,
  signInWithPassword,
  SignInError,
  type Credential,
} from "./session";
import { clearDashboard, renderDashboard } from "./view";

/**
 * The operators' dashboard: sign in (status token, or Firebase Auth for admins), then the status,
 * alerts, charts and recent runs, refreshed every minute. A refused credential is forgotten and
 * every figure removed: a wrong token shows an error and no data.
 */

const REFRESH_MS = 60_000;

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
};

const ui = {
  signIn: $("sign-in"),
  tokenForm: $<HTMLFormElement>("token-form"),
  token: $<HTMLInputElement>("status-token"),
  adminForm: $<HTMLFormElement>("admin-form"),
  email: $<HTMLInputElement>("admin-email"),
  password: $<HTMLInputElement>("admin-password"),
  dashboard: $("dashboard"),
  error: $("error"),
  signOut: $<HTMLButtonElement>("sign-out"),
  who: $("who"),
};

let timer: number | undefined;

function showError(message: string | null): void {
  ui.error.textContent = message ?? "";
  ui.error.hidden = message === null;
}

function signedOut(message: string | null): void {
  window.clearInterval(timer);
  clearCredential();
  clearDashboard(ui.dashboard);
  ui.dashboard.hidden = true;
  ui.signOut.hidden = true;
  ui.who.textContent = "";
  ui.signIn.hidden = false;
  showError(message);
}

async function refresh(credential: Credential): Promise<void> {
  try {
    const snapshot = await loadSnapshot(credential);
    showError(null);
    ui.signIn.hidden = true;
    ui.dashboard.hidden = false;
    ui.signOut.hidden = false;
    ui.who.textContent = credential.kind === "token" ? "status token" : "admin";
    renderDashboard(ui.dashboard, snapshot);
  } catch (error) {
    if (error instanceof Unauthorized) {
      signedOut(
        credential.kind === "token"
          ? "That status token was not accepted. Check it and sign in again."
          : "The admin session was not accepted (an admin needs the custom claim admin: true).",
      );
    } else if (error instanceof SignInError) {
      signedOut(error.message);
    } else {
      // The server or the network: keep what is shown, say why it is not fresh.
      showError(`Could not refresh: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

async function use(credential: Credential): Promise<void> {
  saveCredential(credential);
  await refresh(credential);
  window.clearInterval(timer);
  timer = window.setInterval(() => {
    const current = loadCredential();
    if (current) void refresh(current);
  }, REFRESH_MS);
}

ui.tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = ui.token.value.trim();
  ui.token.value = "";
  if (token !== "") void use({ kind: "token", token });
});

ui.signOut.addEventListener("click", () => signedOut(null));

async function start(): Promise<void> {
  const apiKey = await firebaseApiKey();
  if (apiKey !== null) {
    ui.adminForm.hidden = false;
    ui.adminForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const password = ui.password.value;
      ui.password.value = "";
      signInWithPassword(apiKey, ui.email.value.trim(), password).then(use, (error: unknown) =>
        signedOut(error instanceof Error ? error.message : String(error)),
      );
    });
  }
  const credential = loadCredential();
  if (credential) await use(credential);
  else signedOut(null);
}

void start();
