import type { Response } from "supertest";
import { InvalidIdTokenError, type IdTokenVerifier } from "../../src/http";
import { onLogEntry, setLogSink, type LogEntry } from "../../src/logs";

/** 40 characters; loadStatusConfig requires 16 or more. */
export const STATUS_TOKEN = "st-3c1f9a7e5b2d4f60a8e7c9b1d3f5a7c9e1b3d5";
/** JWT-shaped strings the injected verifier knows. */
export const ADMIN_ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJ1aWQiOiJhZG1pbi0xIn0.c2lnLWFkbWlu";
export const USER_ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJ1aWQiOiJ1c2VyLTEifQ.c2lnLXVzZXI";
export const EXPIRED_ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJ1aWQiOiJvbGQifQ.c2lnLWV4cGlyZWQ";
export const FORGED_ID_TOKEN = "eyJhbGciOiJub25lIn0.eyJhZG1pbiI6dHJ1ZX0.";
/** The verifier cannot check this one (its key server is down): a 500, not a 401. */
export const UNCHECKABLE_ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJ1aWQiOiJ4In0.c2lnLWRvd24";

/** Everything secret a response or log line must never contain. */
export const SECRETS = [
  STATUS_TOKEN,
  ADMIN_ID_TOKEN,
  USER_ID_TOKEN,
  EXPIRED_ID_TOKEN,
  FORGED_ID_TOKEN,
  UNCHECKABLE_ID_TOKEN,
];

/** Stands in for firebase-admin's getAuth().verifyIdToken, with its error codes. */
export const fakeVerifyIdToken: IdTokenVerifier = (token) => {
  switch (token) {
    case ADMIN_ID_TOKEN:
      return Promise.resolve({ uid: "admin-1", admin: true });
    case USER_ID_TOKEN:
      return Promise.resolve({ uid: "user-1" });
    case EXPIRED_ID_TOKEN:
      return Promise.reject(
        Object.assign(new Error(`Firebase ID token has expired: ${token}`), {
          code: "auth/id-token-expired",
        }),
      );
    case UNCHECKABLE_ID_TOKEN:
      return Promise.reject(new Error(`getaddrinfo EAI_AGAIN www.googleapis.com (${token})`));
    default:
      return Promise.reject(new InvalidIdTokenError());
  }
};

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Captures every log entry (and keeps firebase-functions' logger quiet) for one test file. */
export function captureLogs(): { entries: LogEntry[]; stop(): void } {
  const entries: LogEntry[] = [];
  setLogSink(() => {});
  const unsubscribe = onLogEntry((e) => entries.push(e));
  return {
    entries,
    stop() {
      unsubscribe();
      setLogSink(null);
    },
  };
}

/** A response as text: status line, every header, body. */
export function responseText(res: Response): string {
  return [String(res.status), JSON.stringify(res.headers), res.text ?? ""].join("\n");
}

export function expectNoSecrets(texts: readonly string[]): void {
  for (const text of texts) {
    for (const secret of SECRETS) {
      expect(text.includes(secret)).toBe(false);
      // Nor a recognizable part of one.
      expect(text.includes(secret.slice(-16))).toBe(false);
    }
  }
}
