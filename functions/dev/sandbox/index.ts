/** The local OfficeRnD v2 sandbox: `startSandbox()` for tests, `npm start` and the benchmark. */
export {
  startSandbox,
  SANDBOX_SCOPES,
  DEFAULT_GRANTED_SCOPES,
  MAX_PAGE_SIZE,
  type Sandbox,
  type SandboxEnv,
  type SandboxOptions,
  type SandboxRequestLog,
  type SandboxRoute,
  type SandboxSettings,
  type SandboxStats,
} from "./server";
export {
  FaultController,
  type ApiFaultKind,
  type FaultHandle,
  type FaultKind,
  type FaultSpec,
  type TokenFaultKind,
} from "./faults";
export {
  seedData,
  Prng,
  DEFAULT_SEED,
  DEFAULT_SEED_SIZES,
  SANDBOX_RESOURCES,
  type JsonValue,
  type SandboxDataset,
  type SandboxRecord,
  type SandboxResource,
  type SeedOptions,
} from "./seed";
export { awkwardMembers, type AwkwardMembers } from "./seed-awkward";
export { ResourceStore, createSandboxData, type SandboxData } from "./store";
export {
  WEBHOOK_EVENT_PREFIX,
  WEBHOOK_SIGNATURE_HEADER,
  deliverWebhook,
  newEventId,
  recordEvent,
  signWebhook,
  webhookEvent,
  webhookSignature,
  webhookSignatureHeader,
  type DeliveryResponse,
  type EventOptions,
  type SandboxWebhookEvent,
  type SignOptions,
  type SignedWebhook,
  type WebhookAction,
} from "./webhooks";
