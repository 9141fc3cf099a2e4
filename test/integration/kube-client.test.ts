// bootstrap/kube/client.ts against a real API server: applyManifests sends CRDs as written (enum, x-kubernetes-* kept).
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubernetesObject } from "@kubernetes/client-node";
import { expect } from "chai";

import { StepError } from "../../bootstrap/errors.ts";
import {
  applyManifests,
  FIELD_MANAGER,
  readLabCluster,
  waitForLabClusterReady,
} from "../../bootstrap/kube/client.ts";
import { labClusterFor } from "../../bootstrap/kube/labcluster.ts";
import { parseManifests } from "../../bootstrap/kube/manifests.ts";
import { controlPlane, kubeConfig } from "../envtest/index.ts";
import { labOf } from "../unit/helpers.ts";

const CRDS = fileURLToPath(new URL("../../crds/", import.meta.url));

interface Crd extends KubernetesObject {
  spec: { versions: { name: string; schema: { openAPIV3Schema: unknown } }[] };
  metadata: { name: string; managedFields?: { manager: string; operation: string }[] };
}

/** Every key of a JSON value, at any depth. */
function keysOf(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) keysOf(item, into);
  else if (typeof value === "object" && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      into.add(key);
      keysOf(inner, into);
    }
  }
  return into;
}

describe("applyManifests (bootstrap/kube/client.ts) on a real API server", function () {
  this.timeout(120_000);

  it("applies crds/*.yaml with enums and x-kubernetes-* intact: the schema read back equals the file's", async () => {
    const files = (await readdir(CRDS)).filter(
      (name) => name.endsWith(".yaml") && name !== "kustomization.yaml",
    );
    const crds: Crd[] = [];
    for (const file of files) {
      crds.push(...(parseManifests(await readFile(join(CRDS, file), "utf8"), file) as Crd[]));
    }
    expect(crds.length).to.be.greaterThanOrEqual(2);
    // What the test protects must be in the files, or it would pass on schemas without them.
    const written = keysOf(crds.map((crd) => crd.spec));
    expect([...written]).to.include.members([
      "enum",
      "x-kubernetes-list-type",
      "x-kubernetes-list-map-keys",
      "x-kubernetes-int-or-string",
    ]);

    await applyManifests(kubeConfig(), crds, {
      step: "crds",
      signal: new AbortController().signal,
      timeoutMs: 60_000,
      intervalMs: 250,
    });

    for (const crd of crds) {
      // Read back raw (kubectl's JSON), not through a typed client that could drop the same fields.
      const live = JSON.parse(
        await controlPlane().kubectl([
          "get",
          "crd",
          crd.metadata.name,
          "-o",
          "json",
          "--show-managed-fields",
        ]),
      ) as Crd;
      expect(live.spec.versions.length, crd.metadata.name).to.equal(crd.spec.versions.length);
      crd.spec.versions.forEach((version, index) => {
        expect(live.spec.versions[index]?.schema, `${crd.metadata.name} ${version.name}`).to.deep.equal(
          version.schema,
        );
      });
      const appliers = (live.metadata.managedFields ?? [])
        .filter((entry) => entry.operation === "Apply")
        .map((entry) => entry.manager);
      expect(appliers, crd.metadata.name).to.include(FIELD_MANAGER);
    }
  });

  describe("the LabCluster bootstrap applies and waits for", () => {
    const lab = labOf({ name: "kube-wait", workers: { count: 1 } });
    const options = { signal: new AbortController().signal, intervalMs: 250 };

    after(async () => {
      await controlPlane().kubectl(["delete", "labcluster", "kube-wait", "--ignore-not-found"]);
    });

    it("applies it from lab.yaml; without an operator the wait fails naming what is missing and how to look", async () => {
      expect(await readLabCluster(kubeConfig(), "kube-wait", 5000)).to.equal(undefined);
      await applyManifests(kubeConfig(), [labClusterFor(lab)], {
        ...options,
        step: "labcluster",
        timeoutMs: 30_000,
      });
      const live = await readLabCluster(kubeConfig(), "kube-wait", 5000);
      expect(live?.spec?.etcdBackup?.schedule).to.equal("0 */6 * * *");
      try {
        await waitForLabClusterReady(kubeConfig(), "kube-wait", {
          ...options,
          step: "labcluster-ready",
          timeoutMs: 1500,
          operatorLogs: "the operator's log",
        });
        expect.fail("no operator runs: it cannot become Ready");
      } catch (error) {
        expect(error).to.be.instanceOf(StepError);
        expect((error as StepError).message).to.contain(
          "LabCluster kube-wait: gave up after 2s: waiting for the operator to report on the LabCluster",
        );
        expect((error as StepError).hint).to.contain("kubectl describe labcluster kube-wait");
      }
    });

    it("names the condition that is not True, and returns once Ready=True is reported for the current generation", async () => {
      const generation = (await readLabCluster(kubeConfig(), "kube-wait", 5000))?.metadata?.generation ?? 1;
      const condition = (type: string, status: string, reason: string, message: string) => ({
        type,
        status,
        reason,
        message,
        lastTransitionTime: "2026-11-26T23:00:00Z",
      });
      const setStatus = (conditions: unknown[]) =>
        controlPlane().kubectl([
          "patch",
          "labcluster",
          "kube-wait",
          "--subresource=status",
          "--type=merge",
          "-p",
          JSON.stringify({ status: { observedGeneration: generation, conditions } }),
        ]);
      await setStatus([
        condition("Ready", "False", "PartsUnhealthy", "CoreDNS is not healthy"),
        condition("CoreDNSHealthy", "False", "DeploymentUnavailable", "coredns 0/2 available"),
      ]);
      const lines: string[] = [];
      try {
        await waitForLabClusterReady(kubeConfig(), "kube-wait", {
          ...options,
          step: "labcluster-ready",
          timeoutMs: 1500,
          operatorLogs: "the operator's log",
          progress: (line) => lines.push(line),
        });
        expect.fail("Ready is False");
      } catch (error) {
        expect((error as Error).message).to.contain(
          "CoreDNSHealthy=False (DeploymentUnavailable: coredns 0/2 available)",
        );
      }
      expect(lines).to.deep.equal([
        "not Ready yet: CoreDNSHealthy=False (DeploymentUnavailable: coredns 0/2 available)",
      ]);
      await setStatus([condition("Ready", "True", "AllPartsHealthy", "ok")]);
      const ready = await waitForLabClusterReady(kubeConfig(), "kube-wait", {
        ...options,
        step: "labcluster-ready",
        timeoutMs: 10_000,
        operatorLogs: "the operator's log",
      });
      expect(ready.status?.conditions?.map((c) => `${c.type}=${c.status}`)).to.deep.equal(["Ready=True"]);
    });
  });
});
