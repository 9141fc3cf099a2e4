// save: streams an etcd snapshot into a hidden partial file, hashing and checking it on the way, then fsyncs.
import { createHash, timingSafeEqual } from "node:crypto";
import { type FileHandle, open, rm } from "node:fs/promises";
import { dirname } from "node:path";

import type { EtcdClient, SnapshotChunk } from "./etcd-client.ts";
import { SnapshotStorageError, SnapshotStreamError } from "./errors.ts";
import { fsyncDirectory } from "./durable.ts";

/** The length of the sha256 trailer etcd sends after the database. */
export const SHA256_TRAILER_BYTES = 32;
/**
 * Messages are copied into one reused buffer of this size and written when it is full: fewer syscalls, and
 * each message's memory is garbage at once (young, freed by the next scavenge) instead of waiting for a
 * write, which let V8 keep tens of MiB of dead buffers around before a full collection.
 */
const WRITE_BUFFER_BYTES = 1024 * 1024;

/** A snapshot written to its partial file: durable, hashed, its stream checksum verified. */
export interface SavedSnapshotFile {
  readonly path: string;
  /** Bytes in the file: the database plus etcd's 32-byte sha256 trailer. */
  readonly sizeBytes: number;
  /** sha256 of the whole file (what `sha256sum` prints). */
  readonly sha256: string;
  /** Storage version etcd reported in the stream ("" before etcd 3.6). */
  readonly storageVersion: string;
  readonly durationMs: number;
}

export interface SaveOptions {
  /** Cancels the stream; the partial file is removed. */
  readonly signal?: AbortSignal;
  /** Abort when etcd sends nothing for this long. Default 60 s. */
  readonly idleTimeoutMs?: number;
}

/**
 * Streams a snapshot from `client` into `path` (created exclusively, mode 0600) and fsyncs it and its
 * directory. On the way it checks that the stream carries exactly the announced number of bytes and that
 * etcd's trailing sha256 matches them. Any failure removes the file and throws; `path` should be a name that
 * does not look complete (the store commits it under its final name later).
 */
export async function saveSnapshotFile(
  client: EtcdClient,
  path: string,
  options: SaveOptions = {},
): Promise<SavedSnapshotFile> {
  const started = performance.now();
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, "wx", 0o600);
  } catch (error) {
    throw new SnapshotStorageError(path, "cannot create", error);
  }
  const idle = new IdleWatchdog(options.idleTimeoutMs ?? 60_000, options.signal);
  try {
    const checker = new SnapshotStreamChecker();
    const buffer = Buffer.allocUnsafeSlow(WRITE_BUFFER_BYTES);
    let used = 0;
    const flush = async (): Promise<void> => {
      if (used === 0) return;
      try {
        let written = 0;
        while (written < used) {
          written += (await handle!.write(buffer, written, used - written)).bytesWritten;
        }
      } catch (error) {
        throw new SnapshotStorageError(path, "cannot write", error);
      }
      used = 0;
    };
    for await (const chunk of client.snapshot(idle.signal)) {
      idle.touch();
      checker.accept(chunk);
      let offset = 0;
      while (offset < chunk.blob.length) {
        const copied = chunk.blob.copy(buffer, used, offset);
        used += copied;
        offset += copied;
        if (used === buffer.length) await flush();
      }
    }
    const result = checker.finish();
    await flush();
    try {
      await handle.sync();
    } catch (error) {
      throw new SnapshotStorageError(path, "cannot fsync", error);
    }
    await handle.close();
    handle = undefined;
    await fsyncDirectory(dirname(path));
    return { path, ...result, durationMs: Math.round(performance.now() - started) };
  } catch (error) {
    await handle?.close().catch(() => {});
    await rm(path, { force: true });
    if (idle.expired) {
      throw new SnapshotStreamError(
        `etcd at ${client.endpoint} sent nothing for ${idle.timeoutMs} ms; the partial snapshot was removed`,
        { cause: error },
      );
    }
    throw error;
  } finally {
    idle.dispose();
  }
}

