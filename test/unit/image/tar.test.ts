// The layer tar writer: entries as tar readers see them (modes, owners, links, long names, capability xattrs),
// byte-identical output for the same entries, and unsafe paths refused.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { expect } from "chai";
import { Parser, type ReadEntry } from "tar";

import { ImageError } from "../../../bootstrap/errors.ts";
import { Capability, fileCapabilities, tarStream, type LayerEntry } from "../../../bootstrap/image/tar.ts";
import { tempDir } from "../helpers.ts";

interface Seen {
  readonly path: string;
  readonly type: string;
  readonly mode: number | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  readonly mtime: number | undefined;
  readonly linkpath: string | undefined;
  readonly content: string;
}

/** Reads a tar with node-tar (an independent reader) and returns what it saw, in order. */
export async function readTar(bytes: Buffer): Promise<Seen[]> {
  const seen: Seen[] = [];
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      const chunks: Buffer[] = [];
      entry.on("data", (chunk: Buffer) => chunks.push(chunk));
      entry.on("end", () =>
        seen.push({
          path: entry.path,
          type: entry.type,
          mode: entry.mode,
          uid: entry.uid,
          gid: entry.gid,
          mtime: entry.mtime?.getTime(),
          linkpath: entry.linkpath,
          content: Buffer.concat(chunks).toString("utf8"),
        }),
      );
    },
  });
  await pipeline(Readable.from([bytes]), parser as unknown as NodeJS.WritableStream);
  return seen;
}

/** PAX records of an extended header body, values hex-encoded (they are bytes); each length checked. */
function paxRecords(body: Buffer): Record<string, string> {
  const records: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    const length = Number.parseInt(body.toString("ascii", offset, space), 10);
    const record = body.subarray(space + 1, offset + length);
    expect(record[record.length - 1]).to.equal(0x0a);
    const equals = record.indexOf(0x3d);
    records[record.toString("utf8", 0, equals)] = record
      .subarray(equals + 1, record.length - 1)
      .toString("hex");
    offset += length;
  }
  return records;
}

async function tarBytes(entries: readonly LayerEntry[]): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of tarStream(entries)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe("image/tar", () => {
  it("writes directories, files and symlinks with the given modes and owners, sorted, at time 0", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "data"), "from disk\n");
    const bytes = await tarBytes([
      { type: "symlink", path: "app/bin/run", target: "../main.js" },
      {
        type: "file",
        path: "app/main.js",
        content: Buffer.from("console.log(1)\n"),
        mode: 0o755,
        uid: 65532,
        gid: 65532,
      },
      { type: "directory", path: "app" },
      { type: "directory", path: "app/bin", mode: 0o700 },
      { type: "file", path: "app/data", content: { fromFile: join(dir, "data") } },
    ]);
    expect(bytes.length % 512).to.equal(0);
    const seen = await readTar(bytes);
    expect(seen.map((entry) => [entry.path, entry.type, entry.mode, entry.uid, entry.gid])).to.deep.equal([
      ["app/", "Directory", 0o755, 0, 0],
      ["app/bin/", "Directory", 0o700, 0, 0],
      ["app/bin/run", "SymbolicLink", 0o777, 0, 0],
      ["app/data", "File", 0o644, 0, 0],
      ["app/main.js", "File", 0o755, 65532, 65532],
    ]);
    expect(seen.every((entry) => entry.mtime === 0)).to.equal(true);
    expect(seen[2]?.linkpath).to.equal("../main.js");
    expect(seen[3]?.content).to.equal("from disk\n");
    expect(seen[4]?.content).to.equal("console.log(1)\n");
  });

  it("the same entries in any order give the same bytes", async () => {
    const entries: LayerEntry[] = [
      { type: "directory", path: "a" },
      { type: "file", path: "a/x", content: Buffer.from("x") },
      { type: "file", path: "a-b", content: Buffer.from("y") },
    ];
    expect((await tarBytes(entries)).equals(await tarBytes([...entries].reverse()))).to.equal(true);
  });

  it("names longer than ustar allows and non-ASCII names travel in PAX path records", async () => {
    const long = `node_modules/${"deep/".repeat(30)}index.js`;
    const seen = await readTar(
      await tarBytes([
        { type: "file", path: long, content: Buffer.from("1") },
        { type: "file", path: "café.txt", content: Buffer.from("2") },
        { type: "symlink", path: "link", target: `${"t/".repeat(60)}target` },
      ]),
    );
    expect(seen.map((entry) => entry.path)).to.deep.equal(["café.txt", "link", long]);
    expect(seen[1]?.linkpath).to.equal(`${"t/".repeat(60)}target`);
  });

  it("a file capability is a SCHILY.xattr.security.capability PAX record with setcap's bytes", async () => {
    const capability = fileCapabilities([Capability.netBindService]);
    const bytes = await tarBytes([
      {
        type: "file",
        path: "coredns",
        content: Buffer.from("elf"),
        mode: 0o755,
        xattrs: { "security.capability": capability },
      },
    ]);
    // What `setcap cap_net_bind_service=+ep` stores: revision 2 with the effective flag, bit 10 permitted.
    expect(
      Buffer.from(capability).equals(Buffer.from("0100000200040000000000000000000000000000", "hex")),
    ).to.equal(true);
    expect(String.fromCharCode(bytes[156] ?? 0)).to.equal("x"); // a PAX extended header comes first
    expect(
      paxRecords(bytes.subarray(512, 512 + Number.parseInt(bytes.toString("ascii", 124, 135), 8))),
    ).to.deep.equal({
      "SCHILY.xattr.security.capability": Buffer.from(capability).toString("hex"),
    });
    const seen = await readTar(bytes);
    expect(seen.map((entry) => [entry.path, entry.content])).to.deep.equal([["coredns", "elf"]]);
  });

  for (const path of ["/etc/passwd", "../escape", "a/../../b", "a//b", "./a", "dir/"]) {
    it(`refuses the unsafe or unnormalized path "${path}"`, async () => {
      const error = await tarBytes([{ type: "file", path, content: Buffer.from("") }]).catch(
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(ImageError);
    });
  }

  it("refuses a path given twice", async () => {
    const error = await tarBytes([
      { type: "directory", path: "a" },
      { type: "directory", path: "a" },
    ]).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ImageError).with.property("message").that.includes("twice");
  });
});
