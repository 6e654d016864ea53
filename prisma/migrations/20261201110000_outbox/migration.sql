-- Versions: stock levels and orders count their changes, like carts (subscription events carry them).
ALTER TABLE "stock_levels" ADD COLUMN "version" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "orders" ADD COLUMN "version" INTEGER NOT NULL DEFAULT 1;

-- The transactional outbox: every event, written in the transaction of the change that causes it.
-- Positions are contiguous and in commit order (outbox_head is updated, and so locked, by each
-- writing transaction as its last statement).
CREATE TABLE "outbox_events" (
    "position" BIGINT NOT NULL,
    "topic" TEXT NOT NULL,
    "scope_id" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "outbox_events_pkey" PRIMARY KEY ("position")
);

-- CreateIndex
CREATE INDEX "outbox_events_topic_scope_id_position_idx" ON "outbox_events"("topic", "scope_id", "position");

-- CreateIndex
CREATE INDEX "outbox_events_created_at_idx" ON "outbox_events"("created_at");

-- The last position handed out, and how far pruning has gone (cursors below it are expired).
-- `stream` names this database's event stream: instances of another database sharing the Redis
-- prefix never mix their positions in, and a cursor of another database is refused.
CREATE TABLE "outbox_head" (
    "id" INTEGER NOT NULL,
    "stream" UUID NOT NULL DEFAULT gen_random_uuid(),
    "position" BIGINT NOT NULL DEFAULT 0,
    "pruned_through" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "outbox_head_pkey" PRIMARY KEY ("id")
);

-- Which instance runs the relay (one at a time), until when.
CREATE TABLE "outbox_relay" (
    "id" INTEGER NOT NULL,
    "owner" TEXT,
    "lease_until" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "outbox_relay_pkey" PRIMARY KEY ("id")
);

INSERT INTO "outbox_head" ("id") VALUES (1);
INSERT INTO "outbox_relay" ("id") VALUES (1);
