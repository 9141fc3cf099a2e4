// Image references normalized as containerd does (docker.io, library/, latest), bad ones refused, and the
// registry auth challenges the client answers parsed.
import { expect } from "chai";

import { ImageError } from "../../../bootstrap/errors.ts";
import { formatReference, parseReference } from "../../../bootstrap/image/reference.ts";
import { parseChallenge } from "../../../bootstrap/image/registry.ts";

const DIGEST = `sha256:${"a".repeat(64)}`;

describe("image/reference", () => {
  for (const [text, full] of [
    ["node:24-trixie-slim", "docker.io/library/node:24-trixie-slim"],
    ["cloudnativelabs/kube-router:v2.1.0", "docker.io/cloudnativelabs/kube-router:v2.1.0"],
    ["registry.k8s.io/etcd:3.6.8-0", "registry.k8s.io/etcd:3.6.8-0"],
    ["registry.k8s.io/coredns/coredns:v1.14.2", "registry.k8s.io/coredns/coredns:v1.14.2"],
    ["127.0.0.1:5000/kubelab/operator", "127.0.0.1:5000/kubelab/operator:latest"],
    ["localhost/kubelab-operator:0.1.0", "localhost/kubelab-operator:0.1.0"],
    [
      `gcr.io/distroless/nodejs24-debian13:nonroot@${DIGEST}`,
      `gcr.io/distroless/nodejs24-debian13:nonroot@${DIGEST}`,
    ],
    [`registry.k8s.io/pause@${DIGEST}`, `registry.k8s.io/pause@${DIGEST}`],
  ] as const) {
    it(`"${text}" is ${full}`, () => {
      expect(formatReference(parseReference(text))).to.equal(full);
    });
  }

  for (const text of ["", "UPPER/case:1", "registry.k8s.io/", "a:b:c", `x@sha256:${"z".repeat(64)}`]) {
    it(`refuses "${text}"`, () => {
      expect(() => parseReference(text)).to.throw(ImageError);
    });
  }

  it("parses Bearer and Basic challenges, quoted or not", () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull"',
      ),
    ).to.deep.equal({
      scheme: "bearer",
      params: {
        realm: "https://auth.example/token",
        service: "registry.example",
        scope: "repository:a:pull",
      },
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).to.deep.equal({
      scheme: "basic",
      params: { realm: "Registry Realm" },
    });
  });
});
