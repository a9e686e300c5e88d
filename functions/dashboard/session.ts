/**
 * Who the page signs in as, kept in sessionStorage only (gone when the tab closes, never in a
 * URL, never in localStorage or a cookie): the status token, or a Firebase Auth ID token of an
 * admin with its refresh token.
 */

export type Credential =
  | { kind: "token"; token: string }
  | { kind: "firebase"; apiKey: string; idToken: string; refreshToken: string; expiresAt: number };

const KEY = "officernd-backup.credential";

export function loadCredential(): Credential | null {
  const raw = sessionStorage.getItem(KEY);
  if (raw === null) return null;
  try {
    const value = JSON.parse(raw) as Partial<Credential> | null;
    if (value?.kind === "token" && typeof value.token === "string") return value as Credential;
    if (value?.kind === "firebase" && typeof value.idToken === "string") return value as Credential;
  } catch {
    // Not ours: forget it.
  }
  sessionStorage.removeItem(KEY);
  return null;
}

export function saveCredential(credential: Credential): void {
  sessionStorage.setItem(KEY, JSON.stringify(credential));
}

export function clearCredential(): void {
  sessionStorage.removeItem(KEY);
}

/** The page's Firebase web config, where Hosting serves it (its reserved URL); null elsewhere. */
export async function firebaseApiKey(): Promise<string | null> {
  try {
    const answer = await fetch("/__/firebase/init.json", { cache: "no-store" });
    if (!answer.ok) return null;
    const config = (await answer.json()) as { apiKey?: unknown } | null;
    return typeof config?.apiKey === "string" && config.apiKey !== "" ? config.apiKey : null;
  } catch {
    return null;
  }
}

/** Google's Identity Toolkit and token endpoints: the only origins besides 'self' the CSP allows. */
const IDENTITY = "https://identitytoolkit.googleapis.com/v1";
const SECURE_TOKEN = "https://securetoken.googleapis.com/v1";

/** Refreshed this long before it expires (ID tokens live an hour). */
const REFRESH_MARGIN_MS = 5 * 60_000;

export class SignInError extends Error {}

/** Email and password sign-in (Firebase Auth's REST API; no SDK to ship). */
export async function signInWithPassword(
  apiKey: string,
  email: string,
  password: string,
): Promise<Credential> {
  const answer = await fetch(
    `${IDENTITY}/accounts:signInWithPassword?key=${encodeURIComponent(apiKey)}`,
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password, returnSecureToken: true }),
    },
  );
  const body = (await answer.json().catch(() => null)) as {
    idToken?: string;
    refreshToken?: string;
    expiresIn?: string;
    error?: { message?: string };
  } | null;
  if (!answer.ok || !body?.idToken || !body.refreshToken) {
    const reason = body?.error?.message ?? `HTTP ${answer.status}`;
    throw new SignInError(`Firebase sign-in failed: ${reason.replace(/_/g, " ").toLowerCase()}`);
  }
  return {
    kind: "firebase",
    apiKey,
    idToken: body.idToken,
    refreshToken: body.refreshToken,
    expiresAt: Date.now() + Number(body.expiresIn ?? "3600") * 1000,
  };
}

/** A fresh ID token when the one held is about to expire. */
async function refreshed(
  credential: Extract<Credential, { kind: "firebase" }>,
): Promise<Credential> {
  const answer = await fetch(`${SECURE_TOKEN}/token?key=${encodeURIComponent(credential.apiKey)}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: credential.refreshToken,
    }),
  });
  const body = (await answer.json().catch(() => null)) as {
    id_token?: string;
    refresh_token?: string;
    expires_in?: string;
  } | null;
  if (!answer.ok || !body?.id_token)
    throw new SignInError("the admin session expired; sign in again");
  const next: Credential = {
    ...credential,
    idToken: body.id_token,
    refreshToken: body.refresh_token ?? credential.refreshToken,
    expiresAt: Date.now() + Number(body.expires_in ?? "3600") * 1000,
  };
  saveCredential(next);
  return next;
}

/** The bearer value to send now. */
export async function bearer(credential: Credential): Promise<string> {
  if (credential.kind === "token") return credential.token;
  const current =
    credential.expiresAt - Date.now() < REFRESH_MARGIN_MS
      ? await refreshed(credential)
      : credential;
  return current.kind === "firebase" ? current.idToken : current.token;
}
