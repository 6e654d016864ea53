-- Partial indexes for what customers page through (status ACTIVE): their pages read no draft or
-- archived rows. Staff pages keep using the full indexes.
-- CreateIndex
CREATE INDEX "products_active_category_name_idx" ON "products"("category_id", "name", "id") WHERE (status = 'ACTIVE');

-- CreateIndex
CREATE INDEX "products_active_name_idx" ON "products"("name", "id") WHERE (status = 'ACTIVE');

-- CreateIndex
CREATE INDEX "products_active_price_idx" ON "products"("price_cents", "id") WHERE (status = 'ACTIVE');

-- CreateIndex
CREATE INDEX "products_active_created_idx" ON "products"("created_at", "id") WHERE (status = 'ACTIVE');
