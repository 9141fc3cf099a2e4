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

/**
 * Builds every binary of the set into `outDir`: one `go build -trimpath` per wrapper module, version
 * stamped through -ldflags, CGO off (static binaries, no C compiler needed, like the release builds).
 * Throws a CommandError naming the module and the log (with its tail) when a build fails.
 */
export async function buildFromSource(options: GoBuildOptions): Promise<void> {
  const go = options.go ?? "go";
  const versions = options.versions ?? COMPONENT_VERSIONS;
  for (const module of MODULE_ORDER) {
    const names = binariesOfModule(module);
    const args = [
      "build",
      "-v",
      "-trimpath",
      "-buildvcs=false",
      `-ldflags=${versionLdflags(module, versions)}`,
      "-o",
      `${options.outDir}/`,
      ...names.map((name) => BINARIES[name].goPackage),
    ];
    const started = Date.now();
    let compiled = 0;
    options.progress?.(`${module}: go build ${names.join(", ")}`);
    try {
      await runProcess(go, args, {
        cwd: join(WRAPPER_MODULES_DIR, module),
        env: { CGO_ENABLED: "0" },
        timeoutMs: options.timeoutMs ?? 60 * 60_000,
        signal: options.signal ?? new AbortController().signal,
        logFile: options.logPath,
        label: `go build (${module} module)`,
        onLine: (line) => {
          // `go build -v` names each package as it compiles it.
          if (/^[\w.-]+(\/[\w.~+-]+)*$/.test(line)) compiled++;
          options.progress?.(
            `${module}: ${compiled} packages compiled (${Math.round((Date.now() - started) / 1000)}s)`,
          );
        },
      });
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      throw new CommandError(`go build (${module} module)`, `failed\n${tailOfFile(options.logPath, 20)}`, {
        logPath: options.logPath,
        cause: error,
        hint: "fix the error above (network to the Go module proxy? disk space?) and run `npm run envtest:binaries` again",
      });
    }
    for (const name of names) {
      const info: BinaryInfo = BINARIES[name];
      if (info.goOutputName !== undefined) {
        await rename(join(options.outDir, info.goOutputName), join(options.outDir, name));
      }
    }
    options.progress?.(`${module}: built in ${Math.round((Date.now() - started) / 1000)}s`);
  }
}
