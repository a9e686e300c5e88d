import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { spawnGuarded } from "./guarded-process";

/**
 * The real Cloud Firestore emulator for tests, the local stack and the benchmark.
 *
 * - FIRESTORE_EMULATOR_HOST already set: use it, start nothing.
 * - Otherwise find an installed emulator (FIRESTORE_EMULATOR_BINARY_PATH, the gcloud component, or
 *   the JAR firebase-tools caches), start it on a free loopback port, wait until it answers.
 * - The emulator runs under a guardian process (guarded-process.ts) that kills it when its parent
 *   goes away, so a crashed or killed test run leaves no Java process behind.
 */

export interface FirestoreEmulator {
  /** host:port, the value for FIRESTORE_EMULATOR_HOST. */
  host: string;
  /** False when an already-running emulator (FIRESTORE_EMULATOR_HOST) is used. */
  owned: boolean;
  stop(): Promise<void>;
}

export const HOW_TO_GET_EMULATOR =
  "No Cloud Firestore emulator found: install it with `sudo apt-get install google-cloud-cli-firestore-emulator` " +
  "(or `gcloud components install cloud-firestore-emulator`), or set FIRESTORE_EMULATOR_BINARY_PATH " +
  "to its cloud_firestore_emulator script or JAR, or start one yourself and set FIRESTORE_EMULATOR_HOST.";

interface Launch {
  command: string;
  args: string[];
  describe: string;
}

function launchFor(path: string): Launch {
  if (path.endsWith(".jar")) {
    const java = process.env.JAVA ?? "java";
    return { command: java, args: ["-Duser.language=en", "-jar", path], describe: path };
  }
  return { command: path, args: ["start"], describe: path };
}

function gcloudSdkRoots(): string[] {
  const roots = [
    process.env.CLOUDSDK_ROOT_DIR,
    "/usr/lib/google-cloud-sdk",
    "/usr/share/google-cloud-sdk",
    "/opt/google-cloud-sdk",
    join(homedir(), "google-cloud-sdk"),
    "/opt/homebrew/share/google-cloud-sdk",
    "/usr/local/share/google-cloud-sdk",
  ];
  const probe = spawnSync("gcloud", ["info", "--format=value(installation.sdk_root)"], {
    encoding: "utf8",
    timeout: 15_000,
  });
  if (probe.status === 0 && probe.stdout.trim()) roots.unshift(probe.stdout.trim());
  return roots.filter((r): r is string => Boolean(r));
}

function firebaseToolsJars(): string[] {
  const dir = join(homedir(), ".cache", "firebase", "emulators");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^cloud-firestore-emulator-v[\d.]+\.jar$/.test(f))
    .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))
    .map((f) => join(dir, f));
}

/**
 * Where an emulator is installed (its script or JAR), or null: FIRESTORE_EMULATOR_BINARY_PATH,
 * the gcloud component, the JAR firebase-tools caches.
 */
export function findEmulatorPath(): string | null {
  const explicit = process.env.FIRESTORE_EMULATOR_BINARY_PATH;
  if (explicit) {
    if (!existsSync(explicit)) {
      throw new Error(`FIRESTORE_EMULATOR_BINARY_PATH points at ${explicit}, which does not exist`);
    }
    return explicit;
  }
  for (const root of gcloudSdkRoots()) {
    const script = join(root, "platform", "cloud-firestore-emulator", "cloud_firestore_emulator");
    if (existsSync(script)) return script;
  }
  return firebaseToolsJars()[0] ?? null;
}

/** How to start the installed emulator, or null. */
export function findEmulator(): Launch | null {
  const path = findEmulatorPath();
  return path ? launchFor(path) : null;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(
  host: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(
        `Firestore emulator exited (code ${child.exitCode}) before it was ready:\n${output()}`,
      );
    }
    try {
      const res = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(
    `Firestore emulator did not answer on ${host} within ${timeoutMs} ms:\n${output()}`,
  );
}

export async function startFirestoreEmulator(
  options: { port?: number; timeoutMs?: number; quiet?: boolean } = {},
): Promise<FirestoreEmulator> {
  const existing = process.env.FIRESTORE_EMULATOR_HOST;
  if (existing) return { host: existing, owned: false, stop: () => Promise.resolve() };

  const launch = findEmulator();
  if (!launch) throw new Error(HOW_TO_GET_EMULATOR);
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const { child, output, stop } = spawnGuarded(launch.command, [
    ...launch.args,
    "--host=127.0.0.1",
    `--port=${port}`,
  ]);
  try {
    await waitUntilReady(host, child, () => output().slice(-8000), options.timeoutMs ?? 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { host, owned: true, stop };
}

/** Deletes every document of one project in the emulator (its REST reset endpoint). */
export async function clearFirestore(host: string, projectId: string): Promise<void> {
  const res = await fetch(
    `http://${host}/emulator/v1/projects/${projectId}/databases/(default)/documents`,
    { method: "DELETE" },
  );
  if (!res.ok) throw new Error(`Could not clear the emulator's data: HTTP ${res.status}`);
}
