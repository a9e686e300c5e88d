import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { FIRST_CALL_TIMEOUT_MS } from "../../src/firebase";
import { differences } from "../backup/helpers";
import { giveUpBoundMs } from "../cli/run-cli";
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
          "`cli status` against a Firestore that accepts connections and never answers (a hung backend)",
          "exit 1 within 15 s, one line naming the emulator; then the same CLI reads the emulator",
          async (row) => {
            const sockets: Socket[] = [];
            // Accepts connections and never says a word (a hung backend, a black-holing proxy).
            const silent: Server = createServer((socket) => sockets.push(socket));
            await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
            const hung = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
            try {
              // The same command against the emulator: start-up on this machine now.
              const baselineStarted = performance.now();
              const baseline = await spawnCli(["status"], operatorEnv(stack)).done;
              const baselineMs = performance.now() - baselineStarted;
              expect(baseline.code).toBe(0);
              const started = performance.now();
              const outcome = await spawnCli(
                ["status"],
                operatorEnv(stack, { FIRESTORE_EMULATOR_HOST: hung }),
              ).done;
              const ms = performance.now() - started;
              outputs.push(outcome.stdout, outcome.stderr);
              row.finalStatus = `exit ${outcome.code} in ${seconds(ms)}`;
              // Before: about 45 s of the client's retries, then a gRPC message.
              expect(ms).toBeLessThan(giveUpBoundMs(baselineMs, FIRST_CALL_TIMEOUT_MS));
              expect(outcome.code).toBe(1);
              expect(outcome.stdout).toBe("");
              expect(outcome.stderr).toBe(
                `officernd-backup: the Firestore emulator at ${hung} (FIRESTORE_EMULATOR_HOST) ` +
                  "did not answer within 8 s; is it running and reachable?\n",
              );
              // Firestore back: the CLI reads it.
              const back = await spawnCli(["history"], operatorEnv(stack)).done;
              outputs.push(back.stdout, back.stderr);
              expect(back.code).toBe(0);
              row.finalStatus += `; then exit ${back.code}`;
              row.notes =
                "one line on stderr, nothing on stdout (test/cli/firebase.test.ts: a refused port too)";
              await expectNothingLost(row, stack, known);
              await expectConverges(row, stack, known);
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
