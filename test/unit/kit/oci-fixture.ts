// A one-layer OCI image archive as the kit's images/*.tar are (index.json annotated with the upstream reference), for the kit's tests.
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { create } from "tar";

const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/**
 * A one-layer OCI archive (index.json annotated with `reference`, as the kit's images/*.tar are): the
 * layer holds one file, so a pull can be checked byte for byte.
 */
export async function writeOciArchive(
  dir: string,
  file: string,
  reference: string,
  content: string,
): Promise<string> {
  const layout = join(dir, "layout");
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  const put = async (bytes: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = sha256(bytes);
    await writeFile(join(layout, "blobs", "sha256", digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const layerDir = join(dir, "layer");
  await mkdir(join(layerDir, "etc"), { recursive: true });
  await writeFile(join(layerDir, "etc", "kit-test"), content);
  const layerTar = join(dir, "layer.tar");
  await create({ file: layerTar, cwd: layerDir, portable: true, noMtime: true }, ["etc"]);
  const layerBytes = await readFile(layerTar);
  const layer = await put(layerBytes);
  const config = await put(
    Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Cmd: ["/bin/sh"] },
        rootfs: { type: "layers", diff_ids: [sha256(layerBytes)] },
      }),
    ),
  );
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
      }),
    ),
  );
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(layout, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: {
            "io.containerd.image.name": reference,
            "org.opencontainers.image.ref.name": reference,
          },
        },
      ],
    }),
  );
  await create({ file, cwd: layout, portable: true }, ["oci-layout", "index.json", "blobs"]);
  return manifest.digest;
}
