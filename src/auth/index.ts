export * from "./keys.ts";
export * from "./passwords.ts";
export * from "./roles.ts";
export * from "./tokens.ts";
