// gRPC framing: messages split and joined across HTTP/2 chunks, the limits, and grpc-message decoding.
import { expect } from "chai";

import { decodeGrpcMessage, GrpcStatusError, MessageDecoder } from "../../../../operator/snapshot/grpc.ts";

function frame(payload: Buffer, compressed = 0): Buffer {
  const header = Buffer.alloc(5);
  header[0] = compressed;
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

function decodeAll(chunks: readonly Buffer[]): string[] {
  const decoder = new MessageDecoder();
  const messages = chunks.flatMap((chunk) => [...decoder.push(chunk)].map((message) => message.toString()));
  decoder.end();
  return messages;
}

describe("MessageDecoder", () => {
  const body = Buffer.concat([
    frame(Buffer.from("first")),
    frame(Buffer.from("")),
    frame(Buffer.from("third!")),
  ]);

  it("splits one chunk holding several messages, an empty one included", () => {
    expect(decodeAll([body])).to.deep.equal(["first", "", "third!"]);
  });

  it("joins messages whose header and payload arrive in any split, byte by byte included", () => {
    for (let cut = 1; cut < body.length; cut++) {
      expect(decodeAll([body.subarray(0, cut), body.subarray(cut)]), `cut at ${cut}`).to.deep.equal([
        "first",
        "",
        "third!",
      ]);
    }
    const bytes = [...body].map((byte) => Buffer.from([byte]));
    expect(decodeAll(bytes)).to.deep.equal(["first", "", "third!"]);
  });

  it("refuses a body that ends inside a message", () => {
    const decoder = new MessageDecoder();
    [...decoder.push(body.subarray(0, 7))];
    expect(() => decoder.end()).to.throw(GrpcStatusError, /ended inside a message/);
  });

  it("refuses compressed messages (none were asked for) and oversized ones", () => {
    expect(() => decodeAll([frame(Buffer.from("x"), 1)])).to.throw(GrpcStatusError, /compressed/);
    const huge = Buffer.alloc(5);
    huge.writeUInt32BE(64 * 1024 * 1024, 1);
    expect(() => decodeAll([huge])).to.throw(GrpcStatusError, /exceeds/);
  });
});

describe("GrpcStatusError", () => {
  it("names the status code", () => {
    const error = new GrpcStatusError(11, "compacted");
    expect(error.codeName).to.equal("OUT_OF_RANGE");
    expect(error.message).to.equal("OUT_OF_RANGE: compacted");
  });
});

describe("decodeGrpcMessage", () => {
  it("decodes percent-encoding and keeps text that is not valid percent-encoding", () => {
    expect(decodeGrpcMessage("etcdserver%3A%20request%20timed%20out")).to.equal(
      "etcdserver: request timed out",
    );
    expect(decodeGrpcMessage("100% sure")).to.equal("100% sure");
  });
});