/**
 * Checks a snapshot stream message by message: the database bytes add up to what the first message
 * announced, then exactly one 32-byte trailer follows, equal to the sha256 of the database bytes. Also
 * computes the sha256 of the whole file in the same pass (the trailer is the only part hashed twice).
 */
export class SnapshotStreamChecker {
  #databaseHash = createHash("sha256");
  #announcedBytes: number | undefined;
  #databaseBytes = 0;
  #databaseComplete = false;
  #trailer: Buffer | undefined;
  #storageVersion = "";

  accept(chunk: SnapshotChunk): void {
    if (this.#trailer !== undefined) {
      throw new SnapshotStreamError("etcd sent data after the snapshot's sha256 trailer");
    }
    if (this.#databaseComplete) {
      if (chunk.blob.length !== SHA256_TRAILER_BYTES) {
        throw new SnapshotStreamError(
          `expected etcd's ${SHA256_TRAILER_BYTES}-byte sha256 trailer, got ${chunk.blob.length} bytes`,
        );
      }
      this.#trailer = chunk.blob;
      return;
    }
    this.#announcedBytes ??= chunk.blob.length + chunk.remainingBytes;
    this.#storageVersion = chunk.version;
    const total = this.#databaseBytes + chunk.blob.length + chunk.remainingBytes;
    if (total !== this.#announcedBytes) {
      throw new SnapshotStreamError(
        `etcd's snapshot stream is inconsistent: ${this.#announcedBytes} bytes announced, ` +
          `${total} implied after ${this.#databaseBytes} bytes`,
      );
    }
    this.#databaseHash.update(chunk.blob);
    this.#databaseBytes += chunk.blob.length;
    if (chunk.remainingBytes === 0) this.#databaseComplete = true;
  }

  /** Validates the end of the stream; returns the file's size, sha256 and storage version. */
  finish(): { sizeBytes: number; sha256: string; storageVersion: string } {
    if (!this.#databaseComplete) {
      throw new SnapshotStreamError(
        `etcd's snapshot stream ended after ${this.#databaseBytes} of ` +
          `${this.#announcedBytes ?? "?"} bytes; the partial snapshot was removed`,
      );
    }
    if (this.#trailer === undefined) {
      throw new SnapshotStreamError("etcd's snapshot stream ended without its sha256 trailer");
    }
    const fileHash = this.#databaseHash.copy();
    const databaseDigest = this.#databaseHash.digest();
    if (!timingSafeEqual(databaseDigest, this.#trailer)) {
      throw new SnapshotStreamError(
        `the snapshot's bytes do not match etcd's sha256 trailer (got ${databaseDigest.toString("hex")}, ` +
          `etcd sent ${this.#trailer.toString("hex")}); the partial snapshot was removed`,
      );
    }
    fileHash.update(this.#trailer);
    return {
      sizeBytes: this.#databaseBytes + this.#trailer.length,
      sha256: fileHash.digest("hex"),
      storageVersion: this.#storageVersion,
    };
  }
}

/** Aborts its signal when `touch` was not called for `timeoutMs`, or when the parent signal aborts. */
class IdleWatchdog {
  readonly timeoutMs: number;
  expired = false;
  #controller = new AbortController();
  #timer: NodeJS.Timeout;
  #parent: AbortSignal | undefined;
  #onParentAbort = (): void => this.#controller.abort(this.#parent?.reason);

  constructor(timeoutMs: number, parent: AbortSignal | undefined) {
    this.timeoutMs = timeoutMs;
    this.#parent = parent;
    if (parent?.aborted === true) this.#controller.abort(parent.reason);
    parent?.addEventListener("abort", this.#onParentAbort, { once: true });
    this.#timer = setTimeout(() => this.#expire(), timeoutMs);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  touch(): void {
    this.#timer.refresh();
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#parent?.removeEventListener("abort", this.#onParentAbort);
  }

  #expire(): void {
    this.expired = true;
    this.#controller.abort(new Error("idle timeout"));
  }
}
