// The addon bundle format: objects -> gzip -> ConfigMap slices and back, verified, with the real Calico size.
import { createHash, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { expect } from "chai";

import {
  BUNDLE_DATA_KEY,
  BUNDLE_LABEL,
  BUNDLE_PART_BYTES,
  BundleAnnotation,
  bundleHeadName,
  decodeBundle,
  encodeBundle,
  MAX_BUNDLE_JSON_BYTES,
  MAX_BUNDLE_PARTS,
  objectIdentity,
  staleBundleParts,
  type BundleConfigMap,
  type BundleObject,
} from "../../../../operator/api/addons/bundle.ts";
import { CALICO_MANIFEST_BYTES, calicoFixtureObjects } from "../../../fixtures/calico/generate.ts";

/** ConfigMaps whose data cannot be compressed: random bytes, base64. */
function incompressible(count: number, bytes: number): BundleObject[] {
  return Array.from({ length: count }, (_, index) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: `blob-${index}`, namespace: "kube-system" },
    data: { blob: randomBytes(bytes).toString("base64") },
  }));
}

/** The size the API server counts for a ConfigMap: data and binaryData values in bytes. */
function configMapBytes(configMap: BundleConfigMap): number {
  return Object.values(configMap.binaryData).reduce(
    (sum, value) => sum + Buffer.from(value, "base64").length,
    0,
  );
}

