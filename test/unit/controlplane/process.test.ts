// Component processes: output kept in a log file, stop() reaches the whole process group, SIGKILL after the grace.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import { useTempDir } from "./tempdir.ts";

import { isRunning, ManagedProcess, tailOfFile } from "../../../bootstrap/controlplane/process.ts";

describe("controlplane/process", () => {
  const tempDir = useTempDir("process-test");

  it("appends stdout and stderr to the log file and reports a clean exit", async () => {
    const logPath = join(tempDir(), "echo.log");
    const child = await ManagedProcess.start({
      name: "echo",
      command: "sh",
      args: ["-c", "echo out; echo err >&2"],
      logPath,
    });
    const info = await child.exited;
    expect(info).to.deep.equal({ code: 0, signal: undefined, requested: false });
    expect((await readFile(logPath, "utf8")).split("\n").sort()).to.include.members(["out", "err"]);
    expect(child.running).to.equal(false);
  });

  it("stops the whole process group, children included", async () => {
    const pidFile = join(tempDir(), "child.pid");
    const parent = await ManagedProcess.start({
      name: "parent",
      command: "sh",
      args: ["-c", `sleep 300 & echo $! > ${pidFile}; wait`],
      logPath: join(tempDir(), "parent.log"),
    });
    let grandchild = 0;
    for (let attempt = 0; attempt < 50 && grandchild === 0; attempt++) {
      grandchild = Number((await readFile(pidFile, "utf8").catch(() => "")).trim() || 0);
      await sleep(20);
    }
    expect(isRunning(grandchild), "the grandchild did not start").to.equal(true);
    const info = await parent.stop();
    expect(info.requested).to.equal(true);
    for (let attempt = 0; attempt < 50 && isRunning(grandchild); attempt++) await sleep(20);
    expect(isRunning(grandchild), "the grandchild outlived stop()").to.equal(false);
  });

  it("kills a process that ignores SIGTERM once the grace period is over", async () => {
    const stubborn = await ManagedProcess.start({
      name: "stubborn",
      command: "sh",
      args: ["-c", "trap '' TERM; while true; do sleep 0.05; done"],
      logPath: join(tempDir(), "stubborn.log"),
      stopGraceMs: 300,
    });
    await sleep(100);
    const started = Date.now();
    const info = await stubborn.stop();
    expect(info.signal).to.equal("SIGKILL");
    expect(Date.now() - started).to.be.at.least(250);
    expect(isRunning(stubborn.pid)).to.equal(false);
  });

  it("rejects with the reason when the program cannot be started", async () => {
    const error = await ManagedProcess.start({
      name: "ghost",
      command: join(tempDir(), "no-such-binary"),
      args: [],
      logPath: join(tempDir(), "ghost.log"),
    }).then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error?.message).to.match(/^ghost could not be started: .*ENOENT/);
  });

  it("reads only the last lines of a log", async () => {
    const logPath = join(tempDir(), "long.log");
    const child = await ManagedProcess.start({ name: "seq", command: "seq", args: ["1", "100000"], logPath });
    await child.exited;
    expect(tailOfFile(logPath, 3)).to.equal("99998\n99999\n100000");
    expect(tailOfFile(join(tempDir(), "missing.log"), 3)).to.equal("");
  });
});
