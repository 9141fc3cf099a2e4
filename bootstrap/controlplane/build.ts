// Builds the binary set from source with Go, through the wrapper modules in bootstrap/controlplane/go.
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

import { CommandError } from "../errors.ts";
import { runProcess } from "../process.ts";
import { tailOfFile } from "./process.ts";
import {
  BINARIES,
  type BinaryInfo,
  binariesOfModule,
  COMPONENT_VERSIONS,
  type ComponentVersions,
  versionLdflags,
  type WrapperModule,
} from "./versions.ts";

/** Directory of the wrapper modules (one go.mod per module, each with `tool` directives). */
export const WRAPPER_MODULES_DIR = fileURLToPath(new URL("./go/", import.meta.url));

const MODULE_ORDER: readonly WrapperModule[] = ["etcd", "kwok", "kubernetes"];

export interface GoBuildOptions {
  /** Directory the binaries are written to, under their final names. */
  readonly outDir: string;
  /** Full `go build -v` output of every module is appended here (the shared runProcess log format). */
  readonly logPath: string;
  /** The go command; `go` on PATH by default. */
  readonly go?: string;
  readonly versions?: ComponentVersions;
  /** Short live status ("kubernetes: 812 packages compiled"), called often; rate-limit in the caller. */
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Per module; a cold build of the Kubernetes module takes ~5 min on 2 cores, so the default is generous. */
  readonly timeoutMs?: number;
}

/**
 * The version of the go command (`go1.26.8`), or undefined when there is no usable Go on this machine.
 * The wrapper modules say `go 1.26.0`; an older Go fetches that toolchain itself unless GOTOOLCHAIN=local.
 */
export async function findGo(go = "go", env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const result = await execa(go, ["env", "GOVERSION"], { env, reject: false, timeout: 60_000 });
  if (result.failed || result.exitCode !== 0) return undefined;
  const version = result.stdout.trim();
  return version === "" ? undefined : version;
}

/** One `go build` of some packages of one wrapper module. */
export interface GoBuildRequest {
  /** Short name in progress lines and errors ("kubernetes", "cni-plugins"). */
  readonly label: string;
  /** The wrapper module's directory (its go.mod declares every package as a `tool`). */
  readonly moduleDir: string;
  readonly packages: readonly string[];
  /** The binaries' names for the progress line; the packages' last path elements by default. */
  readonly names?: readonly string[];
  readonly ldflags: string;
  readonly outDir: string;
  /** Full `go build -v` output is appended here (the shared runProcess log format). */
  readonly logPath: string;
  readonly go?: string;
  /** GOOS/GOARCH to build for; the go command's own platform when absent. */
  readonly platform?: { readonly os: string; readonly arch: string };
  readonly progress?: (line: string) => void;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  /** What to do when the build fails (names the command to run again). */
  readonly hint: string;
}

/**
 * `go build -trimpath` of `packages` into `outDir`, CGO off (static binaries, no C compiler needed, like the
 * release builds), with a live count of compiled packages. Throws a CommandError naming the module and the
 * log (with its tail) when the build fails.
 */
export async function goBuild(request: GoBuildRequest): Promise<void> {
  const args = [
    "build",
    "-v",
    "-trimpath",
    "-buildvcs=false",
    `-ldflags=${request.ldflags}`,
    "-o",
    `${request.outDir}/`,
    ...request.packages,
  ];
  const started = Date.now();
  let compiled = 0;
  const { label, progress } = request;
  const platform: Record<string, string> =
    request.platform === undefined ? {} : { GOOS: request.platform.os, GOARCH: request.platform.arch };
  progress?.(
    `${label}: go build ${(request.names ?? request.packages.map((pkg) => pkg.split("/").pop())).join(", ")}`,
  );
  try {
    await runProcess(request.go ?? "go", args, {
      cwd: request.moduleDir,
      env: { CGO_ENABLED: "0", ...platform },
      timeoutMs: request.timeoutMs ?? 60 * 60_000,
      signal: request.signal ?? new AbortController().signal,
      logFile: request.logPath,
      label: `go build (${label} module)`,
      onLine: (line) => {
        // `go build -v` names each package as it compiles it.
        if (/^[\w.-]+(\/[\w.~+-]+)*$/.test(line)) compiled++;
        progress?.(`${label}: ${compiled} packages compiled (${Math.round((Date.now() - started) / 1000)}s)`);
      },
    });
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
    throw new CommandError(`go build (${label} module)`, `failed\n${tailOfFile(request.logPath, 20)}`, {
      logPath: request.logPath,
      cause: error,
      hint: request.hint,
    });
  }
  progress?.(`${label}: built in ${Math.round((Date.now() - started) / 1000)}s`);
}

/**
 * Builds every binary of the set into `outDir`: one goBuild per wrapper module, version stamped through
 * -ldflags. Throws a CommandError naming the module and the log when a build fails.
 */
export async function buildFromSource(options: GoBuildOptions): Promise<void> {
  const versions = options.versions ?? COMPONENT_VERSIONS;
  for (const module of MODULE_ORDER) {
    const names = binariesOfModule(module);
    await goBuild({
      label: module,
      moduleDir: join(WRAPPER_MODULES_DIR, module),
      packages: names.map((name) => BINARIES[name].goPackage),
      names,
      ldflags: versionLdflags(module, versions),
      outDir: options.outDir,
      logPath: options.logPath,
      go: options.go,
      progress: options.progress,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      hint: "fix the error above (network to the Go module proxy? disk space?) and run `npm run envtest:binaries` again",
    });
    for (const name of names) {
      const info: BinaryInfo = BINARIES[name];
      if (info.goOutputName !== undefined) {
        await rename(join(options.outDir, info.goOutputName), join(options.outDir, name));
      }
    }
  }
}
