// The lab.yaml `bootstrap init` writes: it must parse back to exactly the defaults.
import { expect } from "chai";

import { parseLab } from "../../../bootstrap/lab/config.ts";
import { renderDefaultLabFile } from "../../../bootstrap/lab/labfile.ts";
import { labOf } from "../helpers.ts";

describe("lab/labfile", () => {
  it("the commented lab.yaml parses back to the defaults", () => {
    expect(parseLab(renderDefaultLabFile(), "lab.yaml")).to.deep.equal(labOf());
  });

  it("spells out every top-level setting, so users edit values instead of looking up names", () => {
    const text = renderDefaultLabFile();
    for (const key of [
      "name",
      "provider",
      "kubernetes",
      "vagrant",
      "controlPlane",
      "workers",
      "network",
      "calico",
      "containerd",
      "backup",
      "operator",
    ]) {
      expect(text, key).to.match(new RegExp(`^${key}:`, "m"));
    }
  });

  it("its commented-out examples are valid when uncommented", () => {
    const uncommented = renderDefaultLabFile()
      .replace("# boxVersion:", "boxVersion:")
      .replace(
        "  # nodes:                      # or name them one by one (cpus/memoryMiB optional):",
        "  nodes:",
      )
      .replace("  #   - name: w1-k8s", "    - name: w1-k8s")
      .replace("  #     ip: 192.168.56.101", "      ip: 192.168.56.101")
      .replace("  # manifest: ./calico.yaml", "  manifest: ./calico.yaml");
    const lab = parseLab(uncommented, "lab.yaml");
    expect(lab.vagrant.boxVersion).to.equal("202502.21.0");
    expect(lab.workers.map((w) => w.name)).to.deep.equal(["w1-k8s", "w2-k8s", "w3-k8s"]);
    expect(lab.calico.manifest).to.equal("./calico.yaml");
  });
});
