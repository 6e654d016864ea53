// Prisma CLI configuration. The URL is only needed by `prisma migrate deploy` on machines
// where the native schema engine can be downloaded; the server applies migrations itself
// (src/db/migrate.ts), and `prisma generate` needs no database.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations", seed: "tsx src/cli/seed.ts" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/cartwheel" },
});
