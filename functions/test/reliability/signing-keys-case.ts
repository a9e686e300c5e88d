import { deleteApp, initializeApp } from "firebase-admin/app";
import { listen } from "../../src/http";
import { createProductApp } from "../../src/wiring";
import { fakeGoogleKeys, idToken, KEYS_PROJECT } from "../http/google-keys";
import { STATUS_TOKEN, type CaseStack } from "./harness";
import type { ResultRow } from "./results";
import { httpCall, type HttpAnswer } from "./sockets";
import { logEntries, runCase, tally } from "./suite";

/**
 * Admin requests while Google's token signing keys cannot be fetched (issue 14, item 9): the
 * product app with its real firebase-admin verifier, the key fetch refused (test/http/google-keys.ts).
 * Before, each such request got a 401 `id_token_rejected` after 25–30 s of refetching the keys.
 */

const REQUESTS = 5;

export interface HttpContext {
  stack: CaseStack;
  /** Every HTTP case's closing checks (no run started, nothing lost, one run finds nothing). */
  afterHttp: (row: ResultRow) => Promise<void>;
  /** Response texts the secrets check reads. */
  responses: string[];
}

export function signingKeysCase(context: () => HttpContext): void {
  it("Google's signing keys unreachable", async () => {
    await runCase(
      "HTTP",
      "signing keys unreachable",
      `${REQUESTS} POST backup and ${REQUESTS} GET status with a valid admin ID token; Google's key fetch refused`,
      "500 auth_unavailable at once (not a slow 401), keys fetched once, no run started; the status token still reads",
      async (row) => {
        const { stack, afterHttp, responses } = context();
        const keys = await fakeGoogleKeys();
        // The default app: the product's verifier checks ID tokens with firebase-admin's getAuth().
        const admin = initializeApp({ projectId: KEYS_PROJECT });
        let runsStarted = 0;
        const server = await listen(
          createProductApp({
            db: stack.db,
            source: { ...stack.sandbox.env(), BACKUP_STATUS_TOKEN: STATUS_TOKEN },
            startManualBackup: () => {
              runsStarted += 1;
              return Promise.reject(new Error("no run may start without a checked token"));
            },
          }),
        );
        try {
          const token = idToken({ admin: true });
          stack.extraSecrets.push(token);
          const answers: HttpAnswer[] = [];
          for (let i = 0; i < REQUESTS; i++) {
            for (const [method, path] of [
              ["POST", "/v1/office-rnd/backup"],
              ["GET", "/v1/office-rnd/backup-status"],
            ] as const) {
              answers.push(
                await httpCall(`${server.url}${path}`, {
                  method,
                  headers: { Authorization: `Bearer ${token}` },
                }),
              );
            }
          }
          const status = await httpCall(`${server.url}/v1/office-rnd/backup-status`, {
            headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
          });
          responses.push(...[...answers, status].map((a) => JSON.stringify(a)));
          row.finalStatus = tally([...answers.map((a) => a.status), status.status]);
          for (const a of answers) {
            expect({ status: a.status, body: JSON.parse(a.body) as unknown }).toMatchObject({
              status: 500,
              body: { error: { code: "auth_unavailable" } },
            });
            expect(a.headers["www-authenticate"]).toBeUndefined();
          }
          const slowest = Math.max(...answers.map((a) => a.ms));
          expect(slowest).toBeLessThan(2_000);
          // The failure is remembered: not one fetch per request.
          expect(keys.fetches).toBe(1);
          expect(runsStarted).toBe(0);
          expect(status.status).toBe(200);
          expect(logEntries().filter((e) => e.event === "http_auth_unavailable")).toHaveLength(
            answers.length,
          );
          row.notes =
            `${answers.length} admin requests, each answered in ${Math.round(slowest)} ms or less; ` +
            "the keys fetched once for all of them; no run started";
          await afterHttp(row);
        } finally {
          await server.close();
          await keys.close();
          await deleteApp(admin);
        }
      },
    );
  });
}
