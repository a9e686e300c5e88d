/**
 * A leaf module shared by the OfficeRnD client and the HTTP app (which redacts the webhook
 * secret and the status token from error answers): it imports nothing of the product.
 */

/**
 * Removes secrets from text that will reach a log line or an error message: the client secret,
 * every access token seen, and anything shaped like a bearer credential.
 */
export class Redactor {
  private readonly secrets = new Set<string>();
  add(secret: string): void {
    if (secret.length >= 4) this.secrets.add(secret);
  }
  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join("[redacted]");
    return out
      .replace(/(bearer\s+)[A-Za-z0-9._~+/=-]+/gi, "$1[redacted]")
      .replace(/((?:access_token|client_secret)["'=:\s]+)[^\s"'&,}]+/gi, "$1[redacted]");
  }
}
