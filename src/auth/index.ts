export * from "./keys.ts";
export * from "./passwords.ts";
export * from "./roles.ts";
export * from "./tokens.ts";
export * from "./login-limiter.ts";
export * from "./external-idp.ts";
