import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { prepareFunctionsUpload } from "firebase-tools/lib/deploy/functions/prepareFunctionsUpload";
import { z } from "zod";
import { zipEntryNames } from "./zip";

/**
 * No secret reaches a deploy or git. The upload is built by firebase-tools' own packaging
 * (`prepareFunctionsUpload`, what `firebase deploy` runs) with firebase.json's `functions.ignore`,
 * and the ZIP it writes is read back; git is asked with `git check-ignore`.
 */

const PROJECT_DIR = join(__dirname, "..", "..", "..");
const FUNCTIONS_DIR = join(PROJECT_DIR, "functions");

const firebaseJsonSchema = z.object({
  functions: z.array(z.object({ source: z.string(), ignore: z.array(z.string()).optional() })),
});

function functionsIgnore(): string[] {
  const config = firebaseJsonSchema.parse(
    JSON.parse(readFileSync(join(PROJECT_DIR, "firebase.json"), "utf8")),
  );
  const functions = config.functions.find((f) => f.source === "functions");
  if (!functions)
    throw new Error('firebase.json has no functions codebase with source "functions"');
  return functions.ignore ?? [];
}

/** What `firebase deploy` would upload from `sourceDir`, as paths relative to it. */
async function uploadedFiles(sourceDir: string): Promise<string[]> {
  // firebase-tools appends its own patterns to the array it is given: hand it a copy.
  const { pathToSource } = await prepareFunctionsUpload(sourceDir, { ignore: functionsIgnore() });
  try {
    return zipEntryNames(readFileSync(pathToSource)).sort();
  } finally {
    rmSync(pathToSource, { force: true });
  }
}

/** Files that hold secrets or emulator-only values, at the top and deeper down. */
const SECRET_FILES = [
  ".env.local",
  ".env.demo-officernd-backup.local",
  ".secret.local",
  "lib/.env.local",
  "lib/nested/.secret.local",
  "settings.local",
  ".runtimeconfig.json",
  "my-project-firebase-adminsdk-ab12c-0123456789.json",
  "service-account.json",
  "tls.pem",
  "signing.key",
];

/** Shaped like one of SECRET_FILES, anywhere in a path. */
const SECRET_NAME =
  /(^|\/)([^/]*\.local|\.runtimeconfig\.json|[^/]*-firebase-adminsdk-[^/]*\.json|service-account[^/]*\.json|[^/]*\.pem|[^/]*\.key)$/;

/** Non-secret files a deploy needs (params are in .env and .env.<project>). */
const SHIPPED_FILES = ["package.json", "lib/index.js", ".env", ".env.demo-officernd-backup"];

describe("the functions upload (firebase-tools packaging with firebase.json's ignore rules)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "functions-upload-"));
    for (const file of [...SECRET_FILES, ...SHIPPED_FILES]) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), "X=1\n");
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("leaves out every .local file, the runtime config and credential files, and keeps the rest", async () => {
    expect(SECRET_FILES.every((f) => SECRET_NAME.test(f))).toBe(true);
    expect(await uploadedFiles(dir)).toEqual([...SHIPPED_FILES].sort());
  });

  it("holds no secret-shaped file and no sources or tests when built from functions/ as it is", async () => {
    const files = await uploadedFiles(FUNCTIONS_DIR);
    expect(files).toContain("package.json");
    expect(files.filter((f) => SECRET_NAME.test(f))).toEqual([]);
    expect(files.filter((f) => /^(src|test|dev|bench|scripts|node_modules)\//.test(f))).toEqual([]);
  });
});

describe(".gitignore", () => {
  function ignoredByGit(path: string): boolean {
    const git = spawnSync("git", ["check-ignore", "--no-index", "--quiet", path], {
      cwd: PROJECT_DIR,
    });
    if (git.status !== 0 && git.status !== 1) {
      throw new Error(`git check-ignore failed: ${git.stderr?.toString() ?? git.error?.message}`);
    }
    return git.status === 0;
  }

  it.each(SECRET_FILES.map((f) => `functions/${f}`))("ignores %s", (path) => {
    expect(ignoredByGit(path)).toBe(true);
  });

  it.each([".env.local", "functions/dev/.secret.local"])("ignores %s (anywhere)", (path) => {
    expect(ignoredByGit(path)).toBe(true);
  });

  it.each(["functions/.env", "functions/.env.demo-officernd-backup"])(
    "keeps %s (non-secret params, committed)",
    (path) => {
      expect(ignoredByGit(path)).toBe(false);
    },
  );
});
