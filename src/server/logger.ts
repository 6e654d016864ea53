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
