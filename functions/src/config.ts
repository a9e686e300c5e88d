import { defineInt, defineSecret, defineString } from "firebase-functions/params";
import { z } from "zod";

/**
 * Configuration. The deployed functions declare `firebase-functions/params` (below): the Firebase
 * CLI prompts for them at deploy, stores them in functions/.env.<project>, binds the secrets, and
 * the runtime exposes every resolved value (defaults included) as an environment variable of the
 * same name, which is all `param.value()` reads. The CLI, the local stack and the tests set those
 * variables themselves. Everything goes through the zod loaders below, so a missing or malformed
 * value fails fast with one line naming the variable.
 */

/**
 * Every default, once: the params below, the zod loaders and functions/.env (held to these by
 * test/deploy/params.test.ts) all take them from here.
 */
export const DEFAULTS = {
  OFFICERND_API_URL: "https://app.officernd.com/api/v2",
  OFFICERND_TOKEN_URL: "https://identity.officernd.com/oauth/token",
  // OfficeRnD's own figure (about 400 reads a minute, docs/officernd-api.md): its rate-limit headers
  // pace the reads below it; lower it to leave room for the organization's other integrations.
  OFFICERND_READS_PER_MINUTE: 400,
  BACKUP_TIME_ZONE: "UTC",
  BACKUP_ORPHAN_POLICY: "mark",
  BACKUP_SHRINK_GUARD: 0.2,
  BACKUP_MAX_REMOVALS: 500,
  /**
   * Most createdAt ranges one big type is listed as, side by side (backup/split-listing.ts); 1:
   * one cursor chain. 4: the OfficeRnD client's requests in flight (officernd/client.ts).
   */
  BACKUP_LISTING_RANGES: 4,
  /** Every data type the resource registry knows. */
  BACKUP_RESOURCES: "all",
  BACKUP_MISSING_ALERT_THRESHOLD: 10,
  OFFICERND_WEBHOOK_TOLERANCE_SECONDS: 300,
} as const;

export const params = {
  OFFICERND_ORG_SLUG: defineString("OFFICERND_ORG_SLUG", {
    description: "OfficeRnD organization slug (the {orgSlug} in API URLs)",
  }),
  OFFICERND_CLIENT_ID: defineString("OFFICERND_CLIENT_ID", {
    description: "OfficeRnD application client id",
  }),
  OFFICERND_CLIENT_SECRET: defineSecret("OFFICERND_CLIENT_SECRET"),
  OFFICERND_API_URL: defineString("OFFICERND_API_URL", { default: DEFAULTS.OFFICERND_API_URL }),
  OFFICERND_TOKEN_URL: defineString("OFFICERND_TOKEN_URL", {
    default: DEFAULTS.OFFICERND_TOKEN_URL,
  }),
  OFFICERND_READS_PER_MINUTE: defineInt("OFFICERND_READS_PER_MINUTE", {
    default: DEFAULTS.OFFICERND_READS_PER_MINUTE,
    description: "Our own read ceiling; OfficeRnD's rate-limit headers can only slow reads further",
  }),
  BACKUP_STATUS_TOKEN: defineSecret("BACKUP_STATUS_TOKEN"),
  BACKUP_TIME_ZONE: defineString("BACKUP_TIME_ZONE", { default: DEFAULTS.BACKUP_TIME_ZONE }),
  BACKUP_ORPHAN_POLICY: defineString("BACKUP_ORPHAN_POLICY", {
    default: DEFAULTS.BACKUP_ORPHAN_POLICY,
    description: "What to do with Firestore records gone from OfficeRnD: mark | delete",
  }),
  BACKUP_SHRINK_GUARD: defineString("BACKUP_SHRINK_GUARD", {
    default: String(DEFAULTS.BACKUP_SHRINK_GUARD),
    description: "Largest share of a resource's documents one run may remove before removals stop",
  }),
  BACKUP_RESOURCES: defineString("BACKUP_RESOURCES", {
    default: DEFAULTS.BACKUP_RESOURCES,
    description:
      "Data types to mirror: all, or a comma list of members, opportunities, companies, locations, events, bookings",
  }),
  BACKUP_MAX_REMOVALS: defineInt("BACKUP_MAX_REMOVALS", {
    default: DEFAULTS.BACKUP_MAX_REMOVALS,
    description: "Most documents of one resource one run may remove before removals stop",
  }),
  BACKUP_LISTING_RANGES: defineInt("BACKUP_LISTING_RANGES", {
    default: DEFAULTS.BACKUP_LISTING_RANGES,
    description:
      "Most createdAt ranges a big type (members) is listed as side by side, 1 to 8; 1: one cursor chain",
  }),
  // Read where a run starts (wiring.ts), like the CLI's environment variable of the same name.
  BACKUP_TIME_BUDGET_SECONDS: defineInt("BACKUP_TIME_BUDGET_SECONDS", {
    default: 0,
    description:
      "Seconds a run may take before it hands over to a continuation; 0: the function's timeout less 60 s",
  }),
  BACKUP_MISSING_ALERT_THRESHOLD: defineInt("BACKUP_MISSING_ALERT_THRESHOLD", {
    default: DEFAULTS.BACKUP_MISSING_ALERT_THRESHOLD,
  }),
  /** The signing secret OfficeRnD shows when the webhook is registered (docs/webhooks.md). */
  OFFICERND_WEBHOOK_SECRET: defineSecret("OFFICERND_WEBHOOK_SECRET"),
  OFFICERND_WEBHOOK_TOLERANCE_SECONDS: defineInt("OFFICERND_WEBHOOK_TOLERANCE_SECONDS", {
    default: DEFAULTS.OFFICERND_WEBHOOK_TOLERANCE_SECONDS,
    description: "How far a webhook signature's timestamp may be from now, in seconds",
  }),
} as const;

