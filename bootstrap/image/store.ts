// A content-addressed blob store in the OCI layout's shape (ROOT/blobs/sha256/HEX): the image cache under
// .kubelab/cache/images/ and the kit's build area. A blob lands only once its digest is verified.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import { ImageError } from "../errors.ts";
import { pathExists } from "../files.ts";
import { digestHex, jsonBytes, sha256Digest, type Descriptor } from "./oci.ts";

export interface BlobRef {
  readonly digest: string;
  readonly size: number;
}

/** What a stream turned out to be when it does not match what was expected. */
export class DigestMismatchError extends ImageError {
  constructor(what: string, expected: BlobRef, actual: BlobRef) {
    super(
      `${what}: expected ${expected.digest} (${expected.size} bytes), got ${actual.digest} (${actual.size} bytes)`,
      { hint: "the source is corrupted or was tampered with; nothing was stored" },
    );
  }
}

export class BlobStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** Where the blob of `digest` is (whether or not it exists). */
  path(digest: string): string {
    return join(this.root, "blobs", "sha256", digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    return pathExists(this.path(digest));
  }

  /** Stores `bytes` (a manifest, a config) and returns its digest and size. */
  async putBytes(bytes: Uint8Array): Promise<BlobRef> {
    const ref = { digest: sha256Digest(bytes), size: bytes.length };
    if (await this.has(ref.digest)) return ref;
    return this.putStream([bytes], ref);
  }

  /** Stores `value` as JSON. */
  async putJson(value: unknown): Promise<BlobRef> {
    return this.putBytes(jsonBytes(value));
  }

  /**
   * Streams `source` into the store. With `expected`, a stream of another digest or size is refused with
   * DigestMismatchError and leaves nothing behind; the bytes are renamed into place only after the check.
   */
  async putStream(
    source: Readable | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    expected?: BlobRef,
  ): Promise<BlobRef> {
    const directory = join(this.root, "blobs", "sha256");
    await mkdir(directory, { recursive: true });
    const temporary = join(directory, `.tmp-${randomBytes(6).toString("hex")}`);
    const counter = hashingCounter();
    try {
      await pipeline(source, counter.transform, createWriteStream(temporary));
      const actual = counter.result();
      if (expected !== undefined && (actual.digest !== expected.digest || actual.size !== expected.size)) {
        throw new DigestMismatchError("blob", expected, actual);
      }
      await rename(temporary, this.path(actual.digest));
      return actual;
    } finally {
      await rm(temporary, { force: true });
    }
  }

  async readBytes(digest: string): Promise<Buffer> {
    const bytes = await readFile(this.path(digest)).catch((error: unknown) => {
      throw new ImageError(`blob ${digest} is not in ${this.root}`, { cause: error });
    });
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw new DigestMismatchError(
        `blob in ${this.root}`,
        { digest, size: bytes.length },
        { digest: actual, size: bytes.length },
      );
    }
    return bytes;
  }

  async readJson<T>(descriptor: Pick<Descriptor, "digest">): Promise<T> {
    return JSON.parse((await this.readBytes(descriptor.digest)).toString("utf8")) as T;
  }

  /** A read stream of the blob that fails (DigestMismatchError) at its end when the bytes do not match. */
  verifiedStream(ref: BlobRef): Readable {
    const counter = hashingCounter(ref);
    return createReadStream(this.path(ref.digest)).pipe(counter.transform);
  }

  async size(digest: string): Promise<number> {
    return (await stat(this.path(digest))).size;
  }
}

/**
 * A pass-through that hashes and counts; with `expected`, it errors at the end of the stream on a
 * mismatch, so a consumer never finishes with bad bytes.
 */
export function hashingCounter(expected?: BlobRef): { transform: Transform; result: () => BlobRef } {
  const hash = createHash("sha256");
  let size = 0;
  let digest: string | undefined;
  const transform = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      digest = `sha256:${hash.digest("hex")}`;
      if (expected !== undefined && (digest !== expected.digest || size !== expected.size)) {
        callback(new DigestMismatchError("blob", expected, { digest, size }));
        return;
      }
      callback();
    },
  });
  return {
    transform,
    result: () => {
      if (digest === undefined) throw new ImageError("the stream has not ended yet");
      return { digest, size };
    },
  };
}
