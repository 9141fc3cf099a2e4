// Reads a Dockerfile the way the builder does for what bootstrap assembles without one: build arguments and
// their defaults, the stages and their bases, and the final stage's instructions; anything the assembly
// cannot reproduce (RUN, shell-form ENTRYPOINT, COPY flags other than --from) is refused by name.
import { ImageError } from "../errors.ts";

export interface Instruction {
  /** Upper case: "COPY", "ENV". */
  readonly keyword: string;
  /** The rest of the logical line, continuations joined. */
  readonly text: string;
  /** 1-based line of the instruction, for messages. */
  readonly line: number;
}

export interface Stage {
  readonly name: string | undefined;
  /** The FROM image as written ("${RUNTIME_IMAGE}"). */
  readonly from: string;
  /** The FROM image with the ARG defaults expanded (a stage name when FROM names an earlier stage). */
  readonly base: string;
  /** 1-based line of the FROM. */
  readonly line: number;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM, with the default each declares (undefined: none). */
  readonly globalArgs: ReadonlyMap<string, string | undefined>;
  readonly stages: readonly Stage[];
}

/** One COPY of the final stage, with its destination made absolute against WORKDIR. */
export interface CopyStep {
  /** A stage name, or undefined for the build context. */
  readonly from: string | undefined;
  readonly sources: readonly string[];
  /** Absolute; ends with "/" when the Dockerfile wrote it so (a directory). */
  readonly destination: string;
  /** The instruction as written, for the image's history. */
  readonly instruction: string;
}

/** What the final stage makes: its base, its COPY steps in order, and the config it sets. */
export interface FinalStage {
  readonly base: string;
  readonly copies: readonly CopyStep[];
  readonly labels: Readonly<Record<string, string>>;
  readonly env: readonly (readonly [string, string])[];
  readonly workdir: string | undefined;
  /**
   * The USER in effect when the last WORKDIR ran (undefined: none yet, the base image's user): the builder
   * creates the WORKDIR directory owned by that user.
   */
  readonly workdirUser: string | undefined;
  readonly user: string | undefined;
  readonly exposedPorts: readonly string[];
  readonly entrypoint: readonly string[] | undefined;
  readonly cmd: readonly string[] | undefined;
  /** History lines of the config-only instructions, in order. */
  readonly configHistory: readonly string[];
}

/** Splits a Dockerfile into instructions: comments and parser directives dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.replace(/\r$/, "");
    if (/^\s*#/.test(line)) continue; // comments, also between continuation lines (as BuildKit does)
    if (pending === undefined && line.trim() === "") continue;
    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, "") : line;
    pending =
      pending === undefined
        ? { text: body.trim(), line: index + 1 }
        : { ...pending, text: `${pending.text} ${body.trim()}` };
    if (!continued) {
      const match = /^(\S+)\s*(.*)$/.exec(pending.text);
      if (match !== null)
        instructions.push({
          keyword: (match[1] ?? "").toUpperCase(),
          text: (match[2] ?? "").trim(),
          line: pending.line,
        });
      pending = undefined;
    }
  }
  const globalArgs = new Map<string, string | undefined>();
  const stages: (Stage & { instructions: Instruction[] })[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.text);
      if (match === null) throw dockerfileError(instruction, "FROM must be `FROM image [AS name]`");
      const from = match[1] ?? "";
      const base = expand(from, globalDefaults(globalArgs), instruction);
      stages.push({ name: match[2]?.toLowerCase(), from, base, line: instruction.line, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== "ARG")
        throw dockerfileError(instruction, "only ARG may come before the first FROM");
      const [name, value] = argDeclaration(instruction);
      globalArgs.set(name, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  if (stages.length === 0) throw new ImageError("the Dockerfile has no FROM");
  return { globalArgs, stages };
}

/**
 * The final stage as bootstrap builds it, with `buildArgs` overriding the ARG defaults (as `--build-arg`
 * does). Throws ImageError naming the line of any instruction the assembly cannot reproduce.
 */
