import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";
import { firestoreJarForFirebaseTools } from "./firestore-jar";
import { spawnGuarded, type GuardedProcess } from "./guarded-process";

/**
 * The Firebase emulator suite (`firebase emulators:start`) with the firebase-tools this
 * repository pins (a dev dependency of the root package), run the way it works offline and on
 * the runtime production uses:
 *
 * - Node 24 runs the CLI. firebase-tools 14 starts the functions' workers with the Node that runs
 *   the CLI ("Using node@24 from host") unless `functions/node_modules/node` matches the runtime,
 *   a lookup that never succeeds in 14.x (it starts its search in `node_modules` itself), so the
 *   CLI's own Node is what counts. The root package's `node` dev dependency is Node 24.
 * - FIRESTORE_EMULATOR_BINARY_PATH points at a runnable emulator JAR (firestore-jar.ts), so
 *   firebase-tools does not try to download one.
 *
 * `npm run emulators` (this file's main) runs it for the repository itself; the end-to-end test
 * uses startEmulatorSuite on a copy of the project.
 */

export const REPO_ROOT = join(__dirname, "..", "..");

/** firebase-tools' CLI script (run it with nodeForFunctions()). */
export function firebaseCli(): string {
  const manifest = require.resolve("firebase-tools/package.json", { paths: [REPO_ROOT] });
  const { bin } = z
    .object({ bin: z.object({ firebase: z.string() }) })
    .parse(JSON.parse(readFileSync(manifest, "utf8")));
  return join(dirname(manifest), bin.firebase);
}

/** Node 24 from the root package's `node` dev dependency; else the Node running this. */
export function nodeForFunctions(): string {
  const bundled = join(REPO_ROOT, "node_modules", ".bin", "node");
  return existsSync(bundled) ? bundled : process.execPath;
}

/** Variables that would point the CLI or its workers at something else than the suite. */
const FOREIGN_EMULATOR_VARIABLES = [
  "FIRESTORE_EMULATOR_HOST",
  "FIREBASE_AUTH_EMULATOR_HOST",
  "CLOUD_TASKS_EMULATOR_HOST",
  "FUNCTIONS_EMULATOR_HOST",
  "FIREBASE_EMULATOR_HUB",
];

export function emulatorSuiteEnv(launcherDir: string, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of FOREIGN_EMULATOR_VARIABLES) delete env[name];
  const jar = firestoreJarForFirebaseTools(launcherDir);
  if (jar !== null) env.FIRESTORE_EMULATOR_BINARY_PATH = jar;
  return env;
}

export interface EmulatorSuiteOptions {
  /** Where firebase.json is (the CLI runs there). */
  projectDir: string;
  /** A `demo-` project id: no credentials needed, nothing real reachable. */
  projectId: string;
  /** The CLI's environment (its workers inherit it); FIRESTORE_EMULATOR_BINARY_PATH is added. */
  env: NodeJS.ProcessEnv;
  /** Default 120 s. */
  readyTimeoutMs?: number;
}

const READY_LINE = "All emulators ready";

/** Starts `firebase emulators:start` and resolves once every emulator is up. */
export async function startEmulatorSuite(options: EmulatorSuiteOptions): Promise<GuardedProcess> {
  const suite = spawnGuarded(
    nodeForFunctions(),
    [firebaseCli(), "emulators:start", "--project", options.projectId],
    { cwd: options.projectDir, env: emulatorSuiteEnv(options.projectDir, options.env) },
  );
  const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
  while (!suite.output().includes(READY_LINE)) {
    if (suite.child.exitCode !== null || Date.now() > deadline) {
      await suite.stop();
      const why = suite.child.exitCode !== null ? "exited" : "was not ready in time";
      throw new Error(`firebase emulators:start ${why}:\n${suite.output().slice(-6000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return suite;
}

/** `npm run emulators [-- --only functions,firestore …]`: the suite for this repository. */
function main(args: readonly string[]): void {
  const env = emulatorSuiteEnv(join(REPO_ROOT, ".firebase"), process.env);
  if (env.FIRESTORE_EMULATOR_BINARY_PATH) {
    process.stderr.write(`Firestore emulator: ${env.FIRESTORE_EMULATOR_BINARY_PATH}\n`);
  }
  const cli = spawn(nodeForFunctions(), [firebaseCli(), "emulators:start", ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: "inherit",
  });
  // Ctrl-C reaches the CLI too (same terminal): it stops the emulators, then exits.
  process.on("SIGINT", () => undefined);
  cli.on("exit", (code) => process.exit(code ?? 1));
}

if (require.main === module) main(process.argv.slice(2));
