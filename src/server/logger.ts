import { pino, type Logger } from "pino";
import type { LogLevel } from "../config.ts";

/** JSON logs; credentials are redacted wherever they could appear. */
export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    redact: {
      paths: [
        "req.headers.authorization",
        "headers.authorization",
        'req.headers["x-partner-key"]',
        'headers["x-partner-key"]',
        "*.partnerKey",
        "*.password",
        "*.refreshToken",
        "*.accessToken",
        "variables.password",
        "variables.refreshToken",
      ],
      censor: "[redacted]",
    },
  });
}
