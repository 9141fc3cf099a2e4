// External processes: logged line by line (tokens redacted), time-limited, cancellable, errors that say what failed.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { CommandError, ExitCode, InterruptedError, MissingToolError } from "../../bootstrap/errors.ts";
import { runProcess } from "../../bootstrap/process.ts";
import { tempDir, waitFor } from "./helpers.ts";

async function setup() {
  const dir = await tempDir();
  const logFile = join(dir, "logs", "node.log");
  return { dir, logFile, base: { timeoutMs: 10_000, signal: new AbortController().signal, logFile } };
}

describe("process", () => {
  it("returns stdout and logs the command and every line of output, stderr marked", async () => {
    const { logFile, base } = await setup();
    const lines: string[] = [];
    const result = await runProcess("sh", ["-c", "echo one; echo two >&2; echo three"], {
      ...base,
      onLine: (line, stream) => lines.push(`${stream}:${line}`),
    });
    expect(result.stdout).to.equal("one\nthree");
    expect(lines).to.have.members(["stdout:one", "stderr:two", "stdout:three"]);
    const log = await readFile(logFile, "utf8");
    expect(log).to.contain("$ sh -c echo one; echo two >&2; echo three");
    expect(log).to.contain("one\n").and.to.contain("! two\n").and.to.contain("# ok after");
  });

  it("redacts bootstrap tokens from the log and from live lines", async () => {
    const { logFile, base } = await setup();
    const lines: string[] = [];
    await runProcess("sh", ["-c", "echo kubeadm join --token abcdef.0123456789abcdef"], {
      ...base,
      onLine: (line) => lines.push(line),
    });
    expect(await readFile(logFile, "utf8")).not.to.contain("abcdef.0123456789abcdef");
    expect(lines).to.deep.equal(["kubeadm join --token <redacted-token>"]);
  });

  it("keeps a secret stdout out of the log but returns it", async () => {
    const { logFile, base } = await setup();
    const result = await runProcess("sh", ["-c", 'echo "client-key-data: $KEY"'], {
      ...base,
      env: { KEY: "SECRET" },
      secretStdout: true,
    });
    expect(result.stdout).to.equal("client-key-data: SECRET");
    expect(await readFile(logFile, "utf8")).not.to.contain("SECRET");
  });

  it("a non-zero exit is a CommandError with the code, the last line and the log path", async () => {
    const { logFile, base } = await setup();
    try {
      await runProcess("sh", ["-c", "echo working; echo 'no space left' >&2; exit 3"], {
        ...base,
        label: "vagrant up m-k8s",
      });
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(CommandError);
      expect((error as CommandError).exitCode).to.equal(ExitCode.failure);
      expect((error as Error).message).to.equal(
        `vagrant up m-k8s: exited with code 3: no space left (log: ${logFile})`,
      );
    }
  });

  it("stops a child that outlives its timeout and says so", async () => {
    const { base } = await setup();
    const started = Date.now();
    try {
      await runProcess("sleep", ["30"], { ...base, timeoutMs: 300 });
      expect.fail("must time out");
    } catch (error) {
      expect(error).to.be.instanceOf(CommandError);
      expect((error as Error).message).to.contain("timed out after 0.3s");
    }
    expect(Date.now() - started).to.be.lessThan(5000);
  });

  it("a missing program with an install hint is a MissingToolError (exit 2) that says what to install", async () => {
    const { base } = await setup();
    try {
      await runProcess("kubelab-no-such-tool", ["--version"], {
        ...base,
        missingToolHint: "install it from example.org",
      });
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(MissingToolError);
      expect((error as MissingToolError).exitCode).to.equal(ExitCode.badInput);
      expect((error as Error).message).to.equal(
        "kubelab-no-such-tool is not installed or not on PATH: install it from example.org",
      );
    }
  });

  it("on abort sends the kill signal to the child, waits for it, and throws InterruptedError", async () => {
    const { dir, base } = await setup();
    const controller = new AbortController();
    const marker = join(dir, "got-int");
    const running = runProcess(
      "sh",
      ["-c", `trap 'echo int > ${marker}; exit 130' INT; echo ready; while :; do sleep 0.05; done`],
      {
        ...base,
        signal: controller.signal,
        killSignal: "SIGINT",
        onLine: () => controller.abort("SIGINT"),
      },
    );
    try {
      await running;
      expect.fail("must be interrupted");
    } catch (error) {
      expect(error).to.be.instanceOf(InterruptedError);
      expect((error as InterruptedError).exitCode).to.equal(ExitCode.interrupted);
    }
    await waitFor(
      async () => (await readFile(marker, "utf8").catch(() => "")) === "int\n",
      5000,
      "the child's INT trap",
    );
  });
});
