/**
 * The parts of firebase-tools (a dev dependency of the repository root, untyped) the tests call.
 */
declare module "firebase-tools/lib/deploy/functions/prepareFunctionsUpload" {
  /** Zips the functions source as `firebase deploy` uploads it, honouring `config.ignore`. */
  export function prepareFunctionsUpload(
    sourceDir: string,
    config: { ignore?: string[] },
    runtimeConfig?: unknown,
  ): Promise<{ pathToSource: string; hash: string }>;
}

declare module "firebase-tools/lib/functions/env" {
  /** Parses a dotenv file as the CLI and the emulator read functions/.env*; throws when invalid. */
  export function parseStrict(data: string): Record<string, string>;
  /** Throws when `firebase deploy` would refuse the key (reserved for the platform). */
  export function validateKey(key: string): void;
}

declare module "firebase-tools/lib/deploy/functions/params" {
  /**
   * Resolves the functions' params as `firebase deploy` does: from the dotenv values, else by
   * prompting; non-interactive, a param left without a value fails the deploy.
   */
  export function resolveParams(
    params: unknown[],
    firebaseConfig: { projectId: string },
    userEnvs: Record<string, string>,
    nonInteractive?: boolean,
    isEmulator?: boolean,
  ): Promise<Record<string, unknown>>;
}
