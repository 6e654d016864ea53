-- The security audit log (src/modules/audit): each row written in the transaction of the change it
-- records; `seq` orders it (newest first) and its cursors. actor_id has no foreign key on purpose:
-- the log outlives the accounts it names.
CREATE TABLE "audit_events" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "seq" BIGSERIAL NOT NULL,
    "action" TEXT NOT NULL,
    "actor_id" UUID,
    "target" TEXT,
    "details" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_seq_key" ON "audit_events"("seq");
