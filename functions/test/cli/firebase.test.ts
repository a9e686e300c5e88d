import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { FIRST_CALL_TIMEOUT_MS } from "../../src/firebase";
import { baseEnv, GIVE_UP_MS, giveUpBoundMs, runTs, type ProcessResult } from "./run-cli";

/**
 * How the CLI reaches Firestore (src/firebase.ts), in its own process as an operator runs it:
 * against the emulator it looks up no Google credentials (so no MetadataLookupWarning on stderr,
 * even without METADATA_SERVER_DETECTION), and against a Firestore that does not answer it gives
 * up within 15 s with one line instead of retrying for ~45 s.
 */

let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("cli-firebase");
});
afterAll(() => fs.close());

/** The CLI with the emulator and nothing that would silence credential lookups. */
function cli(args: string[], extra: Record<string, string | undefined> = {}) {
  const env = baseEnv({
    GCLOUD_PROJECT: fs.projectId,
    METADATA_SERVER_DETECTION: undefined,
    ...extra,
  });
  // Killed (and the test failed) well after the bound, so a slow give-up shows as a failure.
  return runTs("src/cli.ts", args, env, GIVE_UP_MS + 10_000);
}

async function timed(run: Promise<ProcessResult>) {
  const started = performance.now();
  const result = await run;
  return { ...result, ms: performance.now() - started };
}

describe("against the emulator", () => {
  it.each([["history"], ["errors"], ["status", "--json"]])(
    "%s: stderr is empty (no MetadataLookupWarning), exit 0",
    async (...args) => {
      const result = await cli(args);
      expect(result.stderr).not.toContain("MetadataLookupWarning");
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
    },
  );

  it("without GCLOUD_PROJECT: exit 2, one line naming it, no credential lookup", async () => {
    const result = await cli(["history"], { GCLOUD_PROJECT: undefined });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "officernd-backup: GCLOUD_PROJECT: is required with FIRESTORE_EMULATOR_HOST " +
        "(the emulator's project, e.g. demo-officernd-backup)\n",
    );
  });
});

describe("against a Firestore that does not answer", () => {
  let silent: Server;
  const sockets: Socket[] = [];
  let refusedPort = 0;
  /** How long the same command takes against the emulator, start-up included, on this machine now. */
  let baselineMs = 0;
  beforeAll(async () => {
    const baseline = await timed(cli(["status"]));
    expect(baseline.code).toBe(0);
    baselineMs = baseline.ms;
    // Accepts connections and never says a word (a hung backend, a black-holing proxy).
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    // Nothing listens here (an emulator that is not running).
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    refusedPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it.each([
    ["refused", () => `127.0.0.1:${refusedPort}`, ["history"]],
    ["silent", () => `127.0.0.1:${(silent.address() as AddressInfo).port}`, ["status"]],
  ])("%s: exit 1 within 15 s, one line naming the emulator", async (_label, host, args) => {
    const result = await timed(cli(args, { FIRESTORE_EMULATOR_HOST: host() }));
    // Before: about 45 s of the client's retries, then a gRPC message.
    expect(result.ms).toBeLessThan(giveUpBoundMs(baselineMs, FIRST_CALL_TIMEOUT_MS));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      `officernd-backup: the Firestore emulator at ${host()} (FIRESTORE_EMULATOR_HOST) ` +
        "did not answer within 8 s; is it running and reachable?\n",
    );
  });
});
