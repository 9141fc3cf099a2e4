// The tests' system tools: a missing one is named in one line with the apt command (exit 2), before any test runs.
import { symlink } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { missingToolsMessage, requireSystemTool, SYSTEM_TOOLS } from "../../../scripts/system-tools.ts";
import { tempDir } from "../helpers.ts";

const SCRIPT = new URL("../../../scripts/system-tools.ts", import.meta.url).pathname;

describe("scripts/system-tools", () => {
  it("names every missing tool and the one apt-get command that installs them, in one line", () => {
    const message = missingToolsMessage(SYSTEM_TOOLS);
    expect(message.split("\n")).to.have.length(1);
    expect(message).to.include("shellcheck, ruby, openssl");
    expect(message).to.include("sudo apt-get install -y shellcheck ruby openssl");
  });

  it("requireSystemTool refuses a tool that is not in the table (a typo in a test is not a pass)", async () => {
    let error: unknown;
    await requireSystemTool("no-such-tool").catch((caught: unknown) => (error = caught));
    expect(error).to.be.instanceOf(RangeError);
  });

  it("--check on a PATH without the tools exits 2 with the one line and installs nothing", async () => {
    const bin = await tempDir();
    // Only sh (which the check runs `command -v` in) and this Node: none of the tools.
    await symlink((await execa("sh", ["-c", "command -v sh"])).stdout, join(bin, "sh"));
    await symlink(process.execPath, join(bin, "node"));
    const result = await execa(join(bin, "node"), [SCRIPT, "--check"], { env: { PATH: bin }, reject: false });
    expect(result.exitCode).to.equal(2);
    expect(result.stdout).to.equal("");
    expect(result.stderr.trim().split("\n")).to.deep.equal([missingToolsMessage(SYSTEM_TOOLS)]);
  });

  it("--check where every tool is found says nothing and exits 0", async () => {
    for (const tool of SYSTEM_TOOLS) await requireSystemTool(tool.command);
    const result = await execa(process.execPath, [SCRIPT, "--check"], { reject: false });
    expect([result.exitCode, result.stdout, result.stderr]).to.deep.equal([0, "", ""]);
  });
});
