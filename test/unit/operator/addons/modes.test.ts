// Restore mode resolution: the addon's Disabled switch wins, then object labels, the spec, the bundle, the kind.
import { expect } from "chai";

import {
  defaultMode,
  parseMode,
  resolveMode,
  type ModeInput,
} from "../../../../operator/labcluster/addons/modes.ts";

const base: ModeInput = {
  kind: "DaemonSet",
  specMode: undefined,
  liveLabel: undefined,
  lastSeenLabel: undefined,
  bundleLabel: undefined,
};

describe("addon restore modes", () => {
  it("default to Reconcile for workloads, RBAC and Services and EnsureExists for ConfigMaps (the Corefile)", () => {
    for (const kind of [
      "DaemonSet",
      "Deployment",
      "ClusterRole",
      "ClusterRoleBinding",
      "ServiceAccount",
      "Service",
    ]) {
      expect(defaultMode(kind), kind).to.equal("Reconcile");
    }
    expect(defaultMode("ConfigMap")).to.equal("EnsureExists");
    expect(resolveMode({ ...base, kind: "ConfigMap" })).to.deep.equal({
      mode: "EnsureExists",
      source: "default",
    });
  });

  it("let spec.addons.<addon>.mode Disabled switch everything off, whatever the labels say", () => {
    expect(
      resolveMode({ ...base, specMode: "Disabled", liveLabel: "Reconcile", bundleLabel: "Reconcile" }),
    ).to.deep.equal({
      mode: "Disabled",
      source: "spec-disabled",
    });
  });

  it("let a label on the live object override the spec's mode for that object", () => {
    expect(resolveMode({ ...base, specMode: "Reconcile", liveLabel: "EnsureExists" }).mode).to.equal(
      "EnsureExists",
    );
    expect(resolveMode({ ...base, specMode: "EnsureExists", liveLabel: "Disabled" }).mode).to.equal(
      "Disabled",
    );
  });

  it("remember the label of a deleted object, so a Disabled object is not brought back", () => {
    expect(resolveMode({ ...base, lastSeenLabel: "Disabled" })).to.deep.equal({
      mode: "Disabled",
      source: "last-seen-label",
    });
  });

  it("apply the spec's mode over the bundle's label, and the bundle's label over the kind's default", () => {
    expect(resolveMode({ ...base, specMode: "EnsureExists", bundleLabel: "Reconcile" }).mode).to.equal(
      "EnsureExists",
    );
    expect(resolveMode({ ...base, kind: "ConfigMap", bundleLabel: "Reconcile" })).to.deep.equal({
      mode: "Reconcile",
      source: "bundle-label",
    });
  });

  it("ignore label values that are not modes (case matters, as in the addon-manager)", () => {
    expect(parseMode("disabled")).to.equal(undefined);
    expect(parseMode("Ignore")).to.equal(undefined);
    expect(resolveMode({ ...base, liveLabel: "disabled" })).to.deep.equal({
      mode: "Reconcile",
      source: "default",
    });
  });
});
