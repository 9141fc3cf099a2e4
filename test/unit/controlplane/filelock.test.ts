// The build lock: one holder at a time across processes, and a lock left by a dead process is taken over.
import { readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { useTempDir } from "./tempdir.ts";
import { execa } from "execa";

import { acquireFileLock } from "../../../bootstrap/controlplane/filelock.ts";

describe("controlplane/filelock", () => {
  const tempDir = useTempDir("lock-test");

  it("makes a second holder wait until the first releases", async () => {
    const path = join(tempDir(), "build.lock");
    const first = await acquireFileLock(path);
    expect(await readFile(path, "utf8")).to.equal(`${process.pid}@${hostname()}\n`);
    const order: string[] = [];
    let waited = "";
    const second = acquireFileLock(path, { pollMs: 20, onWait: (holder) => (waited = holder) }).then(
      (lock) => {
        order.push("second acquired");
        return lock;
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    order.push("first releases");
    await first.release();
    await (await second).release();
    expect(order).to.deep.equal(["first releases", "second acquired"]);
    expect(waited).to.equal(`${process.pid}@${hostname()}`);
  });

  it("takes over a lock whose holder on this host is no longer running", async () => {
    const path = join(tempDir(), "build.lock");
    const dead = execa("true");
    await dead;
    expect(dead.pid).to.be.a("number");
    await writeFile(path, `${dead.pid}@${hostname()}\n`);
    const lock = await acquireFileLock(path, { timeoutMs: 1000 });
    expect(await readFile(path, "utf8")).to.equal(`${process.pid}@${hostname()}\n`);
    await lock.release();
  });

  it("gives up after its timeout, naming the live holder", async () => {
    const path = join(tempDir(), "build.lock");
    await writeFile(path, `1@${hostname()}\n`);
    const error = await acquireFileLock(path, { timeoutMs: 100, pollMs: 20 }).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error?.message).to.contain(`still held by 1@${hostname()}`);
  });

  it("never removes a lock that another process took over", async () => {
    const path = join(tempDir(), "build.lock");
    const lock = await acquireFileLock(path);
    await writeFile(path, `1@${hostname()}\n`);
    await lock.release();
    expect(await readFile(path, "utf8")).to.equal(`1@${hostname()}\n`);
  });
});
