import { randomBytes } from "node:crypto";
import { Agent } from "node:http";
import { performance } from "node:perf_hooks";
import { readBackupMetadata } from "../../src/backup/metadata";
import { runBackup } from "../../src/backup/run";
import { listen, REALM_HEADER, type RunningServer } from "../../src/http";
import { backupStatusResponseSchema } from "../../src/status";
import { createProductApp } from "../../src/wiring";
import { converge, startCaseStack, STATUS_TOKEN, WEBHOOK_SECRET, type CaseStack } from "./harness";
import { captureKnown, seedKnownContent, type KnownContent } from "./known-content";
import { seconds, type ResultRow } from "./results";
import { signingKeysCase } from "./signing-keys-case";
import { httpCall, rawRequest } from "./sockets";
import {
  expectNoSecrets,
  expectNothingLost,
  expectOneOf,
  logEntries,
  runCase,
  tally,
  type CaseGroup,
} from "./suite";

/**
 * The product app (createProductApp, webhook route included) served by `listen` on 127.0.0.1:
 * malformed requests byte for byte, oversized ones, bad credentials, a load of status requests,
 * and admin requests while Google's signing keys cannot be fetched. Every case: no run started,
 * nothing lost, the status still healthy, and one run finds nothing to do.
 */

export const HTTP_GROUP: CaseGroup = {
  cases: 5,
  register() {
    describe("HTTP (the product app over a real socket)", () => {
      let stack: CaseStack;
      let known: KnownContent;
      let server: RunningServer;
      let baselineRunId = "";
      const responses: string[] = [];

      beforeAll(async () => {
        stack = await startCaseStack("http");
        known = await seedKnownContent(stack.db, stack.truth);
        const baseline = await runBackup(stack.deps(), { trigger: "schedule" });
        baselineRunId = baseline.runId;
        known = await captureKnown(stack.db, stack.truth);
        stack.extraSecrets.push(STATUS_TOKEN, WEBHOOK_SECRET);
        const app = createProductApp({
          db: stack.db,
          source: {
            ...stack.sandbox.env(),
            BACKUP_STATUS_TOKEN: STATUS_TOKEN,
            OFFICERND_WEBHOOK_SECRET: WEBHOOK_SECRET,
          },
        });
        server = await listen(app);
      });

      afterAll(async () => {
        await server?.close();
        await stack?.close();
      });

      /** Every HTTP case: no run started, nothing lost, status healthy, one run finds nothing to do. */
      async function afterHttp(row: ResultRow) {
        const status = await httpCall(`${server.url}/v1/office-rnd/backup-status`, {
          headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
        });
        expect(status.status).toBe(200);
        const body = backupStatusResponseSchema.parse(JSON.parse(status.body));
        expect(body.backup.status).toBe("completed");
        expect((await readBackupMetadata(stack.db))?.runId).toBe(baselineRunId);
        expect(logEntries().filter((e) => e.event === "http_error")).toEqual([]);
        await expectNothingLost(row, stack, known);
        const converged = await converge(stack);
        row.runsToConverge = converged.runs;
        expect(converged.runs).toBe(1);
        expect(converged.last?.written).toBe(0);
        baselineRunId = converged.last?.runId ?? baselineRunId;
        await expectNoSecrets(stack, responses);
      }

      it("malformed paths and methods", async () => {
        await runCase(
          "HTTP",
          "malformed paths and methods",
          "bad encodings, dot segments, NUL, unknown and unsupported methods, garbage",
          "4xx for each, JSON from the app, never 5xx",
          async (row) => {
            const auth = `Authorization: Bearer ${STATUS_TOKEN}\r\n`;
            const req = (line: string, headers = auth) =>
              `${line}\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`;
            const cases: [string, string, readonly (number | null)[]][] = [
              ["bad percent-encoding", req("GET /v1/office-rnd/%E0%A4%A HTTP/1.1"), [404]],
              ["trailing %", req("GET /v1/office-rnd/backup-status% HTTP/1.1"), [404]],
              ["encoded NUL", req("GET /v1/office-rnd/backup-status%00 HTTP/1.1"), [404]],
              ["dot segments", req("GET /v1/office-rnd/../../etc/passwd HTTP/1.1"), [404]],
              ["double slashes", req("GET //v1//office-rnd//backup-status HTTP/1.1"), [404]],
              ["unknown route", req("GET /v1/office-rnd/members HTTP/1.1"), [404]],
              ["bad limit", req("GET /v1/office-rnd/backups?limit=%ZZ HTTP/1.1"), [400]],
              ["limit twice", req("GET /v1/office-rnd/backups?limit=1&limit=2 HTTP/1.1"), [400]],
              ["DELETE", req("DELETE /v1/office-rnd/backup-status HTTP/1.1"), [405]],
              ["PUT", req("PUT /v1/office-rnd/backups HTTP/1.1"), [405]],
              ["PATCH", req("PATCH /v1/office-rnd/backup HTTP/1.1"), [405]],
              ["GET on a POST route", req("GET /v1/office-rnd/backup HTTP/1.1"), [405]],
              ["GET on the webhook", req("GET /v1/office-rnd/webhook HTTP/1.1"), [405]],
              ["unknown method", req("BREW /v1/office-rnd/backup-status HTTP/1.1"), [400]],
              ["lower-case method", req("get /v1/office-rnd/backup-status HTTP/1.1"), [400]],
              ["no HTTP version", "GET /v1/office-rnd/backup-status\r\n\r\n", [400, 401, null]],
              ["binary garbage", "\u0000\u0001\u0002\u00ff\r\n\r\n", [400, null]],
              ["CONNECT", req("CONNECT 127.0.0.1:443 HTTP/1.1"), [400, 405, null]],
            ];
            const statuses: (number | null)[] = [];
            for (const [label, text, allowed] of cases) {
              const answer = await rawRequest(server.port, text);
              responses.push(`${answer.head}\n${answer.body}`);
              statuses.push(answer.status);
              expectOneOf(label, answer.status, allowed);
              if (answer.status !== null && /content-type: application\/json/i.test(answer.head)) {
                expect(JSON.parse(answer.body)).toEqual({
                  error: expect.objectContaining({
                    code: expect.any(String) as unknown,
                  }) as unknown,
                });
              }
            }
            row.finalStatus = tally(statuses);
            row.notes = `${cases.length} requests; the server answered the next request normally`;
            await afterHttp(row);
          },
        );
      });

      it("oversized headers and bodies", async () => {
        await runCase(
          "HTTP",
          "oversized headers and bodies",
          "20 KB header, 15 KB bearer token, 8 MB bodies to the status, backup and webhook routes",
          "4xx, or a reset for a body a route does not read; never 5xx; memory bounded",
          async (row) => {
            const rssBefore = process.memoryUsage().rss;
            const statuses: (number | null)[] = [];
            const big = (bytes: number) => Buffer.alloc(bytes, 0x61);
            const header = await rawRequest(
              server.port,
              `GET /v1/office-rnd/backup-status HTTP/1.1\r\nHost: x\r\nX-Pad: ${"a".repeat(20_000)}\r\nConnection: close\r\n\r\n`,
            );
            responses.push(header.head);
            statuses.push(header.status);
            expect(header.status).toBe(431);
            const eightMiB = big(8 * 2 ** 20);
            // [label, path, request, answers allowed]; null: the server reset a connection whose
            // body it would not read, while the client was still sending (nothing buffered).
            const calls: [string, string, Parameters<typeof httpCall>[1], (number | null)[]][] = [
              [
                "15 KB bearer token",
                "/v1/office-rnd/backup-status",
                { headers: { Authorization: `Bearer ${"t".repeat(15_000)}` } },
                [401],
              ],
              [
                "8 MB body, no credentials",
                "/v1/office-rnd/backup",
                { method: "POST", body: eightMiB, headers: { "Content-Type": "application/json" } },
                [401, null],
              ],
              [
                "8 MB body to the status route",
                "/v1/office-rnd/backup-status",
                { body: eightMiB, headers: { Authorization: `Bearer ${STATUS_TOKEN}` } },
                [200, null],
              ],
              [
                "8 MB body to the webhook (1 MB limit)",
                "/v1/office-rnd/webhook",
                {
                  method: "POST",
                  body: eightMiB,
                  headers: {
                    "Content-Type": "application/json",
                    "X-Officernd-Signature": "t=1,signature=00",
                  },
                },
                [401, 413, null],
              ],
            ];
            for (const [label, path, options, allowed] of calls) {
              let status: number | null;
              try {
                const answer = await httpCall(`${server.url}${path}`, options);
                responses.push(JSON.stringify({ headers: answer.headers, body: answer.body }));
                status = answer.status;
              } catch {
                status = null; // reset while sending: see the table above
              }
              statuses.push(status);
              expectOneOf(label, status, allowed);
            }
            // What the server itself answered (or 499: the client was gone): never a 5xx.
            const served = logEntries()
              .filter((e) => e.event === "http_request")
              .map((e) => Number(e.status));
            expect(served.filter((code) => code >= 500)).toEqual([]);
            const growthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
            expect(growthMiB).toBeLessThan(128);
            row.finalStatus = tally(statuses);
            row.notes = `bodies not buffered by routes that do not read them; RSS grew ${Math.max(0, Math.round(growthMiB))} MiB`;
            await afterHttp(row);
          },
        );
      });

      it("missing or wrong tokens", async () => {
        await runCase(
          "HTTP",
          "missing or wrong tokens",
          "12 kinds of missing, malformed, altered or misplaced credentials",
          "401 with WWW-Authenticate (403 for the status token on the admin route), no data",
          async (row) => {
            const altered = `${STATUS_TOKEN.slice(0, -1)}${STATUS_TOKEN.endsWith("a") ? "b" : "a"}`;
            const statusPath = "/v1/office-rnd/backup-status";
            const cases: [string, string, Record<string, string>, number, string?][] = [
              ["no Authorization", statusPath, {}, 401],
              ["empty Authorization", statusPath, { Authorization: "" }, 401],
              ["Basic scheme", statusPath, { Authorization: "Basic dXNlcjpwYXNz" }, 401],
              ["Bearer without a token", statusPath, { Authorization: "Bearer" }, 401],
              [
                "a random token",
                statusPath,
                { Authorization: `Bearer ${randomBytes(20).toString("hex")}` },
                401,
              ],
              [
                "the token with one character changed",
                statusPath,
                { Authorization: `Bearer ${altered}` },
                401,
              ],
              [
                "a prefix of the token",
                statusPath,
                { Authorization: `Bearer ${STATUS_TOKEN.slice(0, -4)}` },
                401,
              ],
              [
                "the token upper-cased",
                statusPath,
                { Authorization: `Bearer ${STATUS_TOKEN.toUpperCase()}` },
                401,
              ],
              [
                "the token plus a second word",
                statusPath,
                { Authorization: `Bearer ${STATUS_TOKEN} x` },
                401,
              ],
              [
                "the token in the query string",
                `${statusPath}?access_token=${STATUS_TOKEN}`,
                {},
                401,
              ],
              ["the token as a cookie", statusPath, { Cookie: `token=${STATUS_TOKEN}` }, 401],
              [
                "status token on the admin route",
                "/v1/office-rnd/backup",
                { Authorization: `Bearer ${STATUS_TOKEN}` },
                403,
                "POST",
              ],
            ];
            const statuses: number[] = [];
            for (const [label, path, headers, expected, method] of cases) {
              const answer = await httpCall(`${server.url}${path}`, {
                method: method ?? "GET",
                headers,
              });
              responses.push(JSON.stringify({ headers: answer.headers, body: answer.body }));
              statuses.push(answer.status);
              expect({ label, status: answer.status }).toEqual({ label, status: expected });
              if (expected === 401) expect(answer.headers["www-authenticate"]).toBe(REALM_HEADER);
              expect(answer.body).not.toMatch(/currentStats|syncHealth|runs/);
            }
            // Positive controls: the scheme is case-insensitive; the right token reads.
            for (const scheme of ["Bearer", "bearer"]) {
              const ok = await httpCall(`${server.url}${statusPath}`, {
                headers: { Authorization: `${scheme} ${STATUS_TOKEN}` },
              });
              expect(ok.status).toBe(200);
            }
            expect(
              logEntries().filter((e) => e.event === "http_auth_rejected").length,
            ).toBeGreaterThanOrEqual(cases.length - 1);
            row.finalStatus = tally(statuses);
            row.notes = "each refusal logged with a reason code, never the credential";
            await afterHttp(row);
          },
        );
      });

      it("1,000 concurrent status requests", async () => {
        await runCase(
          "HTTP",
          "1,000 concurrent status requests",
          "1,000 GET backup-status over 50 keep-alive sockets",
          "1,000 × 200, each a valid status response",
          async (row) => {
            const agent = new Agent({ keepAlive: true, maxSockets: 50 });
            try {
              const started = performance.now();
              const answers = await Promise.all(
                Array.from({ length: 1_000 }, () =>
                  httpCall(`${server.url}/v1/office-rnd/backup-status`, {
                    agent,
                    headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
                  }),
                ),
              );
              const wall = performance.now() - started;
              const statuses = answers.map((a) => a.status);
              row.finalStatus = tally(statuses);
              expect(statuses.filter((s) => s !== 200)).toEqual([]);
              for (const answer of answers) {
                const body = backupStatusResponseSchema.parse(JSON.parse(answer.body));
                expect(body.backup.status).toBe("completed");
              }
              responses.push(answers[0]?.body ?? "");
              // Time each request spent in the app (from its http_request log entry): client-side
              // latency would mostly be the wait for one of the 50 sockets.
              const inApp = logEntries()
                .filter((e) => e.event === "http_request" && e.status === 200)
                .map((e) => Number(e.durationMs))
                .sort((a, b) => a - b);
              expect(inApp.length).toBe(1_000);
              const pct = (p: number) =>
                Math.round(inApp[Math.min(inApp.length - 1, Math.floor(p * inApp.length))] ?? 0);
              row.notes =
                `${seconds(wall)} wall, ${Math.round(1_000 / (wall / 1_000))} requests/s; time in the ` +
                `app p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, max ${pct(1)} ms (50 at a time)`;
            } finally {
              agent.destroy();
            }
            await afterHttp(row);
          },
        );
      });

      signingKeysCase(() => ({ stack, afterHttp, responses }));
    });
  },
};
