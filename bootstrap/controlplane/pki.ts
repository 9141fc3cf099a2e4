// Certificates for the control plane, made in-process with @peculiar/x509 (ECDSA P-256): no openssl needed.
import { randomBytes, webcrypto } from "node:crypto";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Back-dated so a clock a few minutes behind still accepts a fresh certificate. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface KeyPairPaths {
  readonly certPath: string;
  readonly keyPath: string;
}

export interface CertificateRequest {
  /** File name without extension: `<name>.crt` and `<name>.key`. */
  readonly name: string;
  readonly commonName: string;
  /** Subject O= values; Kubernetes reads them as groups (`system:masters`). */
  readonly organizations?: readonly string[];
  readonly server?: boolean;
  readonly client?: boolean;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly validityDays?: number;
}

/** A certificate authority whose key signs leaf certificates into its directory. */
export class CertificateAuthority {
  readonly certPath: string;
  readonly keyPath: string;
  readonly dir: string;
  #certificate: x509.X509Certificate;
  #key: CryptoKey;

  private constructor(dir: string, paths: KeyPairPaths, certificate: x509.X509Certificate, key: CryptoKey) {
    this.dir = dir;
    this.certPath = paths.certPath;
    this.keyPath = paths.keyPath;
    this.#certificate = certificate;
    this.#key = key;
  }

  /** Creates a self-signed CA (`<name>.crt`/`.key` in `dir`), valid ten years. */
  static async create(dir: string, name: string, commonName: string): Promise<CertificateAuthority> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const keys = await generateKeyPair();
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: distinguishedName(commonName, []),
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter: new Date(now + 3650 * DAY_MS),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const paths = await writeKeyPair(dir, name, certificate, keys.privateKey);
    return new CertificateAuthority(dir, paths, certificate, keys.privateKey);
  }

  /** Loads a CA written by `create` (a restarted sim lab issues nothing new, but may need to). */
  static async load(dir: string, name: string): Promise<CertificateAuthority> {
    const certPath = join(dir, `${name}.crt`);
    const keyPath = join(dir, `${name}.key`);
    const certificate = new x509.X509Certificate(await readFile(certPath, "utf8"));
    const der = x509.PemConverter.decodeFirst(await readFile(keyPath, "utf8"));
    const key = await webcrypto.subtle.importKey("pkcs8", der, ALGORITHM, true, ["sign"]);
    return new CertificateAuthority(dir, { certPath, keyPath }, certificate, key);
  }

  /** PEM of the CA certificate (for kubeconfigs and TLS clients). */
  get certificatePem(): string {
    return this.#certificate.toString("pem");
  }

  /** Issues a leaf certificate signed by this CA into `<dir>/<name>.crt` and `.key` (the CA's dir by default). */
  async issue(request: CertificateRequest, dir = this.dir): Promise<KeyPairPaths> {
    const keys = await generateKeyPair();
    const now = Date.now();
    const usages: string[] = [];
    if (request.server === true) usages.push(x509.ExtendedKeyUsage.serverAuth);
    if (request.client === true) usages.push(x509.ExtendedKeyUsage.clientAuth);
    const names: x509.JsonGeneralName[] = [
      ...(request.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(request.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ];
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(usages, false),
      await x509.AuthorityKeyIdentifierExtension.create(this.#certificate, false),
    ];
    if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: distinguishedName(request.commonName, request.organizations ?? []),
      issuer: this.#certificate.subject,
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter: new Date(now + (request.validityDays ?? 365) * DAY_MS),
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: this.#key,
      extensions,
    });
    return writeKeyPair(dir, request.name, certificate, keys.privateKey);
  }
}

/**
 * Writes a fresh key pair for signing service-account tokens: `<name>.key` (PKCS#8) and `<name>.pub`
 * (SPKI), the two files kube-apiserver and kube-controller-manager read.
 */
export async function createSigningKeyPair(
  dir: string,
  name: string,
): Promise<{ privateKeyPath: string; publicKeyPath: string }> {
  const keys = await generateKeyPair();
  const privateKeyPath = join(dir, `${name}.key`);
  const publicKeyPath = join(dir, `${name}.pub`);
  await writeFile(privateKeyPath, await privateKeyPem(keys.privateKey), { mode: 0o600 });
  const spki = await webcrypto.subtle.exportKey("spki", keys.publicKey);
  await writeFile(publicKeyPath, x509.PemConverter.encode(spki, "PUBLIC KEY"), { mode: 0o644 });
  return { privateKeyPath, publicKeyPath };
}

/** True when every path exists (a PKI directory written completely by an earlier run). */
export async function allExist(paths: readonly string[]): Promise<boolean> {
  try {
    await Promise.all(paths.map((path) => access(path)));
    return true;
  } catch {
    return false;
  }
}

async function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function writeKeyPair(
  dir: string,
  name: string,
  certificate: x509.X509Certificate,
  key: CryptoKey,
): Promise<KeyPairPaths> {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  await writeFile(keyPath, await privateKeyPem(key), { mode: 0o600 });
  await writeFile(certPath, certificate.toString("pem"), { mode: 0o644 });
  return { certPath, keyPath };
}

/** A positive 128-bit serial number in hex (RFC 5280 allows up to 20 octets). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}

/** A subject built from typed parts, so a common name can never inject an extra RDN. */
function distinguishedName(commonName: string, organizations: readonly string[]): x509.JsonName {
  return [{ CN: [commonName] }, ...organizations.map((organization) => ({ O: [organization] }))];
}
