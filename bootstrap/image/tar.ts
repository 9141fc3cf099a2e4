// A deterministic tar writer for image layers: our entries, our modes and owners, fixed times, PAX records
// for long names and for xattrs (file capabilities), streamed so a 100 MB binary never sits in memory.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";

import { ImageError } from "../errors.ts";

/** One entry of a layer. Paths are relative to the image root ("usr/local/bin/etcd"), without a leading slash. */
export type LayerEntry = DirectoryEntry | FileEntry | SymlinkEntry;

interface EntryOwner {
  /** Default 0 (root). */
  readonly uid?: number;
  /** Default 0 (root). */
  readonly gid?: number;
}

export interface DirectoryEntry extends EntryOwner {
  readonly type: "directory";
  readonly path: string;
  /** Default 0o755. */
  readonly mode?: number;
}

export interface FileEntry extends EntryOwner {
  readonly type: "file";
  readonly path: string;
  /**
   * The bytes: given here, or read from a file on this machine (streamed). With `digest`, the file's bytes
   * are checked as they stream and the tar fails at the end of a file that does not match (a blob whose
   * cached copy was damaged is never passed on).
   */
  readonly content: Uint8Array | { readonly fromFile: string; readonly digest?: string };
  /** Default 0o644. */
  readonly mode?: number;
  /**
   * Extended attributes written as PAX `SCHILY.xattr.NAME` records, which containerd and podman apply on
   * unpack: `security.capability` carries file capabilities (see fileCapabilities).
   */
  readonly xattrs?: Readonly<Record<string, Uint8Array>>;
}

export interface SymlinkEntry extends EntryOwner {
  readonly type: "symlink";
  readonly path: string;
  readonly target: string;
}

const BLOCK = 512;
/** Every entry's mtime: layers of the same inputs are byte-identical whenever and wherever they are built. */
const MTIME = 0;

/**
 * The tar stream of `entries`, sorted by path (so a parent directory always precedes its children and the
 * order never depends on the caller or the file system), ending with the two zero blocks. Throws
 * ImageError on a duplicate or unsafe path (absolute, `..`), before any byte is produced for it.
 */
export async function* tarStream(entries: readonly LayerEntry[]): AsyncGenerator<Uint8Array, void, void> {
  const sorted = sortEntries(entries);
  for (const entry of sorted) {
    if (entry.type === "file") {
      const size = await contentSize(entry.content);
      yield* headerBlocks(entry, size);
      if (entry.content instanceof Uint8Array) {
        yield entry.content;
      } else {
        let read = 0;
        const hash = entry.content.digest === undefined ? undefined : createHash("sha256");
        for await (const chunk of createReadStream(entry.content.fromFile)) {
          read += (chunk as Buffer).length;
          hash?.update(chunk as Buffer);
          yield chunk as Buffer;
        }
        if (read !== size) {
          throw new ImageError(`${entry.content.fromFile} changed size while it was written to a layer`);
        }
        const actual = hash === undefined ? undefined : `sha256:${hash.digest("hex")}`;
        if (actual !== undefined && actual !== entry.content.digest) {
          throw new ImageError(`${entry.content.fromFile} is ${actual}, not ${entry.content.digest ?? ""}`, {
            hint: "the image cache is damaged: delete it (.kubelab/cache/images/) and run the command again",
          });
        }
      }
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (padding > 0) yield new Uint8Array(padding);
    } else {
      yield* headerBlocks(entry, 0);
    }
  }
  yield new Uint8Array(BLOCK * 2);
}

/** Entries in tar order, checked: relative normalized paths, each once. */
export function sortEntries(entries: readonly LayerEntry[]): LayerEntry[] {
  const seen = new Set<string>();
  for (const entry of entries) {
    const path = entry.path;
    if (path === "" || path.startsWith("/") || path.endsWith("/") || path.split("/").some(unsafeSegment)) {
      throw new ImageError(`layer path "${path}" must be relative, normalized and inside the image`);
    }
    if (seen.has(path)) throw new ImageError(`layer path "${path}" appears twice`);
    seen.add(path);
  }
  return [...entries].sort((a, b) => compareBytes(a.path, b.path));
}

