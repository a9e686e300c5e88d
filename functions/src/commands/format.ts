import type { ReadBudgetReport } from "../officernd/rate-limit";
import { DocumentReference, GeoPoint, Timestamp } from "firebase-admin/firestore";
import { z } from "zod";

/**
 * Small helpers shared by the operator commands (src/commands/*): stored Firestore values as plain
 * JSON, `--limit` parsing, and the plain-text table the human formatters print.
 */

export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Largest `--limit` (the same cap as `GET /v1/office-rnd/backups?limit=`). */
export const MAX_LIMIT = 100;
export const DEFAULT_LIMIT = 10;

export const limitSchema = z.coerce
  .number({ error: "must be a whole number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(MAX_LIMIT, `must be at most ${MAX_LIMIT}`);

/**
 * A stored Firestore value as JSON, the way an operator wants to read it: timestamps as ISO 8601
 * UTC strings, references as their path, bytes as base64, geopoints as {latitude, longitude}.
 */
export function toJsonValue(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Timestamp) return value.toDate().toISOString();
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return Buffer.from(value).toString("base64");
  }
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value instanceof DocumentReference) return value.path;
  if (value instanceof GeoPoint) return { latitude: value.latitude, longitude: value.longitude };
  if (typeof value === "object") {
    const out: Record<string, JsonValue> = {};
    for (const [key, inner] of Object.entries(value)) out[key] = toJsonValue(inner);
    return out;
  }
  return typeof value === "symbol" ? value.toString() : null;
}

/** `1.2 s`, `850 ms`, `3 min 5 s`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export type Align = "left" | "right";

/** Fixed-width columns, two spaces apart; no trailing spaces. */
export function table(headers: string[], rows: string[][], align: Align[] = []): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => {
        const width = widths[i] ?? 0;
        return (align[i] ?? "left") === "right" ? cell.padStart(width) : cell.padEnd(width);
      })
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** Indents every line of a block. */
export function indent(lines: string[], by = "  "): string[] {
  return lines.map((l) => (l === "" ? l : `${by}${l}`));
}

/** OfficeRnD's read budget on one line: what was used, and the minute's and day's figures. */
export function formatReadBudget(budget: ReadBudgetReport | null | undefined): string {
  if (budget == null) return "not recorded";
  const window = (w: ReadBudgetReport["minute"], per: string) =>
    w === null
      ? `no ${per} figures`
      : `${w.remaining} of ${w.limit} a ${per} left${w.resetAt ? ` (resets ${w.resetAt})` : ""}`;
  return `${budget.used} read(s) used; ${window(budget.minute, "minute")}; ${window(budget.day, "day")}`;
}

/**
 * The lines a run adds after its counts: for an incremental run, the types it left to the full
 * backup and why; for any run, the schema drift per type (fields appeared, disappeared).
 */
export function formatRunNotes(run: {
  coverage: Readonly<Record<string, { read: string; note: string | null }>> | null;
  schemaDrift: Readonly<Record<string, { added: string[]; removed: string[] }>>;
}): string[] {
  const lines: string[] = [];
  for (const [name, c] of Object.entries(run.coverage ?? {})) {
    if (c.read !== "incremental") lines.push(`  ${name}: ${c.note ?? c.read}`);
  }
  for (const [name, drift] of Object.entries(run.schemaDrift)) {
    const parts = [
      drift.added.length > 0 ? `appeared: ${drift.added.join(", ")}` : null,
      drift.removed.length > 0 ? `disappeared: ${drift.removed.join(", ")}` : null,
    ].filter((p) => p !== null);
    lines.push(`  schema drift, ${name}: ${parts.join("; ")}`);
  }
  return lines;
}
