// Parses `vagrant ... --machine-readable` output: `timestamp,target,type,data...` lines.
import type { NodePhase } from "../provider.ts";

/** One machine-readable record. `target` is the machine name, or "" for global records. */
export interface VagrantRecord {
  readonly timestamp: number;
  readonly target: string;
  readonly type: string;
  readonly data: readonly string[];
}

/**
 * Parses one line; returns undefined for lines that are not records (Vagrant can print plain text,
 * such as plugin warnings, before the records). Data fields are unescaped: Vagrant writes commas as
 * `%!(VAGRANT_COMMA)` and newlines as the two characters `\n`.
 */
export function parseRecord(line: string): VagrantRecord | undefined {
  const fields = line.replace(/\r$/, "").split(",");
  if (fields.length < 3 || !/^\d+$/.test(fields[0] ?? "")) return undefined;
  const [timestamp, target, type, ...data] = fields;
  return {
    timestamp: Number(timestamp),
    target: target ?? "",
    type: type ?? "",
    data: data.map(unescapeField),
  };
}

function unescapeField(field: string): string {
  return field.replaceAll("%!(VAGRANT_COMMA)", ",").replaceAll("\\n", "\n").replaceAll("\\r", "");
}

/** Every record of a whole output. */
export function parseRecords(output: string): VagrantRecord[] {
  return output.split("\n").flatMap((line) => parseRecord(line) ?? []);
}

/** Vagrant machine states (virtualbox and libvirt) mapped onto the provider contract's phases. */
export function phaseOf(state: string): NodePhase {
  switch (state) {
    case "running":
      return "running";
    case "not_created":
      return "not-created";
    case "poweroff":
    case "aborted":
    case "saved":
    case "paused":
    case "shutoff":
    case "shutdown":
    case "inaccessible":
      return "stopped";
    default:
      return "unknown";
  }
}

/** machine name -> state, from `vagrant status --machine-readable`. */
export function machineStates(output: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const record of parseRecords(output)) {
    if (record.type === "state" && record.target !== "" && record.data[0] !== undefined) {
      states.set(record.target, record.data[0]);
    }
  }
  return states;
}

/**
 * A short progress line from a `vagrant up --machine-readable` record ("Booting VM..."), or undefined
 * for records that are not user-facing. The `==> m-k8s: ` prefix is dropped.
 */
export function progressLine(record: VagrantRecord): string | undefined {
  if (record.type !== "ui" || record.data.length < 2) return undefined;
  const text = (record.data[1] ?? "").split("\n")[0]?.trim() ?? "";
  const withoutPrefix = text.replace(/^==>\s+[^:]+:\s*/, "");
  return withoutPrefix === "" ? undefined : withoutPrefix;
}

/** The message of an `error-exit` record: what Vagrant says went wrong. */
export function errorMessage(records: readonly VagrantRecord[]): string | undefined {
  const error = records.findLast((record) => record.type === "error-exit");
  const message = error?.data[1] ?? error?.data[0];
  return message
    ?.split("\n")
    .find((line) => line.trim() !== "")
    ?.trim();
}
