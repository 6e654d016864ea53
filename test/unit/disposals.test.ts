// The composition root's one list of what to close (src/app/disposals.ts): a stop closes the
// listeners before Apollo, Redis and the database, and a failing close never keeps the rest open.
import { expect, it } from "vitest";
import { Disposals } from "../../src/app/disposals.ts";

it("closes in the reverse order of registration, waiting for each", async () => {
  const disposals = new Disposals();
  const closed: string[] = [];
  for (const name of ["database", "bus", "apollo", "drain"]) {
    disposals.add(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      closed.push(name);
    });
  }
  await disposals.dispose();
  expect(closed).toEqual(["drain", "apollo", "bus", "database"]);
});

it("runs every close when one fails, then rejects with the first failure", async () => {
  const disposals = new Disposals();
  const closed: string[] = [];
  disposals.add(() => void closed.push("database"));
  disposals.add(() => {
    throw new Error("bus close failed");
  });
  disposals.add(() => void closed.push("apollo"));
  disposals.add(async () => {
    throw new Error("drain exceeded SHUTDOWN_TIMEOUT");
  });
  await expect(disposals.dispose()).rejects.toThrow("drain exceeded SHUTDOWN_TIMEOUT");
  expect(closed).toEqual(["apollo", "database"]);
});

it("closes once: a second dispose waits for the first to finish", async () => {
  const disposals = new Disposals();
  let closes = 0;
  let finished = false;
  disposals.add(async () => {
    closes += 1;
    await new Promise((resolve) => setTimeout(resolve, 5));
    finished = true;
  });
  const first = disposals.dispose();
  await disposals.dispose();
  expect(finished).toBe(true);
  await first;
  await disposals.dispose();
  expect(closes).toBe(1);
});
