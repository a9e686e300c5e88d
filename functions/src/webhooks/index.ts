/** OfficeRnD webhooks: signature, payload, the transactional apply, delivery counters (the route is http/routes/webhook.ts). */
export { applyWebhookEvent, type ApplyOptions, type ApplyResult } from "./apply";
export {
  SIGNATURE_HEADER,
  computeSignature,
  parseSignatureHeader,
  verifySignature,
  type ParsedSignature,
  type SignatureCheck,
} from "./signature";
export {
  classifyEventType,
  interpretEvent,
  parseEnvelope,
  webhookEnvelopeSchema,
  WebhookPayloadError,
  type PayloadProblem,
  type WebhookChange,
  type WebhookEnvelope,
} from "./payload";
export { countDelivery, countEventsSince, countRejection, readWebhookStats } from "./stats";
export {
  REJECTION_REASONS,
  TTL_FIELD,
  WEBHOOK_EVENTS_COLLECTION,
  WEBHOOK_OUTCOMES,
  WEBHOOK_RETENTION_MS,
  WEBHOOK_STATS_DOC,
  WEBHOOK_TOMBSTONES_COLLECTION,
  eventDocId,
  statsTypeKey,
  tombstoneSchema,
  webhookEventDocSchema,
  webhookStatsSchema,
  type RejectionReason,
  type Tombstone,
  type WebhookEventDoc,
  type WebhookOutcome,
  type WebhookStats,
} from "./webhook-documents";
