// Calico: where the manifest comes from (file, cache, download, offline advice) and what is changed in it.
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import {
  CALICO_MANIFEST_SHA256,
  calicoManifestPin,
  calicoManifestUrl,
  customizeCalico,
  loadCalicoManifest,
  renderAppliedManifest,
} from "../../../bootstrap/kube/calico.ts";
import { ExitCode, UsageError } from "../../../bootstrap/errors.ts";
import { parseManifests } from "../../../bootstrap/kube/manifests.ts";
import { CALICO_FIXTURE, FIXTURES, labOf, tempDir } from "../helpers.ts";

interface Env {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface WithContainers {
  spec: { template: { spec: { containers: { name: string; env: Env[] }[] } } };
}

function calicoNodeEnv(objects: ReturnType<typeof customizeCalico>): Env[] {
  const daemonSet = objects.find(
    (o) => o.kind === "DaemonSet" && o.metadata?.name === "calico-node",
  ) as unknown as WithContainers;
  return daemonSet.spec.template.spec.containers.find((c) => c.name === "calico-node")?.env ?? [];
}

const noFetch: typeof fetch = () => Promise.reject(new Error("no network in this test"));

describe("kube/calico", () => {
  it("pins the upstream manifest URL to the lab's Calico version", () => {
    expect(calicoManifestUrl("v3.31.7")).to.equal(
      "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/calico.yaml",
    );
  });

  it("sets the IPv4 pool to the pod CIDR and autodetection to the host-only CIDR, keeping the other env", async () => {
    const lab = labOf({
      network: { podCidr: "10.244.0.0/16", hostOnlyCidr: "192.168.60.0/24" },
      controlPlane: { ip: "192.168.60.10" },
      workers: { firstIp: "192.168.60.101" },
    });
    const objects = customizeCalico(await readFile(CALICO_FIXTURE, "utf8"), lab);
    const env = calicoNodeEnv(objects);
    expect(env.find((e) => e.name === "CALICO_IPV4POOL_CIDR")?.value).to.equal("10.244.0.0/16");
    expect(env.find((e) => e.name === "IP_AUTODETECTION_METHOD")?.value).to.equal("cidr=192.168.60.0/24");
    expect(env.find((e) => e.name === "IP")?.value).to.equal("autodetect");
    expect(env.find((e) => e.name === "CALICO_NETWORKING_BACKEND")?.valueFrom).to.deep.equal({
      configMapKeyRef: { name: "calico-config", key: "calico_backend" },
    });
    expect(objects.map((o) => o.kind)).to.deep.equal([
      "ConfigMap",
      "CustomResourceDefinition",
      "ServiceAccount",
      "ServiceAccount",
      "ClusterRole",
      "ClusterRole",
      "ClusterRoleBinding",
      "ClusterRoleBinding",
      "DaemonSet",
      "Deployment",
    ]);
  });

  it("replaces values a manifest already sets instead of adding a second entry", async () => {
    const text = (await readFile(CALICO_FIXTURE, "utf8")).replace(
      "            - name: IP\n",
      '            - name: CALICO_IPV4POOL_CIDR\n              value: "192.168.0.0/16"\n            - name: IP\n',
    );
    const env = calicoNodeEnv(customizeCalico(text, labOf()));
    expect(env.filter((e) => e.name === "CALICO_IPV4POOL_CIDR")).to.deep.equal([
      { name: "CALICO_IPV4POOL_CIDR", value: "172.16.0.0/16" },
    ]);
  });

  it("refuses a manifest without the calico-node DaemonSet (bad input, exit 2)", () => {
    try {
      customizeCalico("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", labOf(), "mine.yaml");
      expect.fail("must fail");
    } catch (error) {
      expect(error).to.be.instanceOf(UsageError);
      expect((error as Error).message).to.contain("mine.yaml has no calico-node DaemonSet");
    }
  });

  it("the applied manifest round-trips: parsing it gives the applied objects", async () => {
    const lab = labOf();
    const objects = customizeCalico(await readFile(CALICO_FIXTURE, "utf8"), lab);
    const text = renderAppliedManifest(objects, lab, "test");
    expect(text.startsWith("# Calico as applied to lab kubelab")).to.equal(true);
    expect(parseManifests(text, "applied")).to.deep.equal(objects);
  });

  describe("loadCalicoManifest", () => {
    it("reads calico.manifest (relative to lab.yaml) without touching the network", async () => {
      const lab = labOf({ calico: { manifest: "calico/calico.yaml" } });
      const manifest = await loadCalicoManifest(lab, {
        labDir: FIXTURES,
        cacheDir: await tempDir(),
        signal: new AbortController().signal,
        fetch: noFetch,
      });
      expect(manifest.text).to.equal(await readFile(CALICO_FIXTURE, "utf8"));
      expect(manifest.origin).to.equal(`calico.manifest ${CALICO_FIXTURE}`);
    });

    it("a missing calico.manifest file is bad input naming the file", async () => {
      const lab = labOf({ calico: { manifest: "/nonexistent/calico.yaml" } });
      try {
        await loadCalicoManifest(lab, {
          labDir: "/",
          cacheDir: await tempDir(),
          signal: new AbortController().signal,
          fetch: noFetch,
        });
        expect.fail("must fail");
      } catch (error) {
        expect(error).to.be.instanceOf(UsageError);
        expect((error as Error).message).to.equal("calico.manifest: /nonexistent/calico.yaml does not exist");
      }
    });

    const MANIFEST = "kind: List\nitems: []\n";
    const PIN = createHash("sha256").update(MANIFEST).digest("hex");
    const serving =
      (body: string, urls: string[] = []): typeof fetch =>
      (url) => {
        urls.push(url instanceof Request ? url.url : url.toString());
        return Promise.resolve(new Response(body));
      };
    async function refusal(promise: Promise<unknown>): Promise<UsageError> {
      const error = await promise.then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).to.be.instanceOf(UsageError);
      expect((error as UsageError).exitCode).to.equal(ExitCode.badInput);
      return error as UsageError;
    }

    it("downloads the pinned URL once into the cache, checks its sha256, then uses the cache", async () => {
      const cacheDir = await tempDir();
      const urls: string[] = [];
      const lab = labOf({ calico: { sha256: PIN } });
      const options = {
        labDir: "/",
        cacheDir,
        signal: new AbortController().signal,
        fetch: serving(MANIFEST, urls),
      };
      const first = await loadCalicoManifest(lab, options);
      expect(first.origin).to.equal(`downloaded ${calicoManifestUrl("v3.31.7")} (sha256 ${PIN}, pinned)`);
      const second = await loadCalicoManifest(lab, options);
      expect(second.origin).to.equal(`cache ${join(cacheDir, "calico-v3.31.7.yaml")}`);
      expect(urls).to.deep.equal([calicoManifestUrl("v3.31.7")]);
      expect(await readFile(join(cacheDir, "calico-v3.31.7.yaml"), "utf8")).to.equal(MANIFEST);
    });

    it("a download that does not match the pin (a moved tag) is refused and not cached", async () => {
      const cacheDir = await tempDir();
      const lab = labOf({ calico: { sha256: PIN } });
      const options = { labDir: "/", cacheDir, signal: new AbortController().signal };
      const error = await refusal(
        loadCalicoManifest(lab, { ...options, fetch: serving(`${MANIFEST}# moved\n`) }),
      );
      expect(error.message)
        .to.contain(`not the pinned ${PIN}`)
        .and.to.contain("nothing was applied or cached");
      expect(await readdir(cacheDir)).to.deep.equal([]);
    });

    it("a cached copy changed on disk is refused on read and removed; the next run downloads it again", async () => {
      const cacheDir = await tempDir();
      const lab = labOf({ calico: { sha256: PIN } });
      const options = {
        labDir: "/",
        cacheDir,
        signal: new AbortController().signal,
        fetch: serving(MANIFEST),
      };
      await loadCalicoManifest(lab, options);
      await writeFile(join(cacheDir, "calico-v3.31.7.yaml"), `${MANIFEST}kind: ClusterRoleBinding\n`);
      const error = await refusal(loadCalicoManifest(lab, options));
      expect(error.message).to.contain("changed on disk, and was removed");
      expect(await readdir(cacheDir)).to.deep.equal([]);
      expect((await loadCalicoManifest(lab, options)).origin).to.match(/^downloaded /);
    });

    it("a version without a pin is refused before any download, with the command that pins it", async () => {
      const urls: string[] = [];
      const error = await refusal(
        loadCalicoManifest(labOf(), {
          labDir: "/",
          cacheDir: await tempDir(),
          signal: new AbortController().signal,
          fetch: serving(MANIFEST, urls),
        }),
      );
      expect(calicoManifestPin(labOf())).to.equal(CALICO_MANIFEST_SHA256["v3.31.7"]);
      expect(error.message).to.contain("has no pinned sha256");
      expect(error.hint).to.contain(`curl -fsSL ${calicoManifestUrl("v3.31.7")} | sha256sum`);
      expect(urls).to.deep.equal([]);
    });

    it("offline with no file: one line that says to pass --calico-manifest, exit 2, nothing cached", async () => {
      const cacheDir = await tempDir();
      const error = await refusal(
        loadCalicoManifest(labOf({ calico: { sha256: PIN } }), {
          labDir: "/",
          cacheDir,
          signal: new AbortController().signal,
          fetch: noFetch,
        }),
      );
      expect(error.message.split("\n")).to.have.length(1);
      expect(error.message).to.contain("pass --calico-manifest FILE");
      expect(error.message).to.contain(calicoManifestUrl("v3.31.7"));
      expect(await readdir(cacheDir)).to.deep.equal([]);
    });

    it("an HTTP error is reported with its status", async () => {
      const notFound: typeof fetch = () =>
        Promise.resolve(new Response("nope", { status: 404, statusText: "Not Found" }));
      const error = await refusal(
        loadCalicoManifest(labOf({ calico: { version: "v3.99.0", sha256: PIN } }), {
          labDir: "/",
          cacheDir: await tempDir(),
          signal: new AbortController().signal,
          fetch: notFound,
        }),
      );
      expect(error.message).to.contain("(HTTP 404 Not Found)");
    });
  });
});
