export { AuditLog, type AuditAction, type AuditDetails, type AuditEntry } from "./audit.service.ts";
export { PartnerAudit, type PartnerUse, type PartnerAuditOptions } from "./audit.partners.ts";
export { createAuditLoaders, type AuditLoaders } from "./audit.loaders.ts";
export { AuditEvent, type AuditRow } from "./audit.type.ts";
import { AuditResolver } from "./audit.resolver.ts";

export const auditResolvers = [AuditResolver] as const;
export { auditNodeFetchers, canSeeAudit } from "./audit.resolver.ts";
