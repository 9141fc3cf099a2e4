// What `bootstrap restore` trusts: the snapshot agent's own record beside the file, never the EtcdSnapshot object.
import { ZodError } from "zod";

import { parseSnapshotRecord, SNAPSHOT_NAME, type SnapshotRecord } from "../../operator/api/etcdsnapshot.ts";
import { UsageError } from "../errors.ts";

/**
 * The agent's record of snapshot `name` in the backup directory `dir`, read by `read` (from the control plane,
 * or the host for sim), checked as etcdsnapshot.ts says a reader must: `name` is a snapshot name as the agent
 * makes them (no path in it), the record parses, describes `name` and `name.db`, and a trial restore verified
 * it. The file's sha256 and size (record.sha256, record.sizeBytes) are checked where the file is, before
 * anything stops. Whoever can write EtcdSnapshot objects can name a snapshot, and no more: UsageError (exit 2,
 * nothing changed) for a name without such a record.
 */
export async function trustedSnapshotRecord(
  name: string,
  dir: string,
  read: (path: string) => Promise<string>,
): Promise<SnapshotRecord> {
  if (!SNAPSHOT_NAME.test(name)) {
    throw new UsageError(
      `${printable(name)} is not a snapshot name the agent makes (<prefix>-YYYYMMDD-HHMMSS-<hex>)`,
    );
  }
  const path = `${dir.replace(/\/+$/, "")}/${name}.json`;
  let text: string;
  try {
    text = await read(path);
  } catch (error) {
    throw new UsageError(`snapshot ${name} has no record of the snapshot agent beside it (${path})`, {
      cause: error,
      hint: "restore a snapshot the lab's agent took (bootstrap backups; its .json record is beside its .db)",
    });
  }
  let record: SnapshotRecord;
  try {
    record = parseSnapshotRecord(text);
  } catch (error) {
    const why =
      error instanceof ZodError ? error.issues.map((issue) => issue.message).join("; ") : String(error);
    throw new UsageError(`${path} is not a snapshot record of the agent: ${printable(why)}`, {
      cause: error,
    });
  }
  if (record.name !== name) {
    throw new UsageError(`${path} describes ${printable(record.name)}, not ${name}`);
  }
  if (!record.verification.verified) {
    throw new UsageError(
      `refusing to restore ${name}: the agent's trial restore did not verify it (${record.verification.method}: ${printable(record.verification.message)})`,
      { hint: "restore a verified snapshot (bootstrap backups), or take one with bootstrap backup" },
    );
  }
  return record;
}

/** Text from an API object or a file made printable: control characters shown as \xNN, so they cannot move a terminal. */
export function printable(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    out += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\x${code.toString(16).padStart(2, "0")}` : char;
  }
  return out;
}

/** A snapshot as a restore knows it: its name, its backup directory on the node, and the agent's record of it. */
export interface TrustedSnapshot {
  readonly name: string;
  /** The LabCluster's backup directory on the control plane (spec.etcdBackup.hostPath). */
  readonly directory: string;
  readonly record: SnapshotRecord;
}
