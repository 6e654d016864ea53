import { pino, type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "../config.ts";

/** JSON logs on stdout (or `destination`); credentials are redacted wherever they could appear. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: {
      paths: [
        "req.headers.authorization",
        "headers.authorization",
        'req.headers["x-partner-key"]',
        'headers["x-partner-key"]',
        "password",
        "partnerKey",
        "refreshToken",
        "accessToken",
        "token",
        "*.partnerKey",
        "*.password",
        "*.refreshToken",
        "*.accessToken",
        "*.token",
        "variables.password",
        "variables.refreshToken",
      ],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
