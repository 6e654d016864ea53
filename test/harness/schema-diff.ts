// Computes the SQL that creates prisma/schema.prisma from an empty database, with Prisma's own
// WebAssembly schema engine (the native engine cannot be downloaded on these machines).
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";

const require = createRequire(import.meta.url);

export async function diffSchemaFromEmpty(databaseUrl: string, schemaPath = "prisma/schema.prisma"): Promise<string> {
  const bg = await import("@prisma/schema-engine-wasm/schema_engine_bg");
  const wasmPath = join(dirname(require.resolve("@prisma/schema-engine-wasm")), "schema_engine_bg.wasm");
  const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), {
    "./schema_engine_bg.js": bg as unknown as WebAssembly.ModuleImports,
  });
  bg.__wbg_set_wasm(instance.exports);
  (instance.exports as { __wbindgen_start?: () => void }).__wbindgen_start?.();
  const content = await readFile(schemaPath, "utf8");
  const factory = new PrismaPg({ connectionString: databaseUrl }, { schema: "public" });
  // The engine expects Prisma's error-capturing wrapper around the adapter factory.
  const adapter = bindMigrationAwareSqlAdapterFactory(factory);
  const engine = await bg.SchemaEngine.new({ datamodels: undefined }, () => {}, adapter);
  try {
    const result = await engine.diff({
      from: { tag: "empty" },
      to: { tag: "schemaDatamodel", files: [{ path: schemaPath, content }] },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    });
    return (result as unknown as { stdout: string }).stdout;
  } finally {
    engine.free();
  }
}

if (process.argv[1]?.endsWith("schema-diff.ts")) {
  process.stdout.write(await diffSchemaFromEmpty(process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres"));
}
