// The system tools the tests need: found, installed with apt when this user can, or named in one line (exit 2).
//
//   node scripts/system-tools.ts            check, and install what is missing (as root, or with sudo -n)
//   node scripts/system-tools.ts --check    check only: exit 2 naming what is missing
//
// The README's test command (npm run test:all) runs this first, and so does CI through that same command, so
// a fresh machine gets the same set-up either way. Tests that need a tool call requireSystemTool in a
// `before` hook, which fails with the same one-line message (never a skip).
import { appendFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";

/** A program the tests run, the Debian package that has it, and what needs it. */
export interface SystemTool {
  readonly command: string;
  readonly aptPackage: string;
  readonly neededBy: string;
}

export const SYSTEM_TOOLS: readonly SystemTool[] = [
  { command: "shellcheck", aptPackage: "shellcheck", neededBy: "the lint of every rendered node script" },
  {
    command: "ruby",
    aptPackage: "ruby",
    neededBy: "the Vagrantfile, evaluated against a stub of Vagrant's API",
  },
  { command: "openssl", aptPackage: "openssl", neededBy: "the CA-hash cross-check" },
  {
    command: "podman",
    aptPackage: "podman",
    neededBy:
      "the podman provider's node containers, kind's podman engine, the kit's client and server containers",
  },
  // podman's package depends on crun | runc and apt takes crun, which refuses this host's hybrid cgroup v1
  // layout: every podman run here says --runtime runc.
  {
    command: "runc",
    aptPackage: "runc",
    neededBy: "podman's OCI runtime for the node containers (not crun)",
  },
  { command: "dpkg-deb", aptPackage: "dpkg", neededBy: "the offline kit's Debian packages" },
  { command: "gpg", aptPackage: "gnupg", neededBy: "the signing of the offline kit's apt repository" },
  { command: "gpgv", aptPackage: "gpgv", neededBy: "the check of the kit's signatures as apt makes it" },
  {
    command: "debootstrap",
    aptPackage: "debootstrap",
    neededBy: "the offline kit's Debian root filesystems",
  },
  {
    command: "docker-registry",
    aptPackage: "docker-registry",
    neededBy: "the registry client's tests (a real registry with token auth on 127.0.0.1)",
  },
  { command: "containerd", aptPackage: "containerd", neededBy: "the image import into a node's containerd" },
  { command: "ctr", aptPackage: "containerd", neededBy: "the image import into a node's containerd" },
  { command: "gcc", aptPackage: "gcc", neededBy: "the kit's pause image (pause.c, built static)" },
];

/** The one line that names missing tools and the command that installs them. */
export function missingToolsMessage(missing: readonly SystemTool[]): string {
  const packages = [...new Set(missing.map((tool) => tool.aptPackage))].join(" ");
  return (
    `kubelab's tests need ${missing.map((tool) => tool.command).join(", ")}, not installed: ` +
    `sudo apt-get install -y ${packages}   (or run npm run test:all as root, which installs them)`
  );
}

/** Whether `command` is on PATH. */
export async function hasCommand(command: string): Promise<boolean> {
  const result = await execa("sh", ["-c", 'command -v "$1" >/dev/null 2>&1', "sh", command], {
    reject: false,
    timeout: 10_000,
  });
  return result.exitCode === 0;
}

/** For a test's `before` hook: throws the one-line message when `command` (a SYSTEM_TOOLS entry) is missing. */
export async function requireSystemTool(command: string): Promise<void> {
  const tool = SYSTEM_TOOLS.find((entry) => entry.command === command);
  if (tool === undefined) throw new RangeError(`${command} is not in scripts/system-tools.ts SYSTEM_TOOLS`);
  if (!(await hasCommand(command))) throw new Error(missingToolsMessage([tool]));
}

/** How this user can run apt-get as root: directly, through passwordless sudo, or not at all. */
async function aptAsRoot(): Promise<string[] | undefined> {
  if (process.getuid?.() === 0) return [];
  if (!(await hasCommand("sudo"))) return undefined;
  const sudo = await execa("sudo", ["-n", "true"], { reject: false, timeout: 10_000 });
  return sudo.exitCode === 0 ? ["sudo", "-n"] : undefined;
}

async function main(argv: readonly string[]): Promise<number> {
  const checkOnly = argv.includes("--check");
  const missing: SystemTool[] = [];
  for (const tool of SYSTEM_TOOLS) if (!(await hasCommand(tool.command))) missing.push(tool);
  if (missing.length === 0) return 0;
  const prefix = checkOnly ? undefined : await aptAsRoot();
  if (prefix === undefined) {
    process.stderr.write(`${missingToolsMessage(missing)}\n`);
    return 2;
  }
  for (const tool of missing) {
    process.stdout.write(
      `installing ${tool.command} with apt-get (${tool.aptPackage}), for ${tool.neededBy}\n`,
    );
  }
  const logDir = join(tmpdir(), "kubelab");
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, "system-tools.log");
  const apt = async (args: readonly string[]): Promise<boolean> => {
    const [file, ...rest] = [...prefix, "apt-get", ...args];
    const result = await execa(file!, rest, {
      reject: false,
      timeout: 15 * 60_000,
      all: true,
      env: { DEBIAN_FRONTEND: "noninteractive" },
    });
    appendFileSync(
      logFile,
      `$ ${[file, ...rest].join(" ")}\n${result.all ?? ""}\n# exit ${result.exitCode}\n`,
    );
    return result.exitCode === 0;
  };
  const packages = [...new Set(missing.map((tool) => tool.aptPackage))];
  if (!(await apt(["update", "-qq"])) || !(await apt(["install", "-y", "-qq", ...packages]))) {
    process.stderr.write(`apt-get could not install ${packages.join(" ")} (see ${logFile})\n`);
    process.stderr.write(`${missingToolsMessage(missing)}\n`);
    return 2;
  }
  const still = [];
  for (const tool of missing) if (!(await hasCommand(tool.command))) still.push(tool);
  if (still.length > 0) {
    process.stderr.write(`${missingToolsMessage(still)}\n`);
    return 2;
  }
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