export function finalStage(
  dockerfile: Dockerfile,
  buildArgs: Readonly<Record<string, string>> = {},
): FinalStage {
  const globals = new Map(globalDefaults(dockerfile.globalArgs));
  for (const [name, value] of Object.entries(buildArgs))
    if (dockerfile.globalArgs.has(name)) globals.set(name, value);
  const last = dockerfile.stages.at(-1) as Stage;
  const base = expand(last.from, globals, { keyword: "FROM", text: last.from, line: last.line });
  const scope = new Map<string, string>();
  const copies: CopyStep[] = [];
  const labels: Record<string, string> = {};
  const env: [string, string][] = [];
  const exposedPorts: string[] = [];
  const configHistory: string[] = [];
  let workdir: string | undefined;
  let workdirUser: string | undefined;
  let user: string | undefined;
  let entrypoint: string[] | undefined;
  let cmd: string[] | undefined;
  for (const instruction of last.instructions) {
    const value = (text: string) => expand(text, scope, instruction);
    switch (instruction.keyword) {
      case "ARG": {
        const [name, declared] = argDeclaration(instruction);
        const given =
          buildArgs[name] ?? (globals.has(name) && declared === undefined ? globals.get(name) : undefined);
        scope.set(name, given ?? (declared === undefined ? "" : value(declared)));
        break;
      }
      case "LABEL":
        for (const [key, text] of keyValues(instruction)) labels[key] = value(text);
        configHistory.push(`LABEL ${instruction.text}`);
        break;
      case "ENV":
        for (const [key, text] of keyValues(instruction)) {
          const expanded = value(text);
          env.push([key, expanded]);
          scope.set(key, expanded);
        }
        configHistory.push(`ENV ${instruction.text}`);
        break;
      case "WORKDIR": {
        const path = value(instruction.text);
        workdir = path.startsWith("/") ? path : `${workdir ?? "/"}/${path}`.replace(/\/+/g, "/");
        workdirUser = user;
        configHistory.push(`WORKDIR ${workdir}`);
        break;
      }
      case "USER":
        user = value(instruction.text);
        configHistory.push(`USER ${user}`);
        break;
      case "EXPOSE":
        for (const port of value(instruction.text).split(/\s+/))
          exposedPorts.push(port.includes("/") ? port : `${port}/tcp`);
        configHistory.push(`EXPOSE ${instruction.text}`);
        break;
      case "ENTRYPOINT":
        entrypoint = jsonForm(instruction);
        cmd = undefined; // as the builder does: a new ENTRYPOINT drops the CMD set before it
        configHistory.push(`ENTRYPOINT ${instruction.text}`);
        break;
      case "CMD":
        cmd = jsonForm(instruction);
        configHistory.push(`CMD ${instruction.text}`);
        break;
      case "COPY":
        copies.push(copyStep(instruction, value, workdir, dockerfile));
        break;
      default:
        throw dockerfileError(
          instruction,
          `${instruction.keyword} in the final stage cannot be assembled without a container engine: move it to an earlier stage`,
        );
    }
  }
  return {
    base,
    copies,
    labels,
    env,
    workdir,
    workdirUser,
    user,
    exposedPorts,
    entrypoint,
    cmd,
    configHistory,
  };
}

/** The image `stage` is built on, with `buildArgs` over the ARG defaults (as `--build-arg` does). */
export function stageBase(
  dockerfile: Dockerfile,
  stage: Stage,
  buildArgs: Readonly<Record<string, string>> = {},
): string {
  return expand(stage.from, globalScope(dockerfile, buildArgs), {
    keyword: "FROM",
    text: stage.from,
    line: stage.line,
  });
}

function globalScope(
  dockerfile: Dockerfile,
  buildArgs: Readonly<Record<string, string>>,
): Map<string, string> {
  const globals = globalDefaults(dockerfile.globalArgs);
  for (const [name, value] of Object.entries(buildArgs))
    if (dockerfile.globalArgs.has(name)) globals.set(name, value);
  return globals;
}