describe("addon bundle encoding", () => {
  it("round-trips the realistic Calico fixture (several hundred KB) in one ConfigMap under the 1 MiB limit", () => {
    const objects = calicoFixtureObjects();
    const encoded = encodeBundle({ addon: "calico", source: "bootstrap", objects });
    expect(encoded.sizes.json).to.be.greaterThan(CALICO_MANIFEST_BYTES / 2);
    expect(encoded.parts).to.deep.equal([]);
    expect(configMapBytes(encoded.head)).to.be.lessThan(1024 * 1024);
    const decoded = decodeBundle("calico", [encoded.head]);
    expect(decoded.kind).to.equal("ok");
    if (decoded.kind !== "ok") return;
    expect(decoded.bundle.objects).to.deep.equal(objects);
    expect(decoded.bundle.source).to.equal("bootstrap");
    expect(decoded.bundle.digest).to.equal(encoded.digest);
  });

  it("splits a bundle bigger than one ConfigMap into parts that each stay under the limit, and joins them back", () => {
    const objects = incompressible(3, 600 * 1024);
    const encoded = encodeBundle({ addon: "calico", source: "bootstrap", objects });
    expect(encoded.sizes.compressed).to.be.greaterThan(BUNDLE_PART_BYTES * 2);
    expect(encoded.parts).to.have.length(Math.ceil(encoded.sizes.compressed / BUNDLE_PART_BYTES) - 1);
    for (const configMap of [encoded.head, ...encoded.parts]) {
      expect(configMapBytes(configMap)).to.be.at.most(BUNDLE_PART_BYTES);
      expect(configMap.metadata.labels[BUNDLE_LABEL]).to.equal("calico");
      expect(configMap.metadata.annotations[BundleAnnotation.parts]).to.equal(
        String(encoded.parts.length + 1),
      );
    }
    // Any order, with unrelated ConfigMaps around.
    const other = encodeBundle({ addon: "coredns", source: "capture", objects: incompressible(1, 10) });
    const decoded = decodeBundle("calico", [...encoded.parts].reverse().concat(other.head, encoded.head));
    expect(decoded.kind).to.equal("ok");
    if (decoded.kind === "ok") expect(decoded.bundle.objects).to.deep.equal(objects);
  });

  it("is deterministic: the same objects give byte-identical ConfigMaps", () => {
    const objects = calicoFixtureObjects();
    const first = encodeBundle({ addon: "calico", source: "bootstrap", objects });
    const second = encodeBundle({ addon: "calico", source: "bootstrap", objects: calicoFixtureObjects() });
    expect(second).to.deep.equal(first);
  });

  it("names parts after the digest, so two versions never share a part name", () => {
    const one = encodeBundle({
      addon: "calico",
      source: "bootstrap",
      objects: incompressible(2, 600 * 1024),
    });
    const two = encodeBundle({
      addon: "calico",
      source: "bootstrap",
      objects: incompressible(2, 600 * 1024),
    });
    expect(one.head.metadata.name).to.equal(bundleHeadName("calico"));
    expect(two.head.metadata.name).to.equal(one.head.metadata.name);
    const names = (encoded: typeof one) => encoded.parts.map((part) => part.metadata.name);
    expect(names(one).filter((name) => names(two).includes(name))).to.deep.equal([]);
  });

  it("reports a missing part as incomplete, never as a smaller bundle", () => {
    const encoded = encodeBundle({
      addon: "calico",
      source: "bootstrap",
      objects: incompressible(2, 600 * 1024),
    });
    const decoded = decodeBundle("calico", [encoded.head, ...encoded.parts.slice(1)]);
    expect(decoded.kind).to.equal("incomplete");
  });

  it("reports a head of a newer version with the parts of an older one as incomplete", () => {
    const old = encodeBundle({
      addon: "calico",
      source: "bootstrap",
      objects: incompressible(2, 600 * 1024),
    });
    const fresh = encodeBundle({
      addon: "calico",
      source: "bootstrap",
      objects: incompressible(2, 600 * 1024),
    });
    expect(decodeBundle("calico", [fresh.head, ...old.parts]).kind).to.equal("incomplete");
  });

  it("rejects a payload whose digest does not match (hand-edited or corrupted)", () => {
    const encoded = encodeBundle({ addon: "coredns", source: "bootstrap", objects: incompressible(1, 100) });
    const other = encodeBundle({ addon: "coredns", source: "bootstrap", objects: incompressible(1, 100) });
    const tampered: BundleConfigMap = { ...encoded.head, binaryData: other.head.binaryData };
    const decoded = decodeBundle("coredns", [tampered]);
    expect(decoded.kind).to.equal("invalid");
    if (decoded.kind === "invalid") expect(decoded.message).to.match(/sha256/);
  });

  it("rejects data that is not gzip, and a head without its annotations", () => {
    const encoded = encodeBundle({ addon: "coredns", source: "bootstrap", objects: incompressible(1, 100) });
    const garbage: BundleConfigMap = { ...encoded.head, binaryData: { [BUNDLE_DATA_KEY]: "bm90IGd6aXA=" } };
    expect(decodeBundle("coredns", [garbage]).kind).to.equal("invalid");
    const bare = { metadata: { name: bundleHeadName("coredns"), labels: { [BUNDLE_LABEL]: "coredns" } } };
    expect(decodeBundle("coredns", [bare]).kind).to.equal("invalid");
  });

  it("reads no head as no bundle", () => {
    expect(decodeBundle("calico", []).kind).to.equal("absent");
    const coredns = encodeBundle({ addon: "coredns", source: "bootstrap", objects: incompressible(1, 10) });
    expect(decodeBundle("calico", [coredns.head]).kind).to.equal("absent");
  });

  it("refuses objects without apiVersion, kind or name, and the same object twice", () => {
    const bad = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "" } } as BundleObject;
    expect(() => encodeBundle({ addon: "calico", source: "bootstrap", objects: [bad] })).to.throw(
      /metadata.name/,
    );
    const [one] = incompressible(1, 10);
    expect(() =>
      encodeBundle({ addon: "calico", source: "bootstrap", objects: [one!, { ...one! }] }),
    ).to.throw(/twice/);
  });

  it("lists the parts of other versions as stale, never the head or another addon's ConfigMaps", () => {
    const old = encodeBundle({
      addon: "calico",
      source: "bootstrap",
      objects: incompressible(2, 600 * 1024),
    });
    const fresh = encodeBundle({ addon: "calico", source: "bootstrap", objects: incompressible(1, 10) });
    const coredns = encodeBundle({ addon: "coredns", source: "bootstrap", objects: incompressible(1, 10) });
    const stale = staleBundleParts("calico", fresh.digest, [fresh.head, ...old.parts, coredns.head]);
    expect(stale).to.deep.equal(old.parts.map((part) => part.metadata.name).sort());
  });

  it("identifies objects by group, kind, namespace and name, not version", () => {
    const object = {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "calico-node", namespace: "kube-system" },
    };
    expect(objectIdentity(object)).to.equal("apps/DaemonSet/kube-system/calico-node");
    expect(objectIdentity({ ...object, apiVersion: "apps/v1beta2" })).to.equal(objectIdentity(object));
    expect(
      objectIdentity({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "b" } }),
    ).to.equal("/ConfigMap/b/a");
    expect(
      objectIdentity({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "r" },
      }),
    ).to.equal("rbac.authorization.k8s.io/ClusterRole//r");
  });

  it("refuses a gzip bomb while decompressing, before hashing or parsing, whatever digest the head declares", () => {
    // 20 KiB of gzip that would inflate to 64 MiB, with the digest of exactly that payload.
    const payload = Buffer.alloc(4 * MAX_BUNDLE_JSON_BYTES, " ");
    const bomb = gzipSync(payload, { level: 9 });
    expect(bomb.length).to.be.lessThan(256 * 1024);
    const head = encodeBundle({ addon: "calico", source: "bootstrap", objects: incompressible(1, 10) }).head;
    const digest = createHash("sha256").update(payload).digest("hex");
    const armed: BundleConfigMap = {
      ...head,
      metadata: {
        ...head.metadata,
        annotations: { ...head.metadata.annotations, [BundleAnnotation.digest]: digest },
      },
      binaryData: { [BUNDLE_DATA_KEY]: bomb.toString("base64") },
    };
    const before = process.memoryUsage().arrayBuffers;
    const decoded = decodeBundle("calico", [armed]);
    expect(decoded.kind).to.equal("invalid");
    if (decoded.kind === "invalid")
      expect(decoded.message).to.match(/decompresses to more than 16777216 bytes/);
    // The reader never held the inflated payload: at most the 16 MiB bound (and not the 64 MiB).
    expect(process.memoryUsage().arrayBuffers - before).to.be.lessThan(2 * MAX_BUNDLE_JSON_BYTES);
  });

  it(`refuses a head that names more than ${MAX_BUNDLE_PARTS} parts, and will not write one`, () => {
    const head = encodeBundle({ addon: "calico", source: "bootstrap", objects: incompressible(1, 10) }).head;
    const many: BundleConfigMap = {
      ...head,
      metadata: {
        ...head.metadata,
        annotations: { ...head.metadata.annotations, [BundleAnnotation.parts]: "17" },
      },
    };
    const decoded = decodeBundle("calico", [many]);
    expect(decoded.kind).to.equal("invalid");
    if (decoded.kind === "invalid") expect(decoded.message).to.match(/at most 16/);
    expect(() =>
      encodeBundle({ addon: "calico", source: "bootstrap", objects: incompressible(1, 10), partBytes: 1 }),
    ).to.throw(/readers refuse more than 16/);
  });
});
