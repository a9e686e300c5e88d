import type { Express } from "express";
import type { ConfigError } from "../config";
import { createBaseApp } from "./app";
import { sendError } from "./errors";

/**
 * What the `api` function serves when its own configuration is missing or malformed (e.g.
 * BACKUP_STATUS_TOKEN unset or too short): every route answers 503
 * `{"error": {"code": "config_error", "message": "<VARIABLE> <what is wrong>", "variable": …}}`,
 * with the usual headers and request log entry, instead of the runtime's plain-text 500. The
 * answer names the variable, never its value.
 */
export function createConfigErrorApp(error: ConfigError): Express {
  const app = createBaseApp();
  app.use((_req, res) => {
    sendError(res, 503, "config_error", `${error.variable} ${error.detail}`, {
      variable: error.variable,
    });
  });
  return app;
}
