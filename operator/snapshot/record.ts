// How snapshots and the files of the backup directory are named (the record's schema is in api/etcdsnapshot.ts).
import { randomBytes } from "node:crypto";

import { SNAPSHOT_NAME } from "../api/etcdsnapshot.ts";

/** A name prefix: a DNS label short enough for the whole name to stay a valid object name. */
export const NAME_PREFIX = /^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/;

/** The name of a snapshot taken at `time`: `<prefix>-YYYYMMDD-HHMMSS-<4 hex>`, in UTC. */
export function snapshotName(time: Date, prefix = "etcd", random = randomBytes(2).toString("hex")): string {
  if (!NAME_PREFIX.test(prefix)) {
    throw new RangeError(`snapshot name prefix ${JSON.stringify(prefix)} is not a lowercase DNS label`);
  }
  const iso = time.toISOString(); // 2026-01-02T03:04:05.678Z
  const date = iso.slice(0, 10).replaceAll("-", "");
  const clock = iso.slice(11, 19).replaceAll(":", "");
  return `${prefix}-${date}-${clock}-${random}`;
}

/** File names of one snapshot in the backup directory. */
export function snapshotFiles(name: string): {
  db: string;
  record: string;
  partial: string;
  log: string;
} {
  return {
    db: `${name}.db`,
    record: `${name}.json`,
    partial: `.${name}.db.partial`,
    log: `${name}.log`,
  };
}

/** What a file in the backup directory is. `temporary`: a record being written (or left by a crash). */
export type FileKind = "db" | "record" | "partial" | "temporary";

/**
 * The snapshot a file in the backup directory belongs to, and what the file is; undefined for files the
 * agent did not write (they are never touched).
 */
export function classifyFile(fileName: string): { name: string; kind: FileKind } | undefined {
  const match = /^(\.)?(.+?)\.(db\.partial|db|json|json\.[0-9a-f]{8}\.tmp)$/.exec(fileName);
  if (match === null) return undefined;
  const [, dot, name, extension] = match;
  if (name === undefined || extension === undefined || !SNAPSHOT_NAME.test(name)) return undefined;
  const hidden = dot === ".";
  if (extension === "db.partial") return hidden ? { name, kind: "partial" } : undefined;
  if (extension.endsWith(".tmp")) return hidden ? { name, kind: "temporary" } : undefined;
  if (hidden) return undefined;
  return { name, kind: extension === "db" ? "db" : "record" };
}