export type ConfigVariable = keyof typeof params;
export type ConfigSource = Partial<Record<string, string | undefined>>;

/**
 * A missing or malformed variable. `detail` says what is wrong with it ("is required (…)", "must
 * be …"), never what the value was, so the variable and detail may go to logs, Firestore and
 * HTTP answers.
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly detail: string,
  ) {
    super(`${variable}: ${detail}`);
    this.name = "ConfigError";
  }
}

const nonEmpty = (what: string) =>
  z
    .string({ error: `is required (${what})` })
    .trim()
    .min(1, `is required (${what})`);
const httpUrl = z
  .string()
  .trim()
  .url("must be an http(s) URL")
  .refine((u) => /^https?:\/\//.test(u), "must be an http(s) URL")
  .transform((u) => u.replace(/\/+$/, ""));
const positiveInt = z.coerce.number().int("must be a whole number").positive("must be > 0");

const officeRndShape = {
  OFFICERND_ORG_SLUG: nonEmpty("the OfficeRnD organization slug").regex(
    /^[A-Za-z0-9_-]+$/,
    "must be an OfficeRnD organization slug (letters, digits, - and _)",
  ),
  OFFICERND_CLIENT_ID: nonEmpty("the OfficeRnD application client id"),
  OFFICERND_CLIENT_SECRET: nonEmpty("the OfficeRnD application client secret"),
  OFFICERND_API_URL: httpUrl.default(DEFAULTS.OFFICERND_API_URL),
  OFFICERND_TOKEN_URL: httpUrl.default(DEFAULTS.OFFICERND_TOKEN_URL),
  OFFICERND_READS_PER_MINUTE: positiveInt.default(DEFAULTS.OFFICERND_READS_PER_MINUTE),
};

const backupShape = {
  BACKUP_ORPHAN_POLICY: z
    .enum(["mark", "delete"], { error: "must be mark or delete" })
    .default(DEFAULTS.BACKUP_ORPHAN_POLICY),
  BACKUP_SHRINK_GUARD: z.coerce
    .number("must be a number between 0 and 1")
    .min(0, "must be between 0 and 1")
    .max(1, "must be between 0 and 1")
    .default(DEFAULTS.BACKUP_SHRINK_GUARD),
  BACKUP_MAX_REMOVALS: z.coerce
    .number("must be a whole number")
    .int("must be a whole number")
    .min(0, "must be 0 or more")
    .default(DEFAULTS.BACKUP_MAX_REMOVALS),
  BACKUP_LISTING_RANGES: z.coerce
    .number("must be a whole number")
    .int("must be a whole number")
    .min(1, "must be between 1 and 8")
    .max(8, "must be between 1 and 8")
    .default(DEFAULTS.BACKUP_LISTING_RANGES),
  // Names are checked against the resource registry where it is known (wiring.ts).
  BACKUP_RESOURCES: z
    .string()
    .trim()
    .regex(/^(all|[a-z]+( *, *[a-z]+)*)$/, "must be all, or a comma list of data types")
    .default(DEFAULTS.BACKUP_RESOURCES)
    .transform((v) => (v === "all" ? null : [...new Set(v.split(",").map((n) => n.trim()))])),
};

const alertShape = {
  BACKUP_MISSING_ALERT_THRESHOLD: z.coerce
    .number("must be a whole number")
    .int("must be a whole number")
    .min(0, "must be 0 or more")
    .default(DEFAULTS.BACKUP_MISSING_ALERT_THRESHOLD),
};

const statusShape = {
  BACKUP_STATUS_TOKEN: nonEmpty("the bearer token the status endpoint requires").min(
    16,
    "must be at least 16 characters",
  ),
  ...alertShape,
};

const webhookShape = {
  OFFICERND_WEBHOOK_SECRET: nonEmpty("the webhook signing secret OfficeRnD shows for the webhook"),
  OFFICERND_WEBHOOK_TOLERANCE_SECONDS: positiveInt
    .max(86_400, "must be at most 86400 (one day)")
    .default(DEFAULTS.OFFICERND_WEBHOOK_TOLERANCE_SECONDS),
};

/** Empty strings count as unset, as in a shell `export X=`. */
function pick(source: ConfigSource, keys: readonly string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const key of keys) {
    const value = source[key];
    out[key] = value === undefined || value.trim() === "" ? undefined : value;
  }
  return out;
}