function copyStep(
  instruction: Instruction,
  value: (text: string) => string,
  workdir: string | undefined,
  dockerfile: Dockerfile,
): CopyStep {
  const words = instruction.text.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith("--") === true) {
    const flag = words.shift() as string;
    const match = /^--from=(.+)$/.exec(flag);
    if (match === null) throw dockerfileError(instruction, `COPY ${flag} is not supported by the assembly`);
    from = value(match[1] ?? "").toLowerCase();
    if (!dockerfile.stages.some((stage) => stage.name === from)) {
      throw dockerfileError(instruction, `COPY --from=${from} must name an earlier stage`);
    }
  }
  if (words[0]?.startsWith("[") === true)
    throw dockerfileError(instruction, "COPY in JSON form is not supported");
  const expanded = words.map(value);
  const destination = expanded.pop();
  if (destination === undefined || expanded.length === 0)
    throw dockerfileError(instruction, "COPY needs a source and a destination");
  if (expanded.some((source) => /[*?[]/.test(source)))
    throw dockerfileError(instruction, "COPY wildcards are not supported");
  const base = workdir ?? "/";
  const absolute = destination.startsWith("/") ? destination : `${base}/${destination}`;
  const normalized = absolute
    .replace(/\/\.\//g, "/")
    .replace(/\/\.$/, "/")
    .replace(/\/+/g, "/");
  return { from, sources: expanded, destination: normalized, instruction: `COPY ${instruction.text}` };
}

function argDeclaration(instruction: Instruction): [string, string | undefined] {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(instruction.text);
  if (match === null) throw dockerfileError(instruction, "ARG must be `ARG NAME[=default]`");
  return [match[1] ?? "", match[2] === undefined ? undefined : unquote(match[2])];
}

function globalDefaults(args: ReadonlyMap<string, string | undefined>): Map<string, string> {
  return new Map(
    [...args].flatMap(([name, value]) => (value === undefined ? [] : [[name, value] as [string, string]])),
  );
}

/** `key=value` pairs with double-quoted values (LABEL, ENV); the legacy `ENV key value` form too. */
function keyValues(instruction: Instruction): [string, string][] {
  const pairs: [string, string][] = [];
  const pattern = /([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/gy;
  const text = instruction.text;
  if (!text.includes("=") && instruction.keyword === "ENV") {
    const [key, ...rest] = text.split(/\s+/);
    return [[key ?? "", rest.join(" ")]];
  }
  let offset = 0;
  while (offset < text.length) {
    pattern.lastIndex = offset;
    const match = pattern.exec(text);
    if (match === null)
      throw dockerfileError(instruction, `cannot read "${text.slice(offset)}" as key=value`);
    pairs.push([match[1] ?? "", unquote(match[2] ?? "")]);
    offset = pattern.lastIndex;
    while (text[offset] === " ") offset += 1;
  }
  return pairs;
}

function unquote(text: string): string {
  if (text.startsWith('"') && text.endsWith('"') && text.length >= 2)
    return text.slice(1, -1).replace(/\\(.)/g, "$1");
  return text;
}

function jsonForm(instruction: Instruction): string[] {
  try {
    const parsed: unknown = JSON.parse(instruction.text);
    if (Array.isArray(parsed) && parsed.every((item) => typeof item === "string")) return parsed;
  } catch {
    // fall through to the error: the shell form needs a shell the image may not have
  }
  throw dockerfileError(instruction, `${instruction.keyword} must be in JSON form (["exec", "arg"])`);
}

/** `$NAME`, `${NAME}` and `${NAME:-default}` from `scope`; an unset name expands to "" as the builder does. */
function expand(text: string, scope: ReadonlyMap<string, string>, instruction: Instruction): string {
  return text.replace(
    /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_match, braced?: string, fallback?: string, bare?: string) => {
      const name = braced ?? bare ?? "";
      const found = scope.get(name);
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      if (found === undefined && instruction.keyword === "FROM") {
        throw dockerfileError(
          instruction,
          `FROM uses \${${name}}, which no ARG before the first FROM declares`,
        );
      }
      return found ?? "";
    },
  );
}

function dockerfileError(instruction: Instruction, message: string): ImageError {
  return new ImageError(`Dockerfile line ${instruction.line} (${instruction.keyword}): ${message}`, {
    hint: "bootstrap assembles the Dockerfile's final stage itself; keep that stage to FROM, ARG, LABEL, ENV, WORKDIR, COPY, USER, EXPOSE, ENTRYPOINT and CMD",
  });
}
