import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Expression } from "firebase-functions/params";
import { resolveParams } from "firebase-tools/lib/deploy/functions/params";
import { parseStrict, validateKey } from "firebase-tools/lib/functions/env";
import {
  loadAlertThreshold,
  loadBackupConfig,
  loadNotificationConfig,
  loadWebhookConfig,
  notificationParams,
  params as coreParams,
} from "../../src/config";

/**
 * functions/.env, committed, holds every non-secret param that has a default, with that default,
 * so a non-interactive `firebase deploy` prompts for nothing else. It is read with firebase-tools'
 * own dotenv parser. Secrets never appear in it; the values without a default (the OfficeRnD
 * organization and client) belong in .env.<project>.
 */

/** Every param the functions declare: the core ones and the notifications' (config.ts). */
const params = { ...coreParams, ...notificationParams };

const envFile = parseStrict(readFileSync(join(__dirname, "..", "..", ".env"), "utf8"));

/** Read by the scheduled functions' definitions at deploy time; not params. */
const DEPLOY_TIME_VARIABLES = {
  BACKUP_SCHEDULE: "every 24 hours",
  BACKUP_INCREMENTAL_SCHEDULE: "every 60 minutes",
};

/** Read by Node when a function starts: the V8 heap flags (docs/scaling.md, Memory). */
const RUNTIME_VARIABLES = ["NODE_OPTIONS"];

const flags = (text: string) => text.trim().split(/\s+/);

function literal(value: unknown): string | null {
  if (value === undefined) return null;
  if (typeof value === "string" || typeof value === "number") return String(value);
  throw new Error(`a param default that is not a literal (${typeof value}): .env cannot hold it`);
}

const declared = Object.entries(params).map(([name, param]) => {
  // Secrets (SecretParam) are not expressions; every other param is.
  const secret = !(param instanceof Expression);
  return { name, secret, fallback: secret ? null : literal(param.options.default) };
});

describe("functions/.env", () => {
  it.each(declared.filter((p) => !p.secret && p.fallback !== null))(
    "sets $name to its default ($fallback)",
    ({ name, fallback }) => {
      expect(envFile[name]).toBe(fallback);
    },
  );

  it("holds no secret and none of the per-project values", () => {
    const absent = declared.filter((p) => p.secret || p.fallback === null).map((p) => p.name);
    expect(absent.sort()).toEqual([
      "BACKUP_SLACK_WEBHOOK_URL",
      "BACKUP_STATUS_TOKEN",
      "OFFICERND_CLIENT_ID",
      "OFFICERND_CLIENT_SECRET",
      "OFFICERND_ORG_SLUG",
      "OFFICERND_WEBHOOK_SECRET",
    ]);
    for (const name of absent) expect(envFile).not.toHaveProperty(name);
  });

  it("sets nothing but declared params and the deploy-time schedules", () => {
    const known = new Set([
      ...declared.map((p) => p.name),
      ...Object.keys(DEPLOY_TIME_VARIABLES),
      ...RUNTIME_VARIABLES,
    ]);
    expect(Object.keys(envFile).filter((key) => !known.has(key))).toEqual([]);
    expect(envFile).toMatchObject(DEPLOY_TIME_VARIABLES);
  });

  it("gives the functions the CLI's V8 heap flags, in a key firebase deploy accepts", () => {
    const nodeOptions = flags(envFile.NODE_OPTIONS ?? "");
    expect(nodeOptions).toEqual([
      expect.stringMatching(/^--max-old-space-size=\d+$/),
      expect.stringMatching(/^--max-semi-space-size=\d+$/),
    ]);
    expect(() => validateKey("NODE_OPTIONS")).not.toThrow();
    const root = join(__dirname, "..", "..");
    const shebang = readFileSync(join(root, "src", "cli.ts"), "utf8").split("\n")[0] ?? "";
    expect(shebang.startsWith("#!/usr/bin/env -S node ")).toBe(true);
    expect(flags(shebang).slice(3)).toEqual(nodeOptions);
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(flags(pkg.scripts.cli ?? "")).toEqual(["tsx", ...nodeOptions, "src/cli.ts"]);
  });

  it("passes the runtime's own validation", () => {
    expect(loadBackupConfig(envFile)).toEqual({
      orphanPolicy: "mark",
      shrinkGuard: 0.2,
      maxRemovals: 500,
      listingRanges: 4,
      resourceNames: null,
    });
    expect(loadAlertThreshold(envFile)).toBe(10);
    const webhook = loadWebhookConfig({ ...envFile, OFFICERND_WEBHOOK_SECRET: "whsec-test" });
    expect(webhook.toleranceSeconds).toBe(300);
    expect(loadNotificationConfig(envFile)).toEqual({
      slackWebhookUrl: null,
      alertEmails: [],
      mailCollection: "mail",
      dashboardUrl: null,
    });
  });
});

describe("firebase deploy --non-interactive", () => {
  /** The params as the functions' manifest declares them to the CLI (secrets aside: Secret Manager). */
  const specs = Object.values(params)
    .filter((param) => param instanceof Expression)
    .map((param) => (param as unknown as { toSpec(): unknown }).toSpec());
  const deploy = (userEnvs: Record<string, string>) =>
    resolveParams(specs, { projectId: "demo-officernd-backup" }, userEnvs, true);

  it("with functions/.env alone, lacks only the two per-project values", async () => {
    await expect(deploy(envFile)).rejects.toThrow(
      /no value for the following environment variables: OFFICERND_ORG_SLUG, OFFICERND_CLIENT_ID\n/,
    );
  });

  it("with functions/.env and .env.<project>, resolves every param without a prompt", async () => {
    const perProject = { OFFICERND_ORG_SLUG: "our-org", OFFICERND_CLIENT_ID: "our-client" };
    const resolved = await deploy({ ...envFile, ...perProject });
    const nonSecret = declared.filter((p) => !p.secret).map((p) => p.name);
    expect(Object.keys(resolved)).toEqual(expect.arrayContaining(nonSecret));
  });
});
