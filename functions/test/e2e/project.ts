import { randomUUID } from "node:crypto";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { freePort } from "../../dev/emulator";
import { REPO_ROOT } from "../../dev/emulator-suite";

/**
 * A throw-away copy of this project for `firebase emulators:start`: the repository's own
 * firebase.json (emulator ports swapped for free ones), rules, Hosting files and the built
 * functions (lib/, package.json, the committed .env; node_modules linked), plus the files a user
 * writes: functions/.env.<project> (per-project values), and for the emulator only
 * functions/.env.local and functions/.secret.local. A copy, so the test never touches a
 * developer's own files, and never the fixed ports.
 */

export const EMULATORS_USERS_NEED = ["functions", "firestore", "hosting", "auth", "tasks"] as const;
type Emulator = (typeof EMULATORS_USERS_NEED)[number];

const firebaseJsonSchema = z
  .object({
    emulators: z
      .object(
        Object.fromEntries(
          EMULATORS_USERS_NEED.map((name) => [name, z.object({ port: z.number().int() })]),
        ) as Record<Emulator, z.ZodObject<{ port: z.ZodNumber }>>,
      )
      .passthrough(),
  })
  .passthrough();

export interface ProjectCopy {
  dir: string;
  projectId: string;
  /** host:port of each emulator. */
  hosts: Record<Emulator, string>;
  remove(): void;
}

export interface ProjectFiles {
  /** functions/.env.<project id>: the project's own values (committed in a real project). */
  envProject: Record<string, string>;
  /** functions/.env.local: params for the emulator only. */
  envLocal: Record<string, string>;
  /** functions/.secret.local: the secrets' values for the emulator. */
  secretLocal: Record<string, string>;
}

function dotenv(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}\n`)
    .join("");
}

export async function copyProject(files: ProjectFiles): Promise<ProjectCopy> {
  const config = firebaseJsonSchema.parse(
    JSON.parse(readFileSync(join(REPO_ROOT, "firebase.json"), "utf8")),
  );
  const dir = mkdtempSync(join(tmpdir(), "officernd-e2e-"));
  const projectId = `demo-e2e-${randomUUID().slice(0, 8)}`;
  const port = async () => ({ host: "127.0.0.1", port: await freePort() });
  const emulators: Record<string, unknown> = { ...config.emulators };
  const hosts = {} as Record<Emulator, string>;
  for (const name of EMULATORS_USERS_NEED) {
    const at = await port();
    emulators[name] = { ...config.emulators[name], ...at };
    hosts[name] = `${at.host}:${at.port}`;
  }
  // The ports the suite also opens: none may be a fixed one another run holds.
  emulators.firestore = { ...(emulators.firestore as object), websocketPort: await freePort() };
  for (const name of ["hub", "logging", "eventarc"]) emulators[name] = await port();
  emulators.ui = { enabled: false };
  writeFileSync(join(dir, "firebase.json"), JSON.stringify({ ...config, emulators }, null, 2));

  for (const file of ["firestore.rules", "firestore.indexes.json", "public"]) {
    cpSync(join(REPO_ROOT, file), join(dir, file), { recursive: true });
  }
  const functions = join(REPO_ROOT, "functions");
  mkdirSync(join(dir, "functions"));
  for (const file of ["package.json", ".env", "lib"]) {
    cpSync(join(functions, file), join(dir, "functions", file), { recursive: true });
  }
  symlinkSync(join(functions, "node_modules"), join(dir, "functions", "node_modules"), "dir");
  writeFileSync(join(dir, "functions", `.env.${projectId}`), dotenv(files.envProject));
  writeFileSync(join(dir, "functions", ".env.local"), dotenv(files.envLocal));
  writeFileSync(join(dir, "functions", ".secret.local"), dotenv(files.secretLocal));

  return { dir, projectId, hosts, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
