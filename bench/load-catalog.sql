-- The catalog `npm run bench` measures (bench/products.ts): 50 categories, 10,000 ACTIVE products,
-- a stock level per product and a ledger that agrees with it. Run after the server has applied its
-- migrations; replaces the whole catalog (and what refers to it: carts, orders' items), so only
-- ever on a scratch database. Deterministic, the same values as ../shared/peers/catalog/load-data.sql,
-- so figures and ids compare with the peer rig's:
--   category g : id md5('category-g'), slug category-g, name 'Category g', position g
--   product g  : id md5('product-g'), slug product-g, name 'Product g', description '',
--                price_cents 100 + (g*7919) % 100000, category 1 + g % 50, ACTIVE,
--                created_at 2024-01-01 + g minutes (orderBy CREATED_AT ASC = Product 1, 2, ...)
--   stock      : on_hand (g*31) % 500, version 1 where on_hand > 0 (one change: the ADJUSTMENT
--                below), else 0 (never changed); one ADJUSTMENT movement of on_hand per product
--                with stock > 0, so the ledger's sum equals on_hand everywhere.
BEGIN;
TRUNCATE stock_movements, stock_levels, cart_items, order_items, products, categories CASCADE;
INSERT INTO categories (id, slug, name, position, created_at)
SELECT md5('category-' || g)::uuid, 'category-' || g, 'Category ' || g, g, timestamptz '2024-01-01'
FROM generate_series(1, 50) g;
INSERT INTO products (id, slug, name, description, price_cents, currency, category_id, status, created_at, updated_at)
SELECT md5('product-' || g)::uuid, 'product-' || g, 'Product ' || g, '', 100 + (g * 7919) % 100000, 'USD',
       md5('category-' || (1 + g % 50))::uuid, 'ACTIVE',
       timestamptz '2024-01-01' + g * interval '1 minute', timestamptz '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, 10000) g;
INSERT INTO stock_levels (product_id, on_hand, version, updated_at)
SELECT md5('product-' || g)::uuid, (g * 31) % 500, CASE WHEN (g * 31) % 500 > 0 THEN 1 ELSE 0 END, timestamptz '2024-01-01'
FROM generate_series(1, 10000) g;
INSERT INTO stock_movements (product_id, delta, reason, created_at)
SELECT md5('product-' || g)::uuid, (g * 31) % 500, 'ADJUSTMENT', timestamptz '2024-01-01'
FROM generate_series(1, 10000) g WHERE (g * 31) % 500 > 0;
COMMIT;
ANALYZE categories;
ANALYZE products;
ANALYZE stock_levels;
ANALYZE stock_movements;