function unsafeSegment(segment: string): boolean {
  return segment === "" || segment === "." || segment === "..";
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

async function contentSize(content: FileEntry["content"]): Promise<number> {
  if (content instanceof Uint8Array) return content.length;
  const info = await stat(content.fromFile);
  if (!info.isFile()) throw new ImageError(`${content.fromFile} is not a regular file`);
  return info.size;
}

/** The PAX header (when needed) and the ustar header of one entry. */
function* headerBlocks(entry: LayerEntry, size: number): Generator<Uint8Array, void, void> {
  const name = entry.type === "directory" ? `${entry.path}/` : entry.path;
  const linkName = entry.type === "symlink" ? entry.target : "";
  const records: [string, Uint8Array][] = [];
  if (!fitsUstar(name, 100)) records.push(["path", Buffer.from(name)]);
  if (!fitsUstar(linkName, 100)) records.push(["linkpath", Buffer.from(linkName)]);
  if (entry.type === "file") {
    for (const key of Object.keys(entry.xattrs ?? {}).sort()) {
      records.push([`SCHILY.xattr.${key}`, (entry.xattrs ?? {})[key] as Uint8Array]);
    }
  }
  if (records.length > 0) {
    const body = paxBody(records);
    yield ustarHeader({
      name: paxName(name),
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: body.length,
      type: "x",
      linkName: "",
    });
    yield body;
    const padding = (BLOCK - (body.length % BLOCK)) % BLOCK;
    if (padding > 0) yield new Uint8Array(padding);
  }
  const mode =
    entry.type === "directory"
      ? (entry.mode ?? 0o755)
      : entry.type === "file"
        ? (entry.mode ?? 0o644)
        : 0o777;
  yield ustarHeader({
    name: truncateAscii(name, 100),
    mode,
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    size,
    type: entry.type === "directory" ? "5" : entry.type === "symlink" ? "2" : "0",
    linkName: truncateAscii(linkName, 100),
  });
}

function fitsUstar(value: string, length: number): boolean {
  // Plain ASCII only: a reader decodes ustar names without a charset, PAX names are UTF-8 by definition.
  return Buffer.byteLength(value) <= length && /^[\x20-\x7e]*$/.test(value);
}

function truncateAscii(value: string, length: number): string {
  return fitsUstar(value, length) ? value : value.replace(/[^\x20-\x7e]/g, "_").slice(0, length);
}

function paxName(name: string): string {
  return truncateAscii(`PaxHeaders/${name.replace(/\/$/, "").split("/").pop() ?? "entry"}`, 100);
}

/** PAX records "LEN KEY=VALUE\n", LEN counting its own digits; values are bytes (a capability is binary). */
function paxBody(records: readonly [string, Uint8Array][]): Buffer {
  const parts = records.map(([key, value]) => {
    const rest = Buffer.byteLength(` ${key}=`) + value.length + 1;
    let length = rest + String(rest).length;
    if (String(length).length !== String(rest).length) length = rest + String(length).length;
    return Buffer.concat([Buffer.from(`${length} ${key}=`), value, Buffer.from("\n")]);
  });
  return Buffer.concat(parts);
}

interface HeaderFields {
  readonly name: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly type: "0" | "2" | "5" | "x";
  readonly linkName: string;
}

function ustarHeader(fields: HeaderFields): Buffer {
  const header = Buffer.alloc(BLOCK);
  header.write(fields.name, 0, 100, "ascii");
  writeOctal(header, fields.mode & 0o7777, 100, 8);
  writeOctal(header, fields.uid, 108, 8);
  writeOctal(header, fields.gid, 116, 8);
  writeOctal(header, fields.size, 124, 12);
  writeOctal(header, MTIME, 136, 12);
  header.write(" ".repeat(8), 148, 8, "ascii");
  header.write(fields.type, 156, 1, "ascii");
  header.write(fields.linkName, 157, 100, "ascii");
  header.write("ustar\u000000", 257, 8, "ascii");
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "ascii");
  return header;
}

function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  const digits = value.toString(8);
  if (digits.length > length - 1) {
    throw new ImageError(
      `a tar header field of ${length} bytes cannot hold ${value} (a file of 8 GiB or more?)`,
    );
  }
  header.write(`${digits.padStart(length - 1, "0")}\u0000`, offset, length, "ascii");
}

/** Linux capability numbers kubelab's images grant as file capabilities. */
export const Capability = { netBindService: 10 } as const;

/**
 * The `security.capability` xattr value granting `capabilities` permitted and effective (what
 * `setcap cap_net_bind_service=+ep FILE` writes): struct vfs_cap_data, revision 2, little endian.
 */
export function fileCapabilities(capabilities: readonly number[]): Uint8Array {
  const value = Buffer.alloc(20);
  const revision2 = 0x02000000;
  const effective = 0x000001;
  value.writeUInt32LE(revision2 | effective, 0);
  let low = 0;
  let high = 0;
  for (const capability of capabilities) {
    if (capability < 32) low |= 1 << capability;
    else high |= 1 << (capability - 32);
  }
  value.writeUInt32LE(low >>> 0, 4); // permitted, capabilities 0-31
  value.writeUInt32LE(0, 8); // inheritable
  value.writeUInt32LE(high >>> 0, 12); // permitted, 32-63
  value.writeUInt32LE(0, 16);
  return value;
}
