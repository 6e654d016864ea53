// The demo shop: categories, products with stock, and three demo accounts (README lists them).
// `npm run db:seed` runs it against any database (idempotent: existing rows are left alone);
// the server runs it on the first start of an empty embedded database.
import type { Database, Prisma } from "../src/db/client.ts";
import type { IdentityService } from "../src/modules/identity/index.ts";

export const DEMO_ACCOUNTS = [
  { email: "customer@cartwheel.test", password: "cartwheel-customer", name: "Casey Customer", role: "CUSTOMER" },
  { email: "staff@cartwheel.test", password: "cartwheel-staff", name: "Sam Staff", role: "STAFF" },
  { email: "admin@cartwheel.test", password: "cartwheel-admin", name: "Alex Admin", role: "ADMIN" },
] as const;

const CATALOG: Record<string, { name: string; nouns: string[] }> = {
  lighting: { name: "Lighting", nouns: ["Desk Lamp", "Floor Lamp", "Pendant", "String Lights", "Wall Sconce"] },
  kitchen: { name: "Kitchen", nouns: ["Chef Knife", "Skillet", "Kettle", "Cutting Board", "Espresso Cups"] },
  outdoor: { name: "Outdoor", nouns: ["Tent", "Sleeping Bag", "Camp Stove", "Headlamp", "Hammock"] },
  office: { name: "Office", nouns: ["Notebook", "Fountain Pen", "Monitor Stand", "Desk Mat", "Task Chair"] },
  audio: { name: "Audio", nouns: ["Headphones", "Speaker", "Turntable", "Earbuds", "Microphone"] },
  textiles: { name: "Textiles", nouns: ["Throw Blanket", "Linen Sheets", "Bath Towel", "Cushion", "Rug"] },
};
const ADJECTIVES = ["Aurora", "Boreal"];

export interface SeedProduct {
  slug: string;
  name: string;
  description: string;
  priceCents: number;
  costCents: number;
  categorySlug: string;
  stock: number;
}

/** 6 categories x 10 products; every seventh product starts out of stock. */
export function demoProducts(): SeedProduct[] {
  const products: SeedProduct[] = [];
  let i = 0;
  for (const [categorySlug, { nouns }] of Object.entries(CATALOG)) {
    for (const noun of nouns) {
      for (const adjective of ADJECTIVES) {
        i += 1;
        const name = `${adjective} ${noun}`;
        const priceCents = 999 + ((i * 7919) % 90) * 100;
        products.push({
          slug: name.toLowerCase().replace(/[^a-z0-9]+/g, "-"),
          name,
          description: `The ${name.toLowerCase()}: a Cartwheel demo product in ${CATALOG[categorySlug]!.name.toLowerCase()}.`,
          priceCents,
          costCents: Math.round(priceCents * 0.55),
          categorySlug,
          stock: i % 7 === 0 ? 0 : ((i * 13) % 40) + 1,
        });
      }
    }
  }
  return products;
}

export async function seedDemoShop(prisma: Prisma, identity: IdentityService): Promise<void> {
  const categories = Object.entries(CATALOG);
  for (const [index, [slug, { name }]] of categories.entries()) {
    await prisma.category.upsert({ where: { slug }, create: { slug, name, position: index }, update: {} });
  }
  const categoryIds = new Map((await prisma.category.findMany()).map((c) => [c.slug, c.id]));
  const products = demoProducts();
  await prisma.$transaction(async (tx) => {
    const existing = new Set((await tx.product.findMany({ select: { slug: true } })).map((p) => p.slug));
    const fresh = products.filter((p) => !existing.has(p.slug));
    const created = await tx.product.createManyAndReturn({
      data: fresh.map(({ stock: _stock, categorySlug, ...p }) => ({ ...p, categoryId: categoryIds.get(categorySlug)! })),
      select: { id: true, slug: true },
    });
    const stockBySlug = new Map(fresh.map((p) => [p.slug, p.stock]));
    await tx.stockLevel.createMany({ data: created.map((p) => ({ productId: p.id, onHand: stockBySlug.get(p.slug)! })) });
    // The ledger is the source of truth: opening stock is a movement like any other.
    await tx.stockMovement.createMany({
      data: created.filter((p) => stockBySlug.get(p.slug)! > 0).map((p) => ({ productId: p.id, delta: stockBySlug.get(p.slug)!, reason: "ADJUSTMENT" as const })),
    });
  });
  for (const account of DEMO_ACCOUNTS) {
    const found = await prisma.user.findUnique({ where: { email: account.email }, select: { id: true } });
    if (!found) await identity.createUser(account);
  }
}

// Any constant distinct from the migration lock's.
const SEED_LOCK = 72_707_370;

/** Seeds when the database has no users and no products; several instances starting at once seed once. */
export async function seedIfEmpty(db: Database, identity: IdentityService): Promise<boolean> {
  return db.sql.withConnection(async (conn) => {
    await conn.query("SELECT pg_advisory_lock($1)", [SEED_LOCK]);
    try {
      const [users, products] = await Promise.all([db.prisma.user.count(), db.prisma.product.count()]);
      if (users > 0 || products > 0) return false;
      await seedDemoShop(db.prisma, identity);
      return true;
    } finally {
      await conn.query("SELECT pg_advisory_unlock($1)", [SEED_LOCK]);
    }
  });
}

// `npm run db:seed`
if (process.argv[1]?.endsWith("seed.ts") || process.argv[1]?.endsWith("seed.js")) {
  const { loadConfig } = await import("../src/config.ts");
  const { openDatabase } = await import("../src/db/client.ts");
  const { applyMigrations } = await import("../src/db/migrate.ts");
  const { identityServiceFor } = await import("../src/modules/identity/index.ts");
  const config = loadConfig();
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await applyMigrations(db.sql);
    await seedDemoShop(db.prisma, await identityServiceFor(db.prisma, config));
    console.log("demo shop seeded");
  } finally {
    await db.close();
  }
}
