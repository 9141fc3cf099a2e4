// Turning gRPC and TLS failures into errors that name the certificate or endpoint to fix.
import { expect } from "chai";

import {
  classifyTlsFailure,
  grpcTarget,
  translateGrpcError,
} from "../../../../operator/snapshot/etcd-client.ts";
import {
  EtcdCertificateFileError,
  EtcdRequestError,
  EtcdTlsError,
  EtcdUnavailableError,
} from "../../../../operator/snapshot/errors.ts";

const OPTIONS = {
  endpoint: "https://127.0.0.1:2379",
  caCertPath: "/pki/etcd/ca.crt",
  certPath: "/pki/etcd/client.crt",
  keyPath: "/pki/etcd/client.key",
};

// The texts grpc-js produced against a real etcd 3.6.8 (see the integration test for the live check).
const WRONG_CA =
  "No connection established. Last error: Error: unable to verify the first certificate; if the root CA is " +
  "installed locally, try running Node.js with --use-system-ca. Resolution note: ";
const REJECTED_CLIENT =
  "No connection established. Last error: 406DA316567F0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 " +
  "alert unknown ca:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number 48\n (2026-11-26T16:45:18.232Z). Resolution note: ";
const REFUSED =
  "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ";

function grpcError(code: number, details: string) {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: undefined });
}

describe("classifyTlsFailure", () => {
  it("blames our CA file when the server certificate does not verify", () => {
    expect(classifyTlsFailure(WRONG_CA)).to.equal("server");
    expect(classifyTlsFailure("Error: self-signed certificate in certificate chain")).to.equal("server");
    expect(classifyTlsFailure("Hostname/IP does not match certificate's altnames")).to.equal("server");
  });

  it("blames our client certificate when etcd sends a TLS alert", () => {
    expect(classifyTlsFailure(REJECTED_CLIENT)).to.equal("client");
    expect(classifyTlsFailure("ssl3_read_bytes:tlsv13 alert certificate required")).to.equal("client");
    expect(classifyTlsFailure("sslv3 alert bad certificate")).to.equal("client");
  });

  it("does not call a refused connection a TLS problem", () => {
    expect(classifyTlsFailure(REFUSED)).to.equal(undefined);
  });
});

describe("translateGrpcError", () => {
  it("names --cacert and the endpoint for an untrusted server certificate", () => {
    const error = translateGrpcError(OPTIONS, "Maintenance.Status", grpcError(14, WRONG_CA));
    expect(error).to.be.instanceOf(EtcdTlsError);
    expect(error.message).to.include("--cacert /pki/etcd/ca.crt");
    expect(error.message).to.include("https://127.0.0.1:2379");
    expect(error.message).to.include("unable to verify the first certificate");
    expect(error.message).to.not.include("Resolution note");
  });

  it("names --cert for a rejected client certificate, with OpenSSL's reason only", () => {
    const error = translateGrpcError(OPTIONS, "Maintenance.Status", grpcError(14, REJECTED_CLIENT));
    expect(error).to.be.instanceOf(EtcdTlsError);
    expect(error.message).to.include("--cert /pki/etcd/client.crt");
    expect(error.message).to.include("(tlsv1 alert unknown ca)");
  });

  it("says unavailable for a refused connection or a timeout", () => {
    expect(translateGrpcError(OPTIONS, "Maintenance.Status", grpcError(14, REFUSED))).to.be.instanceOf(
      EtcdUnavailableError,
    );
    const timeout = translateGrpcError(OPTIONS, "KV.Range", grpcError(4, "Deadline exceeded"));
    expect(timeout).to.be.instanceOf(EtcdUnavailableError);
    expect(timeout.message).to.include("KV.Range timed out");
  });

  it("keeps other statuses as request errors with the code name", () => {
    const error = translateGrpcError(
      OPTIONS,
      "KV.Range",
      grpcError(11, "etcdserver: mvcc: required revision has been compacted"),
    );
    expect(error).to.be.instanceOf(EtcdRequestError);
    expect((error as EtcdRequestError).code).to.equal("OUT_OF_RANGE");
  });

  it("passes through errors that are not gRPC statuses", () => {
    const plain = new Error("boom");
    expect(translateGrpcError(OPTIONS, "x", plain)).to.equal(plain);
  });
});

describe("grpcTarget", () => {
  it("takes host and port from an https URL, 2379 by default", () => {
    expect(grpcTarget("https://127.0.0.1:12379")).to.equal("127.0.0.1:12379");
    expect(grpcTarget("https://etcd.local")).to.equal("etcd.local:2379");
  });

  it("refuses plain http and non-URLs, naming --endpoint", () => {
    expect(() => grpcTarget("http://127.0.0.1:2379")).to.throw(
      EtcdCertificateFileError,
      /--endpoint .*https/,
    );
    expect(() => grpcTarget("127.0.0.1:2379")).to.throw(EtcdCertificateFileError, /--endpoint/);
  });
});
