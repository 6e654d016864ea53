// The demo shop: categories, products with stock, three demo accounts (README lists them), and
// for the demo customer a delivered order, an open order, a filled cart and their notifications.
// `npm run db:seed` (cli/seed.ts) runs it against any database (idempotent: existing rows are
// left alone); the server runs it (SEED_DEMO) at a start that finds the catalog empty.
import type { Viewer } from "../auth/roles.ts";
import type { Database, Prisma } from "../db/client.ts";
import { toGlobalId } from "../lib/ids.ts";
import type { Services } from "../modules/index.ts";

/** What seeding uses: accounts through identity, demo orders through the same cart and checkout as customers. */
export type SeedServices = Pick<Services, "identity" | "cart" | "orders">;

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

export async function seedDemoShop(prisma: Prisma, services: SeedServices): Promise<void> {
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
    if (!found) await services.identity.createUser(account);
  }
  await seedDemoOrders(prisma, services);
}

/** Once (when the demo customer has no orders): placed through the real cart and checkout, so stock, ledger and notifications agree. */
async function seedDemoOrders(prisma: Prisma, services: SeedServices): Promise<void> {
  const as = async (email: string): Promise<Viewer> => {
    const user = await prisma.user.findUniqueOrThrow({ where: { email }, select: { id: true, role: true } });
    return { userId: user.id, role: user.role, sessionId: "seed", tokenExpiresAt: new Date(8.64e15) };
  };
  const customer = await as(DEMO_ACCOUNTS[0].email);
  const staff = await as(DEMO_ACCOUNTS[1].email);
  if ((await prisma.order.count({ where: { userId: customer.userId } })) > 0) return;
  const inStock = await prisma.product.findMany({
    where: { status: "ACTIVE", stockLevel: { onHand: { gte: 5 } } },
    orderBy: { slug: "asc" },
    take: 4,
    select: { id: true },
  });
  const [a, b, c, d] = inStock.map((p) => toGlobalId("Product", p.id));
  if (!a || !b || !c || !d) return;

  await services.cart.addToCart(customer, a, 2);
  await services.cart.addToCart(customer, b, 1);
  const delivered = await services.orders.checkout(customer, "demo-order-1");
  for (const status of ["PAID", "SHIPPED", "DELIVERED"] as const) {
    await services.orders.setStatus(staff, toGlobalId("Order", delivered.id), status);
  }
  await services.cart.addToCart(customer, c, 1);
  await services.orders.checkout(customer, "demo-order-2");
  await services.cart.addToCart(customer, d, 1);
  // The delivered order's news has been seen; the open order's has not.
  await prisma.notification.updateMany({
    where: { userId: customer.userId, title: { startsWith: `Order ${delivered.number}` } },
    data: { readAt: new Date() },
  });
}

// Any constant distinct from the migration lock's.
const SEED_LOCK = 72_707_370;

/**
 * Seeds when the catalog is empty (no categories, no products), whatever accounts exist: an
 * account made with `npm run user:create` before the first start must not leave the demo shop
 * empty. Once there is a catalog it never runs again, so a shop's own data is left alone.
 * Several instances starting at once seed once.
 */
export async function seedIfEmpty(db: Database, services: SeedServices): Promise<boolean> {
  return db.sql.withConnection(async (conn) => {
    await conn.query("SELECT pg_advisory_lock($1)", [SEED_LOCK]);
    try {
      const [categories, products] = await Promise.all([db.prisma.category.count(), db.prisma.product.count()]);
      if (categories > 0 || products > 0) return false;
      await seedDemoShop(db.prisma, services);
      return true;
    } finally {
      await conn.query("SELECT pg_advisory_unlock($1)", [SEED_LOCK]);
    }
  });
}
