export { createApp, ROUTES, type AppDeps, type AppOptions } from "./app";
export { createConfigErrorApp } from "./config-error";
export {
  createFirebaseIdTokenVerifier,
  IdTokenUnverifiableError,
  InvalidIdTokenError,
  REALM_HEADER,
  verifyFirebaseIdToken,
  type FirebaseIdTokenVerifierOptions,
  type IdTokenClaims,
  type IdTokenVerifier,
} from "./auth";
export type { ManualBackupResult, ManualBackupStarter } from "./routes/backups";
export type { Method, RouteDefinition } from "./routing";
export { HttpError, sendError } from "./errors";
export { requestContext, type Principal } from "./context";
export { listen, type RunningServer } from "./server";
