// The composition root's one list of what to close (src/app/disposals.ts): a stop closes the
// listeners before Apollo, Redis and the database, and a failing close never keeps the rest open.
import { expect, it } from "vitest";
import { Disposals } from "../../src/app/disposals.ts";

it("closes in the reverse order of registration, waiting for each", async () => {
  const disposals = new Disposals();
  const steps: string[] = [];
  for (const name of ["database", "bus", "apollo", "drain"]) {
    disposals.add(async () => {
      steps.push(`start ${name}`);
      // Asynchronous: a close that started before this one ended would show between the two.
      await new Promise((resolve) => setImmediate(resolve));
      steps.push(`end ${name}`);
    });
  }
  await disposals.dispose();
  expect(steps).toEqual(["drain", "apollo", "bus", "database"].flatMap((name) => [`start ${name}`, `end ${name}`]));
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
    await new Promise((resolve) => setImmediate(resolve));
    finished = true;
  });
  const first = disposals.dispose();
  await disposals.dispose();
  expect(finished).toBe(true);
  await first;
  await disposals.dispose();
  expect(closes).toBe(1);
});