/**
 * One group of variables: their zod shape and the object the product uses, whose type is
 * derived from it (one declaration of each field).
 */
function section<S extends z.ZodRawShape, T>(shape: S, map: (c: z.output<z.ZodObject<S>>) => T) {
  return { keys: Object.keys(shape), schema: z.object(shape).transform(map) };
}

function load<T>(group: { keys: string[]; schema: z.ZodType<T> }, source: ConfigSource): T {
  const result = group.schema.safeParse(pick(source, group.keys));
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = String(issue?.path[0] ?? "configuration");
    throw new ConfigError(variable, issue?.message ?? "is invalid");
  }
  return result.data;
}

const officeRnd = section(officeRndShape, (c) => ({
  orgSlug: c.OFFICERND_ORG_SLUG,
  clientId: c.OFFICERND_CLIENT_ID,
  clientSecret: c.OFFICERND_CLIENT_SECRET,
  apiUrl: c.OFFICERND_API_URL,
  tokenUrl: c.OFFICERND_TOKEN_URL,
  /** Our own ceiling on reads a minute. */
  readsPerMinute: c.OFFICERND_READS_PER_MINUTE,
}));
export type OfficeRndConfig = z.output<typeof officeRnd.schema>;

const backup = section(backupShape, (c) => ({
  orphanPolicy: c.BACKUP_ORPHAN_POLICY,
  /** 0.2 = one run may remove at most 20% of a resource's documents. */
  shrinkGuard: c.BACKUP_SHRINK_GUARD,
  /** And at most this many documents of one resource. */
  maxRemovals: c.BACKUP_MAX_REMOVALS,
  /** Most createdAt ranges a big type is listed as side by side; 1: one cursor chain. */
  listingRanges: c.BACKUP_LISTING_RANGES,
  /** The data types to mirror, as named in BACKUP_RESOURCES; null: every registered one. */
  resourceNames: c.BACKUP_RESOURCES,
}));
export type BackupConfig = z.output<typeof backup.schema>;

const alerts = section(alertShape, (c) => c.BACKUP_MISSING_ALERT_THRESHOLD);

const status = section(statusShape, (c) => ({
  statusToken: c.BACKUP_STATUS_TOKEN,
  missingAlertThreshold: c.BACKUP_MISSING_ALERT_THRESHOLD,
}));
export type StatusConfig = z.output<typeof status.schema>;

const webhook = section(webhookShape, (c) => ({
  /** HMAC-SHA256 key of the `officernd-signature` header. */
  secret: c.OFFICERND_WEBHOOK_SECRET,
  /** Largest accepted distance between the signature's timestamp and now. */
  toleranceSeconds: c.OFFICERND_WEBHOOK_TOLERANCE_SECONDS,
}));
export type WebhookConfig = z.output<typeof webhook.schema>;

export function loadOfficeRndConfig(source: ConfigSource = process.env): OfficeRndConfig {
  return load(officeRnd, source);
}

