// A small, real OCI image archive named like the operator's, for tests that load an image into nodes.
import { join } from "node:path";

import { writeImage } from "../../../bootstrap/image/image.ts";
import { writeLayer } from "../../../bootstrap/image/layer.ts";
import { writeOciArchive } from "../../../bootstrap/image/layout.ts";
import type { OperatorImage } from "../../../bootstrap/image/operator-image.ts";
import { BlobStore } from "../../../bootstrap/image/store.ts";

export const TEST_OPERATOR_REFERENCE = "docker.io/library/kubelab-operator:0.1.0";

/** Writes `dir/operator.tar` holding one layer whose file says `text`: another text, another digest. */
export async function operatorArchive(dir: string, text = "x"): Promise<OperatorImage> {
  const store = new BlobStore(join(dir, "store"));
  const layer = await writeLayer(store, [
    { type: "file", path: "hello", content: Buffer.from(text.repeat(100_000)) },
  ]);
  const descriptor = await writeImage(store, {
    platform: { os: "linux", architecture: "amd64" },
    layers: [{ layer, createdBy: "test" }],
    config: { Cmd: ["/hello"] },
  });
  const archivePath = join(dir, "operator.tar");
  await writeOciArchive(archivePath, store, [{ reference: TEST_OPERATOR_REFERENCE, descriptor }]);
  return { reference: TEST_OPERATOR_REFERENCE, descriptor, archivePath, layerBytes: layer.descriptor.size };
}
