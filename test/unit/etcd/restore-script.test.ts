// restore-etcd.sh: golden file, bash -n and shellcheck, the kubeadm procedure's order, and its result line.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import {
  parseRestoreResult,
  renderRestoreScript,
  restoreDataDir,
} from "../../../bootstrap/etcd/restore-script.ts";
import { expectGolden } from "../golden.ts";
import { labOf, tempDir } from "../helpers.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";

const OPTIONS = {
  snapshotPath: "/var/lib/kubelab/etcd-backups/etcd-20261126-230000-ab12.db",
  sha256: "ab".repeat(32),
  stamp: "20261126T233005Z",
};

describe("etcd/restore-script", () => {
  before(() => requireSystemTool("shellcheck"));

  const script = renderRestoreScript(labOf(), OPTIONS);

  it("matches the golden file", async () => {
    await expectGolden("restore", new Map([["restore-etcd.sh", script]]));
  });

  it("passes bash -n and shellcheck", async function () {
    this.timeout(30_000);
    const path = join(await tempDir(), "restore-etcd.sh");
    await writeFile(path, script);
    const syntax = await execa("bash", ["-n", path], { reject: false });
    expect(syntax.exitCode, syntax.stderr).to.equal(0);
    const lint = await execa("shellcheck", ["--severity=style", path], { reject: false });
    expect(lint.exitCode, `shellcheck:\n${lint.stdout}`).to.equal(0);
  });

  it("checks the snapshot (sha256, etcdutl status) before it stops anything, and restores only after the pods are gone", () => {
    const order = [
      'sha256sum "$SNAPSHOT"',
      "etcdutl snapshot status",
      'mv "$MANIFESTS/$pod.yaml" "$STASH/$pod.yaml"',
      "crictl ps --quiet",
      "etcdutl snapshot restore",
      'mv "$STAGING/data" "$NEW_DATA_DIR"',
      "sed -i -E",
      'mv "$STASH/$pod.yaml" "$MANIFESTS/$pod.yaml"',
      "wait_for_api_server\nresult",
    ].map((needle) => script.indexOf(needle));
    expect(
      order.every((index) => index >= 0),
      JSON.stringify(order),
    ).to.equal(true);
    expect([...order].sort((a, b) => a - b)).to.deep.equal(order);
  });

  it("restores into a new, dated data dir with the member from etcd.yaml, bumping the revision, and never removes the old one", () => {
    expect(script).to.contain(`NEW_DATA_DIR='${restoreDataDir(OPTIONS.stamp)}'`);
    expect(restoreDataDir(OPTIONS.stamp)).to.equal("/var/lib/etcd-restore-20261126T233005Z");
    expect(script).to.contain('--name="$MEMBER_NAME"');
    expect(script).to.contain('--initial-advertise-peer-urls="$PEER_URLS"');
    expect(script).to.contain("--bump-revision=1000000000");
    expect(script).to.contain("--mark-compacted");
    expect(script).not.to.match(/rm -rf "\$(CURRENT_DATA_DIR|PREVIOUS_DATA_DIR|NEW_DATA_DIR)"/);
  });

  it("runs etcdutl from the etcd image etcd.yaml names, with the snapshot dir read-only", () => {
    expect(script).to.contain("ctr --namespace k8s.io run --rm");
    expect(script).to.contain('"$ETCD_IMAGE" "kubelab-etcdutl-$$" etcdutl "$@"');
    expect(script).to.contain("dst=/snapshots,options=rbind:ro");
  });

  it("quotes the snapshot path as one word", () => {
    const odd = renderRestoreScript(labOf(), { ...OPTIONS, snapshotPath: "/backups/it's here.db" });
    expect(odd).to.contain(`SNAPSHOT='/backups/it'\\''s here.db'`);
  });

  it("parseRestoreResult reads the last result line, and nothing from output without one", () => {
    expect(
      parseRestoreResult(
        "==> restoring\nkubelab-restore-result: data-dir=/var/lib/etcd-restore-1 previous-data-dir=/var/lib/etcd\n",
      ),
    ).to.deep.equal({ dataDir: "/var/lib/etcd-restore-1", previousDataDir: "/var/lib/etcd" });
    expect(parseRestoreResult("==> fake: restore-etcd.sh done\n")).to.equal(undefined);
  });
});
