import type { Firestore } from "firebase-admin/firestore";
import { perResource, RESOURCES } from "../officernd/resources";
import { countEventsSince, readWebhookStats } from "../webhooks/stats";
import type { BackupStatusResponse } from "./schema";

/**
 * The status response's `webhooks` block: the delivery counters (../webhooks/stats.ts) and the
 * distinct events processed since `since` (the latest backup run's start; null before any run).
 */
export async function readWebhookHealth(
  db: Firestore,
  since: Date | null,
): Promise<BackupStatusResponse["webhooks"]> {
  const [stats, receivedSinceLastBackup] = await Promise.all([
    readWebhookStats(db),
    countEventsSince(db, since),
  ]);
  const byType = Object.fromEntries(
    Object.entries(stats?.byType ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return {
    lastReceivedAt: stats?.lastReceivedAt?.toDate().toISOString() ?? null,
    receivedSinceLastBackup,
    rejected: stats?.rejected ?? 0,
    lastRejectedAt: stats?.lastRejectedAt?.toDate().toISOString() ?? null,
    byType,
    coverage: perResource((name) => RESOURCES[name].webhookEvents),
  };
}