export function loadBackupConfig(source: ConfigSource = process.env): BackupConfig {
  return load(backup, source);
}

/** What the status computation needs (the CLI's `status` needs no endpoint token). */
export function loadAlertThreshold(source: ConfigSource = process.env): number {
  return load(alerts, source);
}

export function loadStatusConfig(source: ConfigSource = process.env): StatusConfig {
  return load(status, source);
}

/** The webhook route's settings; the app answers 503 on that route when this throws. */
export function loadWebhookConfig(source: ConfigSource = process.env): WebhookConfig {
  return load(webhook, source);
}

// ---- Notifications (Slack, email) and the dashboard's address ---------------------------------

/** BACKUP_SLACK_WEBHOOK_URL set to this turns Slack off (a deployed secret cannot be unset). */
export const SLACK_OFF = "none";

export const NOTIFICATION_DEFAULTS = {
  BACKUP_ALERT_EMAILS: "",
  BACKUP_MAIL_COLLECTION: "mail",
  BACKUP_DASHBOARD_URL: "",
} as const;

export const notificationParams = {
  /** Slack incoming-webhook URL (it is the credential), or `none`. */
  BACKUP_SLACK_WEBHOOK_URL: defineSecret("BACKUP_SLACK_WEBHOOK_URL"),
  BACKUP_ALERT_EMAILS: defineString("BACKUP_ALERT_EMAILS", {
    default: NOTIFICATION_DEFAULTS.BACKUP_ALERT_EMAILS,
    description: "Comma list of addresses alert emails go to; empty: no email",
  }),
  BACKUP_MAIL_COLLECTION: defineString("BACKUP_MAIL_COLLECTION", {
    default: NOTIFICATION_DEFAULTS.BACKUP_MAIL_COLLECTION,
    description: "Collection the Trigger Email extension watches",
  }),
  BACKUP_DASHBOARD_URL: defineString("BACKUP_DASHBOARD_URL", {
    default: NOTIFICATION_DEFAULTS.BACKUP_DASHBOARD_URL,
    description: "The dashboard's address, linked from alerts (e.g. https://<site>/); empty: none",
  }),
} as const;

/** Plain http only to this machine: a stand-in Slack in tests and the local stack. */
const LOOPBACK_HTTP = /^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?\//;

const slackUrl = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v === undefined || v === SLACK_OFF ? null : v))
  .pipe(
    z
      .url(`must be a Slack incoming-webhook URL (https://…) or ${SLACK_OFF}`)
      .refine(
        (u) => u.startsWith("https://") || LOOPBACK_HTTP.test(u),
        `must be a Slack incoming-webhook URL (https://…) or ${SLACK_OFF}`,
      )
      .nullable(),
  );

const emailList = z
  .string()
  .default(NOTIFICATION_DEFAULTS.BACKUP_ALERT_EMAILS)
  .transform((v) => [...new Set(v.split(",").map((a) => a.trim()))].filter((a) => a !== ""))
  .pipe(
    z.array(z.email("must be a comma list of email addresses")).max(50, "at most 50 addresses"),
  );

const notificationShape = {
  BACKUP_SLACK_WEBHOOK_URL: slackUrl,
  BACKUP_ALERT_EMAILS: emailList,
  BACKUP_MAIL_COLLECTION: z
    .string()
    .trim()
    .regex(/^(?!__)[A-Za-z0-9_-]{1,100}$/, "must be a collection id (letters, digits, - and _)")
    .default(NOTIFICATION_DEFAULTS.BACKUP_MAIL_COLLECTION),
  BACKUP_DASHBOARD_URL: httpUrl.optional(),
};

const notifications = section(notificationShape, (c) => ({
  /** null: Slack off. */
  slackWebhookUrl: c.BACKUP_SLACK_WEBHOOK_URL,
  /** Empty: email off. */
  alertEmails: c.BACKUP_ALERT_EMAILS,
  mailCollection: c.BACKUP_MAIL_COLLECTION,
  dashboardUrl: c.BACKUP_DASHBOARD_URL ?? null,
}));
export type NotificationConfig = z.output<typeof notifications.schema>;

/** Where alerts go; both channels off when nothing is set (the CLI, the tests). */
export function loadNotificationConfig(source: ConfigSource = process.env): NotificationConfig {
  return load(notifications, source);
}
