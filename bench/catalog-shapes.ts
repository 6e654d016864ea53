// The two catalog shapes `npm run bench` measures (the same documents as the peer rig,
// ../shared/peers/catalog/query-cw-*.json), each with a check of one answer against the formulas
// of load-catalog.sql and a count of the rows it returns.

export interface Shape {
  name: "flat" | "nested";
  query: string;
  /** Throws naming the first wrong value; returns the rows the answer holds (product and category objects). */
  check(data: unknown): number;
}

interface ProductNode {
  id: string;
  name: string;
  price: { amountCents: number };
  stock: number;
  category?: { name: string };
}
type Edges = { edges: { node: ProductNode }[] };

/** Product g of load-catalog.sql, from its name "Product g". */
function expectProduct(p: ProductNode, category: string | undefined): void {
  const g = Number(p.name.replace(/^Product /, ""));
  const wrong = (what: string) => new Error(`${what} of ${p.name}: ${JSON.stringify(p)}`);
  if (!Number.isInteger(g) || g < 1 || g > 10_000) throw wrong("name");
  if (p.price.amountCents !== 100 + ((g * 7919) % 100_000)) throw wrong("price");
  if (p.stock !== (g * 31) % 500) throw wrong("stock");
  if ((category ?? p.category?.name) !== `Category ${1 + (g % 50)}`) throw wrong("category");
}

export const SHAPES: Shape[] = [
  {
    name: "flat",
    query: `{ products(first: 50, orderBy: {field: CREATED_AT, direction: ASC}) { edges { node { id name price { amountCents } category { name } stock } } } }`,
    check(data) {
      const nodes = (data as { products: Edges }).products.edges.map((e) => e.node);
      if (nodes.length !== 50) throw new Error(`${nodes.length} products, not 50`);
      nodes.forEach((p, i) => {
        if (p.name !== `Product ${i + 1}`) throw new Error(`product ${i} is ${p.name}, not Product ${i + 1} (created_at order)`);
        expectProduct(p, undefined);
      });
      // Each product and its category object.
      return nodes.length * 2;
    },
  },
  {
    name: "nested",
    query: `{ categories { id name products(first: 20) { edges { node { id name price { amountCents } stock } } } } }`,
    check(data) {
      const categories = (data as { categories: ({ name: string } & { products: Edges })[] }).categories;
      if (categories.length !== 50) throw new Error(`${categories.length} categories, not 50`);
      let rows = categories.length;
      categories.forEach((c, i) => {
        if (c.name !== `Category ${i + 1}`) throw new Error(`category ${i} is ${c.name}, not Category ${i + 1} (position order)`);
        const nodes = c.products.edges.map((e) => e.node);
        if (nodes.length !== 20) throw new Error(`${c.name} has ${nodes.length} products, not 20`);
        for (let j = 1; j < nodes.length; j++) {
          if (nodes[j - 1]!.name > nodes[j]!.name) throw new Error(`${c.name}'s products are not in name order`);
        }
        for (const p of nodes) expectProduct(p, c.name);
        rows += nodes.length;
      });
      return rows;
    },
  },
];
