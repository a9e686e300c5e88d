import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { differences } from "../backup/helpers";
import { cliEnv, spawnCli, startCaseStack, type CaseStack, type CliOutcome } from "./harness";
import { seedKnownContent, type KnownContent } from "./known-content";
import { seconds } from "./results";
import {
  expectConverges,
  expectNoSecrets,
  expectNothingLost,
  runCase,
  type CaseGroup,
} from "./suite";

/**
 * The CLI as an operator runs it (issue 14, item 10), a real process: against the emulator it
 * prints no MetadataLookupWarning (it looks up no Google credentials), and against a Firestore
 * that cannot be reached it gives up within 15 s with one line. test/cli/firebase.test.ts has the
 * other commands.
 */

/** The operator's bound; the CLI's first call waits at most 8 s of it. */
const GIVE_UP_MS = 15_000;

/** The CLI's environment for this stack, without METADATA_SERVER_DETECTION (nothing silenced). */
function operatorEnv(stack: CaseStack, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { METADATA_SERVER_DETECTION: _silenced, ...env } = cliEnv(stack);
  return { ...env, ...extra };
}

/** stderr lines that are not JSON log entries. */
function noise(outcome: CliOutcome): string[] {
  return outcome.stderr.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("{"));
}

export const CLI_GROUP: CaseGroup = {
  cases: 2,
  register() {
    describe("CLI (a real process)", () => {
      let stack: CaseStack;
      let known: KnownContent;
      const outputs: string[] = [];

      beforeAll(async () => {
        stack = await startCaseStack("cli");
        known = await seedKnownContent(stack.db, stack.truth);
      });
      afterAll(() => stack?.close());

      it("run and history against the emulator", async () => {
        await runCase(
          "CLI",
          "CLI against the emulator",
          "`cli run --json` and `cli history` with the emulator and no METADATA_SERVER_DETECTION",
          "completed (exit 0); stderr only log lines, no MetadataLookupWarning",
          async (row) => {
            const env = operatorEnv(stack);
            const run = await spawnCli(["run", "--json"], env).done;
            const history = await spawnCli(["history"], env).done;
            outputs.push(run.stdout, run.stderr, history.stdout, history.stderr);
            row.finalStatus = `${run.result?.status ?? "?"} (exit ${run.code}); history exit ${history.code}`;
            expect(run.code).toBe(0);
            expect(run.result?.status).toBe("completed");
            expect(history.code).toBe(0);
            // Before: a MetadataLookupWarning on stderr, whatever the command.
            expect(`${run.stderr}${history.stderr}`).not.toContain("MetadataLookupWarning");
            expect(noise(run)).toEqual([]);
            expect(history.stderr).toBe("");
            expect(history.stdout).toMatch(/The 1 newest run\(s\)[\s\S]*completed/);
            expect(await differences(stack.db, stack.sandbox)).toEqual([]);
            row.notes =
              `the run wrote ${run.result?.written ?? "?"} documents; ${run.entries.length} log ` +
              "lines on stderr and nothing else; history listed the run";
            await expectNothingLost(row, stack, known);
            await expectConverges(row, stack, known);
            await expectNoSecrets(stack, outputs);
          },
        );
      });

      it("Firestore cannot be reached", async () => {
        await runCase(
          "CLI",
          "Firestore unreachable from the CLI",
          "`cli history` against a port nothing listens on, `cli status` against one that accepts and never answers",
          "exit 1 within 15 s, one line naming the emulator; then the same CLI runs against the emulator",
          async (row) => {
            const sockets: Socket[] = [];
            // Accepts connections and never says a word (a hung backend, a black-holing proxy).
            const silent: Server = createServer((socket) => sockets.push(socket));
            await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
            // Nothing listens here (an emulator that is not running).
            const probe = createServer();
            await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
            const refused = `127.0.0.1:${(probe.address() as AddressInfo).port}`;
            await new Promise((resolve) => probe.close(resolve));
            const hung = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
            try {
              const attempt = async (host: string, args: string[]) => {
                const started = performance.now();
                const outcome = await spawnCli(
                  args,
                  operatorEnv(stack, { FIRESTORE_EMULATOR_HOST: host }),
                ).done;
                return { host, outcome, ms: performance.now() - started };
              };
              // One after the other: two process starts at once skew the bound on a loaded machine.
              const tries = [await attempt(refused, ["history"]), await attempt(hung, ["status"])];
              row.finalStatus = tries
                .map((t) => `exit ${t.outcome.code} in ${seconds(t.ms)}`)
                .join("; ");
              for (const { host, outcome, ms } of tries) {
                outputs.push(outcome.stdout, outcome.stderr);
                // Before: about 45 s of the client's retries, then a gRPC message.
                expect(ms).toBeLessThan(GIVE_UP_MS);
                expect(outcome.code).toBe(1);
                expect(outcome.stdout).toBe("");
                expect(outcome.stderr).toBe(
                  `officernd-backup: the Firestore emulator at ${host} (FIRESTORE_EMULATOR_HOST) ` +
                    "did not answer within 8 s; is it running and reachable?\n",
                );
              }
              // Firestore back: the same CLI runs.
              const run = await spawnCli(["run", "--json"], operatorEnv(stack)).done;
              outputs.push(run.stdout, run.stderr);
              expect(run.result?.status).toBe("completed");
              expect(await differences(stack.db, stack.sandbox)).toEqual([]);
              row.runsToConverge = 1;
              row.finalStatus += `; then ${run.result?.status ?? "?"}`;
              row.notes =
                "one line each on stderr, nothing on stdout; no Firestore was touched meanwhile";
              await expectNothingLost(row, stack, known);
              await expectNoSecrets(stack, outputs);
            } finally {
              for (const socket of sockets) socket.destroy();
              await new Promise((resolve) => silent.close(resolve));
            }
          },
        );
      });
    });
  },
};
