-- Order numbers come from a sequence: CW- plus the order's seq padded to six digits.
ALTER TABLE "orders" ADD COLUMN "seq" SERIAL NOT NULL;

-- CreateIndex
CREATE UNIQUE INDEX "orders_seq_key" ON "orders"("seq");
